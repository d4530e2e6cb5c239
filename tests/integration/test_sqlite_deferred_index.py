"""The SQLite store indexes statements after storing them: queries must not tell the difference.

Statements are stored first and indexed in bulk later (on a long enough tail or when ingest
pauses); until then queries read the unindexed tail directly. These tests put the boundary in
the middle of what a query reads and page across it.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lrs.adapters.sqlite import SQLiteStore
from lrs.adapters.sqlite.base import unpack_terms
from lrs.domain.records import StatementQuery
from lrs.ops.retention import retire
from lrs.xapi.agent_keys import agent_key
from lrs.xapi.errors import Conflict

AUTHORITY = {"objectType": "Agent", "account": {"homePage": "http://lrs.test", "name": "k1"}}
VERB = "http://adlnet.gov/expapi/verbs/"


def make(n: int, learner: str, verb: str) -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=n + 1)),
        "actor": {"mbox": f"mailto:{learner}@example.org"},
        "verb": {"id": VERB + verb},
        "object": {"id": f"http://example.org/act/{n % 3}"},
    }


def save(store: SQLiteStore, *statements: dict[str, Any]) -> None:
    store.save_statements(
        list(statements), authority=AUTHORITY, credential="k1", version="1.0.3", attachments=[]
    )


def page_through(store: SQLiteStore, ascending: bool, **filters: Any) -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        page = store.query_statements(
            StatementQuery(limit=4, ascending=ascending, cursor=cursor, **filters)
        )
        found += [orjson.loads(s)["id"] for s in page.statements]
        if page.cursor is None:
            return found
        cursor = page.cursor


def indexed_through(store: SQLiteStore) -> int:
    return store._reader().execute("SELECT through FROM index_progress").fetchone()[0]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "lrs.db", synchronous="OFF")
    yield store
    store.close()


@pytest.mark.parametrize("ascending", [True, False])
def test_paging_across_the_indexed_and_the_unindexed_part(
    store: SQLiteStore, ascending: bool
) -> None:
    statements = [
        make(n, "ann" if n % 2 else "bob", "completed" if n % 4 < 2 else "failed")
        for n in range(40)
    ]
    save(store, *statements[:23])
    store.index_now()
    assert indexed_through(store) == 23
    save(store, *statements[23:])
    assert indexed_through(store) == 23  # the rest is the tail (until ingest pauses)

    mailto = {"mbox": "mailto:ann@example.org"}
    ann_completed = [
        s["id"]
        for s in statements
        if s["actor"]["mbox"] == mailto["mbox"] and s["verb"]["id"].endswith("completed")
    ]
    order = (lambda ids: ids) if ascending else (lambda ids: ids[::-1])
    key = agent_key(mailto)
    assert page_through(store, ascending, agent=key, verb=VERB + "completed") == order(
        ann_completed
    )
    everything = [s["id"] for s in statements]
    assert page_through(store, ascending) == order(everything)
    by_activity = [s["id"] for s in statements if s["object"]["id"].endswith("/1")]
    assert page_through(store, ascending, activity="http://example.org/act/1") == order(by_activity)


def test_the_tail_is_indexed_when_ingest_pauses(store: SQLiteStore) -> None:
    save(store, *[make(n, "ann", "completed") for n in range(5)])
    deadline = time.monotonic() + 10
    while indexed_through(store) < 5:
        assert time.monotonic() < deadline, "the idle indexer never indexed the tail"
        time.sleep(0.1)
    index_rows = store._reader().execute("SELECT count(*) FROM statement_index").fetchone()[0]
    assert index_rows >= 5 * 4  # agent, related agent, verb, activity, ... for each


def test_a_reference_arriving_after_its_referrer_was_indexed(store: SQLiteStore) -> None:
    target = make(1, "ann", "experienced")
    referrer = {
        **make(2, "bob", "liked"),
        "object": {"objectType": "StatementRef", "id": target["id"]},
    }
    save(store, referrer)
    store.index_now()
    save(store, target)  # the referrer, already indexed, now matches the target's verb too
    found = page_through(store, False, verb=VERB + "experienced")
    assert found == [target["id"], referrer["id"]]
    store.index_now()
    assert page_through(store, False, verb=VERB + "experienced") == found


def test_reopening_keeps_the_progress_mark(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "lrs.db", synchronous="OFF")
    save(store, *[make(n, "ann", "completed") for n in range(3)])
    store.index_now()
    save(store, make(3, "ann", "completed"))
    store.close()
    reopened = SQLiteStore(tmp_path / "lrs.db", synchronous="OFF")
    try:
        assert indexed_through(reopened) == 3
        assert len(page_through(reopened, True, verb=VERB + "completed")) == 4
    finally:
        reopened.close()


def test_two_stores_on_one_file_never_move_the_mark_back(tmp_path: Path) -> None:
    """The processors' child and `lrs connect` open the same file as `lrs serve`."""
    first = SQLiteStore(tmp_path / "lrs.db", synchronous="OFF")
    second = SQLiteStore(tmp_path / "lrs.db", synchronous="OFF")
    try:
        save(first, *[make(n, "ann", "completed") for n in range(6)])
        first.index_now()
        assert indexed_through(first) == 6
        second._last_seq = 6  # it knows the statements exist, but not that they are indexed
        second.index_now()
        assert indexed_through(second) == 6
        assert len(page_through(second, True, verb=VERB + "completed")) == 6
    finally:
        second.close()
        first.close()


def _as_before_the_integer_encoding(path: Path, indexed: int) -> None:
    """Rewrite a closed store as the previous version left it: every row's terms as
    [kind, term] pairs, and only the first `indexed` statements indexed."""
    conn = sqlite3.connect(path, isolation_level=None)
    rows = conn.execute("SELECT seq, terms FROM statements").fetchall()
    for seq, terms in rows:
        pairs = sorted([kind, term] for kind, term in unpack_terms(terms))
        conn.execute("UPDATE statements SET terms = ? WHERE seq = ?", (orjson.dumps(pairs), seq))
    conn.execute("DELETE FROM statement_index WHERE seq > ?", (indexed,))
    conn.execute("UPDATE index_progress SET through = ?", (indexed,))
    conn.close()


def _old_format_directory(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    path = tmp_path / "lrs.db"
    statements = [make(n, "ann" if n % 2 else "bob", "completed") for n in range(20)]
    store = SQLiteStore(path, synchronous="OFF")
    save(store, *statements[:10])
    store.index_now()
    save(store, *statements[10:])
    store.close()
    _as_before_the_integer_encoding(path, indexed=10)
    return path, statements


def test_a_directory_with_old_term_lists_is_read_and_indexed(tmp_path: Path) -> None:
    path, statements = _old_format_directory(tmp_path)
    store = SQLiteStore(path, synchronous="OFF")
    try:
        ann = [s["id"] for s in statements if "ann" in s["actor"]["mbox"]]
        key = agent_key({"mbox": "mailto:ann@example.org"})
        # Old rows indexed, an old unindexed tail, and new rows packed as integers behind it.
        later = [make(n, "ann", "completed") for n in range(20, 25)]
        save(store, *later)
        assert indexed_through(store) == 10
        expected = ann + [s["id"] for s in later]
        assert page_through(store, True, agent=key, verb=VERB + "completed") == expected
        assert page_through(store, False, agent=key, verb=VERB + "completed") == expected[::-1]
        store.index_now()  # both encodings in one indexed range
        assert indexed_through(store) == 25
        terms = store._reader().execute("SELECT terms FROM statements ORDER BY seq").fetchall()
        assert terms[0][0].startswith(b"[[") and terms[-1][0][:2] != b"[["
        bad = "SELECT count(*) FROM statement_index WHERE kind NOT BETWEEN 1 AND 6 OR term < 1"
        assert store._reader().execute(bad).fetchone()[0] == 0
        assert page_through(store, True, agent=key, verb=VERB + "completed") == expected
        assert page_through(store, True, activity="http://example.org/act/2") == [
            s["id"] for s in statements + later if s["object"]["id"].endswith("/2")
        ]
        # Links read an old row's terms: a reference to it inherits them, a voiding voids it.
        referrer = {
            **make(30, "cid", "liked"),
            "object": {"objectType": "StatementRef", "id": statements[3]["id"]},
        }
        save(store, referrer)
        liked = page_through(store, True, agent=key, verb=VERB + "completed")
        assert liked == [*expected, referrer["id"]]
        voiding = {
            **make(31, "cid", "voided"),
            "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
            "object": {"objectType": "StatementRef", "id": statements[5]["id"]},
        }
        save(store, voiding)
        left = page_through(store, True, agent=key, verb=VERB + "completed")
        assert statements[5]["id"] not in left and statements[3]["id"] in left
        # A re-sent old statement is not stored again; the same id with other content is refused.
        save(store, statements[7])
        count = store._reader().execute("SELECT count(*) FROM statements").fetchone()[0]
        assert count == 20 + 5 + 2
        with pytest.raises(Conflict):
            save(store, {**statements[7], "verb": {"id": VERB + "failed"}})
    finally:
        store.close()


def test_a_read_only_store_finds_an_old_unindexed_tail(tmp_path: Path) -> None:
    path, statements = _old_format_directory(tmp_path)
    store = SQLiteStore(path, read_only=True)
    try:
        assert indexed_through(store) == 10
        bob = [s["id"] for s in statements if "bob" in s["actor"]["mbox"]]
        key = agent_key({"mbox": "mailto:bob@example.org"})
        assert page_through(store, True, agent=key, verb=VERB + "completed") == bob
    finally:
        store.close()


def test_retiring_keeps_the_name_of_an_agent_still_named_in_the_unindexed_tail(
    store: SQLiteStore,
) -> None:
    gone, kept = make(1, "ann", "completed"), make(2, "ann", "failed")
    named = {"mbox": "mailto:ann@example.org", "name": "Ann"}
    gone["actor"], kept["actor"] = named, named
    save(store, gone, kept)
    assert indexed_through(store) == 0  # both in the tail: found by their packed terms
    key = agent_key(named)
    assert store.get_agent_names(key) == ["Ann"]
    retire(store, [], [(gone, None)])
    assert store.get_agent_names(key) == ["Ann"]
    retire(store, [], [(kept, None)])
    assert store.get_agent_names(key) == []
