"""Erasure contract: every adapter removes or pseudonymises a person the same way, and a
replay of the log afterwards brings nothing back."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson

from consumers.reducers.base import changes_for
from consumers.reducers.profiles import NAME as PROFILES
from consumers.reducers.profiles import REDUCER
from consumers.runtime.local import catch_up, rebuild
from lrs.domain.documents import Preconditions
from lrs.domain.records import Attachment, DocumentKind, StatementQuery
from lrs.ops.erasure import erase_keys
from lrs.ops.stored_counts import statements_stored
from lrs.ports import Store
from lrs.xapi.redaction import ERASED_AGENT, ERASED_KEY, erasure_keys
from tests.contract.helpers import AUTHORITY, VOIDED, key, save, statement

ERASED = "mailto:e@example.org"
SHA1 = hashlib.sha1(ERASED.encode()).hexdigest()
ACCOUNT = "account:https://lms.example.org|e-42"
ONLY_E = hashlib.sha256(b"e's essay").hexdigest()
SHARED = hashlib.sha256(b"the class handout").hexdigest()


def _attachment(sha2: str) -> dict[str, Any]:
    return {
        "usageType": "http://example.org/usage/file",
        "display": {"en-US": "file"},
        "contentType": "text/plain",
        "length": 9,
        "sha2": sha2,
    }


def _save(store: Store, statements: list[dict[str, Any]], attachments: list[Attachment]) -> None:
    store.save_statements(
        statements, authority=AUTHORITY, credential="k1", version="1.0.3", attachments=attachments
    )


def populate(store: Store) -> dict[str, dict[str, Any]]:
    e = {"mbox": ERASED, "name": "Erin Erased"}
    s = {
        "e1": statement("e", attachments=[_attachment(ONLY_E)]),
        "e2": statement("e", "passed", attachments=[_attachment(SHARED)]),
        "e_account": {**statement("x"), "actor": {"account": {"homePage": "https://lms.example.org", "name": "e-42"}}},
        "e_sha1": {**statement("x"), "actor": {"mbox_sha1sum": SHA1}},
        "e_first_in_group": {
            **statement("x"),
            "actor": {"objectType": "Group", "member": [e, {"mbox": "mailto:b@example.org"}]},
        },
        "b_instructed": statement(
            "b",
            context={
                "instructor": e,
                "team": {"objectType": "Group", "mbox": ERASED, "member": [{"mbox": "mailto:b@example.org"}]},
            },
            attachments=[_attachment(SHARED)],
        ),
        "b_about_e": {**statement("b", "mentored"), "object": {"objectType": "Agent", **e}},
        "b_voided": statement("b", "failed"),
        "b_plain": statement("b"),
    }
    s["e_voids"] = {
        "id": str(uuid.uuid4()),
        "actor": e,
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": s["b_voided"]["id"]},
    }
    _save(
        store,
        list(s.values()),
        [
            Attachment(ONLY_E, "text/plain", b"e's essay"),
            Attachment(SHARED, "text/plain", b"the class handout"),
        ],
    )
    for kind, scope in (
        (DocumentKind.AGENT_PROFILE, key("e")),
        (DocumentKind.AGENT_PROFILE, "school-1\x1e" + key("e")),  # an organisation's namespace
        (DocumentKind.AGENT_PROFILE, key("b")),
        (DocumentKind.STATE, f"http://example.org/act/1\x1f{key('e')}\x1f"),
        (DocumentKind.STATE, f"http://example.org/act/1\x1f{key('b')}\x1f"),
    ):
        store.put_document(kind, scope, "doc", b'{"x": 1}', "application/json", merge=False, preconditions=Preconditions())
    store.link_keys("person-e", [key("e"), ACCOUNT])
    stored = [orjson.loads(r.value) for r in store.read_log(0, 100)]
    store.apply_changes(REDUCER, changes_for(REDUCER, stored))
    return s


def _everything(store: Store) -> bytes:
    return b"\n".join(r.value for r in store.read_log(0, 1000))


def test_erase_removes_or_pseudonymises_everywhere(store: Store) -> None:
    s = populate(store)
    assert store.get_state(PROFILES, key("e")) is not None
    report = erase_keys(store, erasure_keys([key("e"), ACCOUNT]), [REDUCER])

    for name in ("e1", "e2", "e_account", "e_sha1", "e_first_in_group"):
        assert store.get_statement(s[name]["id"], voided=False) is None, name
    kept = orjson.loads(store.get_statement(s["b_instructed"]["id"], voided=False) or b"{}")
    assert kept["context"]["instructor"] == ERASED_AGENT
    assert kept["context"]["team"]["account"] == ERASED_AGENT["account"]
    assert kept["context"]["team"]["member"] == [{"mbox": "mailto:b@example.org"}]
    about = orjson.loads(store.get_statement(s["b_about_e"]["id"], voided=False) or b"{}")
    assert about["object"] == ERASED_AGENT
    voiding = orjson.loads(store.get_statement(s["e_voids"]["id"], voided=False) or b"{}")
    assert voiding["actor"] == ERASED_AGENT  # kept, so what it voided stays voided
    assert store.get_statement(s["b_voided"]["id"], voided=True) is not None

    log = _everything(store)
    # quoted: a bare e-42 also turns up inside random UUIDs ("...e-42..", one run in ~20)
    assert b"e@example.org" not in log and SHA1.encode() not in log and b'"e-42"' not in log
    assert b"Erin" not in log
    related = StatementQuery(agent=key("e"), related_agents=True)
    assert store.query_statements(related).statements == []
    erased = StatementQuery(agent=ERASED_KEY, related_agents=True)
    assert len(store.query_statements(erased).statements) == 3
    assert len(store.query_statements(StatementQuery(agent=key("b"))).statements) == 4

    assert [a.sha2 for a in store.get_attachments([ONLY_E, SHARED])] == [SHARED]
    assert store.get_document(DocumentKind.AGENT_PROFILE, key("e"), "doc") is None
    assert store.get_document(DocumentKind.AGENT_PROFILE, "school-1\x1e" + key("e"), "doc") is None
    assert store.get_document(DocumentKind.AGENT_PROFILE, key("b"), "doc") is not None
    assert store.get_document(DocumentKind.STATE, f"http://example.org/act/1\x1f{key('e')}\x1f", "doc") is None
    assert store.get_document(DocumentKind.STATE, f"http://example.org/act/1\x1f{key('b')}\x1f", "doc")
    assert store.get_agent_names(key("e")) == []
    assert store.keys_of("person-e") == [] and store.person_of(ACCOUNT) is None

    assert store.get_state(PROFILES, key("e")) is None
    assert store.get_contributions(PROFILES, [key("e"), ACCOUNT]) == []
    b_profile = store.get_state(PROFILES, key("b"))
    assert b_profile is not None and b_profile["teams"] == [ERASED_KEY]
    assert report.counts() == {
        "statements_deleted": 5,
        "statements_pseudonymised": 3,
        "attachments_deleted": 1,
        "documents_deleted": 3,
        "agent_names_deleted": 2,  # "E" and "Erin Erased"
        "identity_links_deleted": 2,
        "contributions_deleted": 7,  # e's five, and the two rewritten statements' (re-added)
        "states_deleted": 3,  # e by mbox, by account, by sha1
        "states_rebuilt": 1,  # b
        "dead_letters_deleted": 0,
        "dead_letters_pseudonymised": 0,
        "aggregate_rows_deleted": 0,
        "rosters_updated": 0,
    }


def test_a_replay_after_erasure_brings_nothing_back(store: Store) -> None:
    populate(store)
    erase_keys(store, erasure_keys([key("e"), ACCOUNT]), [REDUCER])
    before = store.get_state(PROFILES, key("b"))
    rebuild(store, REDUCER)
    assert store.get_state(PROFILES, key("e")) is None
    assert store.get_state(PROFILES, ACCOUNT) is None
    assert store.get_state(PROFILES, key("b")) == before


def test_a_late_batch_of_erased_statements_is_not_folded(store: Store) -> None:
    """A processor that read the person's statements before the erasure and applies them
    after it: the tombstones (retractions) keep them out."""
    s = populate(store)
    store.clear_projection(PROFILES)
    erase_keys(store, erasure_keys([key("e")]), [REDUCER])
    store.apply_changes(REDUCER, changes_for(REDUCER, [s["e1"], s["e2"]]))
    assert store.get_state(PROFILES, key("e")) is None


def test_erasure_is_idempotent(store: Store) -> None:
    populate(store)
    keys = erasure_keys([key("e"), ACCOUNT])
    erase_keys(store, keys, [REDUCER])
    log = _everything(store)
    again = erase_keys(store, keys, [REDUCER])
    assert set(again.counts().values()) == {0}
    assert _everything(store) == log


def test_sqlite_files_keep_no_copy_of_the_erased_bytes(tmp_path: Any) -> None:
    """secure_delete zeroes freed pages and the checkpoint empties the WAL: the erased
    mailbox is in no file of the embedded store afterwards."""
    from lrs.adapters.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "lrs.db")
    try:
        populate(store)
        erase_keys(store, erasure_keys([key("e"), ACCOUNT]), [REDUCER])
        files = [p for p in tmp_path.iterdir() if p.is_file()]
        assert any(p.name == "lrs.db" for p in files)
        for path in files:
            assert b"e@example.org" not in path.read_bytes(), path.name
    finally:
        store.close()


def test_a_statement_stored_after_the_newest_is_erased_is_folded_published_and_counted(
    store: Store,
) -> None:
    """The embedded processors, the outbox relay and the stored tally all passed the erased
    statement's log position; the next statement must still reach every one of them."""
    save(store, statement("a"))
    save(store, statement("b"))
    catch_up(store, [REDUCER])
    store.mark_published(store.unpublished(10))
    assert statements_stored(store, lambda k: k) == {"k1": 2}
    erase_keys(store, erasure_keys([key("b")]), [REDUCER])
    late = statement("c")
    save(store, late)
    catch_up(store, [REDUCER])
    assert store.get_state(PROFILES, key("c")) is not None
    assert [orjson.loads(r.value)["id"] for r in store.unpublished(10)] == [late["id"]]
    assert statements_stored(store, lambda k: k) == {"k1": 3}
