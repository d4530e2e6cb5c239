"""Requests that share one SQLite transaction (group commit) are still decided one by one.

The writer resolves the term ids and writes the agent names of a whole group at once; these
tests put requests that must end differently into one group and check that each ends as it
would alone: stored, answered as a resend, or refused with nothing of it written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lrs.adapters.sqlite import SQLiteStore
from lrs.adapters.sqlite.base import PendingWrite
from lrs.domain.records import StatementQuery
from lrs.xapi.agent_keys import agent_key
from lrs.xapi.errors import Conflict


def authority(name: str) -> dict[str, Any]:
    return {"objectType": "Agent", "account": {"homePage": "http://lrs.test", "name": name}}


def statement(learner: str, verb: str = "completed") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": f"mailto:{learner}@example.org", "name": learner.title()},
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}"},
        "object": {"id": "http://example.org/act/1"},
    }


def pending(credential: str, *statements: dict[str, Any]) -> PendingWrite:
    return PendingWrite(list(statements), authority(credential), credential, "1.0.3", [])


def commit_as_one_group(store: SQLiteStore, *writes: PendingWrite) -> None:
    with store._write_lock:
        store._commit_group(list(writes))


def ids_for(store: SQLiteStore, **filters: Any) -> list[str]:
    page = store.query_statements(StatementQuery(ascending=True, **filters))
    return [orjson.loads(s)["id"] for s in page.statements]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "lrs.db", synchronous="OFF")
    yield store
    store.close()


def test_each_request_of_a_group_ends_as_it_would_alone(store: SQLiteStore) -> None:
    earlier = statement("eve")
    store.save_statements(
        [earlier], authority=authority("k0"), credential="k0", version="1.0.3", attachments=[]
    )
    first = statement("ann")
    stored = pending("k1", first)
    resent = pending("k2", first)  # the same statement from another credential: a resend
    conflicting = pending("k3", {**earlier, "verb": {"id": "http://example.org/other"}},
                          statement("cid"))  # fmt: skip
    repeated = statement("dan")
    in_batch_conflict = pending("k4", repeated, {**repeated, "verb": {"id": "http://x.org/v"}})
    commit_as_one_group(store, stored, resent, conflicting, in_batch_conflict)

    assert stored.error is None and stored.ids == [first["id"]]
    assert resent.error is None and resent.ids == [first["id"]]
    assert isinstance(conflicting.error, Conflict)
    assert isinstance(in_batch_conflict.error, Conflict)
    count = store._reader().execute("SELECT count(*) FROM statements").fetchone()[0]
    assert count == 2  # earlier and first; nothing of the refused requests
    # The stored row carries its own request's authority, not the resend's.
    k1 = agent_key(authority("k1"))
    k2 = agent_key(authority("k2"))
    assert ids_for(store, agent=k1, related_agents=True) == [first["id"]]
    assert ids_for(store, agent=k2, related_agents=True) == []
    # Names: those of stored statements only.
    assert store.get_agent_names(agent_key(first["actor"]) or "") == ["Ann"]
    assert store.get_agent_names(agent_key({"mbox": "mailto:cid@example.org"}) or "") == []
    assert store.get_agent_names(agent_key({"mbox": "mailto:dan@example.org"}) or "") == []


def test_a_name_learnt_in_a_group_is_written_once_and_kept_after_a_refusal(
    store: SQLiteStore,
) -> None:
    a, b = statement("ann"), statement("ann", "failed")
    clash = statement("bob")
    commit_as_one_group(store, pending("k1", a), pending("k1", b), pending("k1", clash))
    bad = pending("k1", statement("ann", "passed"), {**clash, "verb": {"id": "http://x.org/v"}})
    commit_as_one_group(store, bad, pending("k1", statement("ann", "attempted")))
    assert isinstance(bad.error, Conflict)
    assert store.get_agent_names(agent_key(a["actor"]) or "") == ["Ann"]
    assert len(ids_for(store, agent=agent_key(a["actor"]))) == 3
