"""The projections port's reads: contributions by learner keys, on every adapter."""

from __future__ import annotations

import uuid

from consumers.reducers.base import changes_for
from consumers.reducers.profiles import REDUCER
from lrs.ports import Store
from tests.contract.helpers import VOIDED, key, statement


def test_contributions_by_keys_skip_retracted_ones(store: Store) -> None:
    a, b, c = statement("a"), statement("b"), statement("c")
    voiding = {
        "id": str(uuid.uuid4()),
        "actor": a["actor"],
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": a["id"]},
    }
    store.apply_changes(REDUCER, changes_for(REDUCER, [a, b, c, voiding]))
    found = store.get_contributions(REDUCER.name, [key("a"), key("b")])
    assert [x.statement_id for x in found] == [b["id"]]
    assert store.get_contributions(REDUCER.name, []) == []


def test_contributions_come_back_in_the_order_they_were_recorded(store: Store) -> None:
    """Across batches and across keys: the recorded order (SQLite's `n`, MongoDB's `n`
    from a counter, never the order of ObjectIds), voided ones left out in place."""
    batches = [
        [statement("b"), statement("a")],
        [statement("a")],
        [statement("b"), statement("a"), statement("b")],
    ]
    recorded = [s["id"] for batch in batches for s in batch]
    for batch in batches:
        store.apply_changes(REDUCER, changes_for(REDUCER, batch))
    again = changes_for(REDUCER, batches[0])  # redelivered: recorded already, keeps its place
    store.apply_changes(REDUCER, again)
    found = store.get_contributions(REDUCER.name, [key("a"), key("b")])
    assert list(dict.fromkeys(x.statement_id for x in found)) == recorded
    only_b = store.get_contributions(REDUCER.name, [key("b")])
    expected_b = [s["id"] for batch in batches for s in batch if s["actor"]["name"] == "B"]
    assert list(dict.fromkeys(x.statement_id for x in only_b)) == expected_b
    target = batches[1][0]
    voiding = {
        "id": str(uuid.uuid4()),
        "actor": target["actor"],
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": target["id"]},
    }
    store.apply_changes(REDUCER, changes_for(REDUCER, [voiding]))
    found = store.get_contributions(REDUCER.name, [key("a"), key("b")])
    assert list(dict.fromkeys(x.statement_id for x in found)) == [
        sid for sid in recorded if sid != target["id"]
    ]
