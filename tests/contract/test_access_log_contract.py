"""The access log contract: a hash chain every adapter appends to and reads the same way,
and in which `lrs.ops.audit.verify` finds each kind of tampering done to the stored log."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson
import pytest
from bson import Binary

from lrs.adapters.mongodb import MongoStore
from lrs.adapters.sqlite import SQLiteStore
from lrs.domain.records import AccessEntry, AccessHead, AccessQuery
from lrs.ops.access_log import seal_access
from lrs.ops.audit import find_problem, verify
from lrs.ports import Store


def record(
    n: int, credential: str = "k1", learner: str | None = "hmac:aa", org: str = "o1"
) -> dict[str, Any]:
    return {
        "at": f"2026-01-01T00:00:{n:02d}.000Z",
        "action": "read",
        "credential": credential,
        "name": "auditor",
        "role": "auditor",
        "org": org,
        "what": "learner/profile",
        "learner": learner,
        "query": {"n": n},
        "count": n,
    }


def fill(store: Store, n: int = 6) -> list[AccessEntry]:
    return [store.append_access(record(i + 1)) for i in range(n)]


def test_appends_form_a_chain_from_genesis(store: Store) -> None:
    assert store.access_head() is None
    written = fill(store, 3)
    assert [e.seq for e in written] == [1, 2, 3]
    assert written[0].prev == "0" * 64
    assert [e.prev for e in written[1:]] == [e.hash for e in written[:-1]]
    assert store.read_access(AccessQuery()) == written
    assert store.access_head() == AccessHead(3, written[-1].hash)
    assert verify(store) == (3, None)


def test_read_filters_and_pages(store: Store) -> None:
    store.append_access(record(1, credential="k1", learner="hmac:a", org="o1"))
    store.append_access(record(2, credential="k2", learner="hmac:b", org="o2"))
    store.append_access(record(3, credential="k1", learner="hmac:b", org="o1"))
    store.append_access(record(4, credential="k2", learner=None, org="o2"))

    def seqs(**filters: Any) -> list[int]:
        return [e.seq for e in store.read_access(AccessQuery(**filters))]

    assert seqs(credential="k1") == [1, 3]
    assert seqs(learner="hmac:b") == [2, 3]
    assert seqs(orgs=("o2",)) == [2, 4]
    assert seqs(since="2026-01-01T00:00:02.000Z") == [3, 4]
    assert seqs(until="2026-01-01T00:00:02.000Z") == [1, 2]
    assert seqs(after=1, limit=2) == [2, 3]
    assert store.read_access(AccessQuery(credential="k1"))[0].query == {"n": 1}


def test_concurrent_appends_never_fork_the_chain(store: Store) -> None:
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            for i in range(8):
                store.append_access(record(i, credential=f"k{worker}"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    checked, problem = verify(store)
    assert (checked, problem) == (32, None)


# tampering, done to the stored log the way someone with database access would ----------------
def _sqlite_rows(store: SQLiteStore) -> sqlite3.Connection:
    return sqlite3.connect(store.audit_path, isolation_level=None)


def change(store: Store, seq: int) -> None:
    if isinstance(store, SQLiteStore):
        _sqlite_rows(store).execute("UPDATE access_log SET count = 999 WHERE seq = ?", (seq,))
    else:
        assert isinstance(store, MongoStore)
        store._access_log.update_one({"seq": seq}, {"$set": {"count": 999}})


def remove(store: Store, seq: int) -> None:
    if isinstance(store, SQLiteStore):
        _sqlite_rows(store).execute("DELETE FROM access_log WHERE seq = ?", (seq,))
    else:
        assert isinstance(store, MongoStore)
        store._access_log.delete_one({"seq": seq})


def set_seq(store: Store, old: int, new: int) -> None:
    if isinstance(store, SQLiteStore):
        _sqlite_rows(store).execute("UPDATE access_log SET seq = ? WHERE seq = ?", (new, old))
    else:
        assert isinstance(store, MongoStore)
        store._access_log.update_one({"seq": old}, {"$set": {"seq": new}})


def put_entry(store: Store, entry: AccessEntry) -> None:
    if isinstance(store, SQLiteStore):
        from lrs.adapters.sqlite.access_log import ACCESS_COLUMNS as _ACCESS_COLUMNS
        from lrs.adapters.sqlite.access_log import access_row as _access_row

        _sqlite_rows(store).execute(
            f"INSERT INTO access_log({_ACCESS_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            _access_row(entry),
        )
    else:
        assert isinstance(store, MongoStore)
        store._access_log.insert_one(
            {**entry.body(), "query": Binary(orjson.dumps(entry.query)), "hash": entry.hash}
        )


def reorder(store: Store) -> None:
    set_seq(store, 3, 100)
    set_seq(store, 4, 3)
    set_seq(store, 100, 4)


def insert_forged(store: Store) -> None:
    """A well-formed forgery: later entries renumbered to make room, the new entry sealed
    after entry 2 exactly as the LRS would have sealed it."""
    for seq in (6, 5, 4, 3):
        set_seq(store, seq, seq + 1)
    second = store.read_access(AccessQuery(after=1, limit=1))[0]
    put_entry(store, seal_access(record(42, credential="forger"), 3, second.hash))


def append_forged(store: Store) -> None:
    last = store.read_access(AccessQuery(after=5, limit=1))[0]
    put_entry(store, seal_access(record(42, credential="forger"), 7, last.hash))


def truncate(store: Store) -> None:
    remove(store, 6)
    remove(store, 5)


TAMPERING: dict[str, tuple[Callable[[Store], None], str, int]] = {
    "changed": (lambda s: change(s, 3), "changed", 3),
    "removed": (lambda s: remove(s, 3), "removed", 3),
    "inserted": (insert_forged, "inserted", 3),
    "appended": (append_forged, "inserted", 7),
    "reordered": (reorder, "reordered", 3),
    "truncated": (truncate, "removed", 5),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERING))
def test_verify_names_the_first_tampered_entry(store: Store, tampering: str) -> None:
    fill(store, 6)
    assert verify(store)[1] is None
    tamper, kind, seq = TAMPERING[tampering]
    tamper(store)
    _, problem = verify(store)
    assert problem is not None, tampering
    assert (problem.kind, problem.seq) == (kind, seq), problem.message


def test_an_anchor_catches_a_log_rewritten_with_its_head(store: Store) -> None:
    written = fill(store, 4)
    anchor = AccessHead(3, written[2].hash)
    # rewrite the whole log consistently (every entry resealed, head moved): only the
    # anchor noted elsewhere tells
    forged: list[AccessEntry] = []
    prev = "0" * 64
    for entry in written:
        sealed = seal_access({**entry.body(), "count": 0}, entry.seq, prev)
        forged.append(sealed)
        prev = sealed.hash
    assert find_problem(forged, AccessHead(4, forged[-1].hash)) is None
    problem = find_problem(forged, AccessHead(4, forged[-1].hash), anchor)
    assert problem is not None and problem.kind == "changed"
    assert find_problem(written, store.access_head(), anchor) is None
    assert find_problem(written[:2], AccessHead(2, written[1].hash), anchor) is not None
    assert replace(written[0], count=5) != written[0]


def _another_instance(store: Store) -> Store:
    """A second store object on the same database: what a second API process has."""
    if isinstance(store, SQLiteStore):
        return type(store)(store.path, synchronous="OFF")
    assert isinstance(store, MongoStore)
    host, port = store._client.address
    return MongoStore(f"mongodb://{host}:{port}/{store._db.name}")


def test_two_store_instances_appending_at_once_keep_one_chain(store: Store) -> None:
    """Appends serialise in the database, not only in the process: two instances (two
    processes of a deployment) interleave on one chain."""
    other = _another_instance(store)
    errors: list[BaseException] = []

    def append(target: Store, name: str) -> None:
        try:
            for i in range(10):
                target.append_access(record(i, credential=name))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        threads = [
            threading.Thread(target=append, args=(target, name))
            for target, name in ((store, "one"), (other, "two"), (store, "three"), (other, "four"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.close()
    assert errors == []
    assert verify(store) == (40, None)
    assert {e.credential for e in store.read_access(AccessQuery(limit=100))} == {
        "one", "two", "three", "four",
    }  # fmt: skip
