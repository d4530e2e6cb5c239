"""A data directory made before the statements table was AUTOINCREMENT is upgraded when it
opens, so a log position is never handed out twice, even for statements erased before."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from consumers.reducers.profiles import NAME as PROFILES
from consumers.reducers.profiles import REDUCER
from consumers.runtime.local import catch_up
from lrs.adapters.sqlite import SQLiteStore
from lrs.ops.erasure import erase_keys
from lrs.ops.stored_counts import statements_stored
from lrs.xapi.agent_keys import agent_key
from lrs.xapi.redaction import erasure_keys

AUTHORITY = {"objectType": "Agent", "account": {"homePage": "http://lrs.test", "name": "k1"}}


def statement(learner: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": f"mailto:{learner}@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "http://example.org/act/1"},
    }


def key(learner: str) -> str:
    found = agent_key({"mbox": f"mailto:{learner}@example.org"})
    assert found is not None
    return found


def save(store: SQLiteStore, *statements: dict[str, Any]) -> None:
    store.save_statements(
        list(statements), authority=AUTHORITY, credential="k1", version="1.0.3", attachments=[]
    )


def as_before_the_upgrade(path: Path) -> None:
    """Rebuild the statements table as releases before AUTOINCREMENT made it (by hand, with
    the old definition: `seq INTEGER PRIMARY KEY`), keeping its rows and indexes."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        (ddl,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'statements'"
        ).fetchone()
        indexes = [
            sql
            for (sql,) in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'statements'"
                " AND sql IS NOT NULL"
            )
        ]
        old = ddl.replace(" AUTOINCREMENT", "").replace("TABLE statements", "TABLE old", 1)
        assert "seq INTEGER PRIMARY KEY," in old
        conn.execute(old)
        conn.execute("INSERT INTO old SELECT * FROM statements")
        conn.execute("DROP TABLE statements")
        conn.execute("ALTER TABLE old RENAME TO statements")
        for sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        (ddl,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'statements'"
        ).fetchone()
        assert "AUTOINCREMENT" not in ddl.upper()
    finally:
        conn.close()


def test_an_old_store_whose_newest_statement_was_erased_never_reuses_its_position(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lrs.db"
    store = SQLiteStore(path)
    try:
        first, erased = statement("a"), statement("b")
        save(store, first)
        save(store, erased)
        catch_up(store, [REDUCER])
        store.mark_published(store.unpublished(10))
        assert statements_stored(store, lambda k: k) == {"k1": 2}
        [old_max] = [r.offset for r in store.read_log(1, 10)]
        erase_keys(store, erasure_keys([key("b")]), [REDUCER])
        assert [r.offset for r in store.read_log(0, 10)] == [old_max - 1]
    finally:
        store.close()
    as_before_the_upgrade(path)

    store = SQLiteStore(path)  # the upgrade
    try:
        late = statement("c")
        save(store, late)
        [kept, new] = store.read_log(0, 10)
        assert new.offset > old_max
        assert store.get_statement(first["id"], voided=False) is not None  # rows kept
        catch_up(store, [REDUCER])
        assert store.get_state(PROFILES, key("c")) is not None
        assert [r.offset for r in store.unpublished(10)] == [new.offset]
        assert statements_stored(store, lambda k: k) == {"k1": 3}
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        names = {
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'statements'")
        }
    finally:
        conn.close()
    assert {"statements", "statements_stored", "statements_ref"} <= names


def test_a_long_upgrade_says_so_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lrs.adapters.sqlite import log_positions

    path = tmp_path / "lrs.db"
    store = SQLiteStore(path)
    save(store, statement("a"), statement("b"))
    store.close()
    as_before_the_upgrade(path)
    monkeypatch.setattr(log_positions, "ANNOUNCE_POSITIONS", 2)
    SQLiteStore(path).close()
    err = capsys.readouterr().err
    assert "upgrading the statements table (2 log positions)" in err and "upgraded (" in err
    SQLiteStore(path).close()  # once: already upgraded
    assert capsys.readouterr().err == ""


def test_an_upgrade_that_fails_leaves_the_old_table_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "lrs.db"
    store = SQLiteStore(path)
    kept = statement("a")
    save(store, kept)
    store.close()
    as_before_the_upgrade(path)
    projections = tmp_path / "lrs-projections.db"
    projections.unlink()
    projections.mkdir()  # the offsets cannot be read: the upgrade fails at its last step
    with pytest.raises(sqlite3.OperationalError):
        SQLiteStore(path)
    conn = sqlite3.connect(path)
    try:
        (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'statements'").fetchone()
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert conn.execute("SELECT count(*) FROM statements").fetchone()[0] == 1
    finally:
        conn.close()
    assert "AUTOINCREMENT" not in ddl.upper() and "statements_upgrade" not in names
    projections.rmdir()
    store = SQLiteStore(path)  # and the next open upgrades it
    try:
        assert store.get_statement(kept["id"], voided=False) is not None
    finally:
        store.close()
