"""The definitions port: frameworks and rules by kind and id, on every adapter."""

from __future__ import annotations

from lrs.ports import Store


def test_definitions_round_trip_and_list_by_kind(store: Store) -> None:
    store.put_definition("framework", "https://f/b", {"id": "https://f/b", "v": 1})
    store.put_definition("framework", "https://f/a", {"id": "https://f/a"})
    store.put_definition("alignment", "rules-1", {"id": "rules-1"})
    store.put_definition("framework", "https://f/b", {"id": "https://f/b", "v": 2})
    assert store.get_definition("framework", "https://f/b") == {"id": "https://f/b", "v": 2}
    assert [d["id"] for d in store.list_definitions("framework")] == ["https://f/a", "https://f/b"]
    assert store.list_definitions("alignment") == [{"id": "rules-1"}]
    assert store.delete_definition("framework", "https://f/a") is True
    assert store.delete_definition("framework", "https://f/a") is False
    assert store.get_definition("framework", "https://f/a") is None
