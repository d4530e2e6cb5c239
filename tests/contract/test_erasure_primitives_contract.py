"""The erasure primitives (lrs.ports.erasure) behave alike on every adapter, and the loop in
lrs.ops.erasure over them finishes an erasure that crashed halfway."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from consumers.reducers.profiles import NAME as PROFILES
from consumers.reducers.profiles import REDUCER
from lrs.domain.records import DocumentKind
from lrs.ops import erasure as erasure_ops
from lrs.ops.erasure import erase_keys, plan_redaction
from lrs.ports import Store
from lrs.ports.erasure import KEEP, DocumentRef, Redaction
from lrs.xapi.redaction import AGENT_DOCUMENT_KINDS, ERASED_AGENT, erasure_keys
from tests.contract.helpers import AUTHORITY, key, save, statement
from tests.contract.test_erasure_contract import ACCOUNT, ONLY_E, SHARED, populate


def _ids(found: list[dict[str, Any]]) -> list[str]:
    return [s["id"] for s in found]


def test_statements_naming_finds_filed_and_related_in_order_and_not_again(store: Store) -> None:
    e1, e2 = statement("e"), statement("e", "passed")
    about = {**statement("b"), "context": {"instructor": {"mbox": "mailto:e@example.org"}}}
    other = statement("b")
    save(store, e1, other, about, e2)
    keys = [key("e")]
    assert _ids(store.statements_naming(keys, 2)) == [e1["id"], about["id"]]
    assert _ids(store.statements_naming(keys, 10)) == [e1["id"], about["id"], e2["id"]]
    assert store.statements_naming([key("nobody")], 10) == []

    redaction = plan_redaction(store.statements_naming(keys, 2), frozenset(keys))
    assert redaction.deleted == [e1["id"]] and list(redaction.rewritten) == [about["id"]]
    store.redact_statements(keys, redaction)
    assert _ids(store.statements_naming(keys, 10)) == [e2["id"]]  # the rest, nothing twice
    assert store.get_statement(e1["id"], voided=False) is None
    kept = orjson.loads(store.get_statement(about["id"], voided=False) or b"{}")
    assert kept["context"]["instructor"] == ERASED_AGENT
    assert store.get_statement(other["id"], voided=False) is not None


def test_untouched_statements_lose_only_the_keys_terms(store: Store) -> None:
    plain = statement("e")
    save(store, plain)
    store.redact_statements([key("e")], Redaction("r1", untouched=[plain["id"]]))
    assert store.statements_naming([key("e")], 10) == []
    kept = orjson.loads(store.get_statement(plain["id"], voided=False) or b"{}")
    assert kept["actor"]["mbox"] == "mailto:e@example.org"  # content as it was
    assert store.redactions_owed()[0].deleted == []


def test_a_redaction_is_owed_until_settled(store: Store) -> None:
    e1 = statement("e")
    save(store, e1)
    rewritten = {"s-2": {"id": "s-2", "actor": ERASED_AGENT}}
    first = Redaction("r1", deleted=[e1["id"]], rewritten=rewritten, attachments=["ab" * 32])
    store.redact_statements([key("e")], first)
    store.redact_statements([key("e")], Redaction("r2"))
    owed = store.redactions_owed()
    assert [r.id for r in owed] == ["r1", "r2"]
    assert (owed[0].deleted, owed[0].rewritten, owed[0].attachments) == (
        [e1["id"]],
        rewritten,
        ["ab" * 32],
    )
    store.settle_redactions(["r1"])
    assert [r.id for r in store.redactions_owed()] == ["r2"]
    store.settle_redactions(["r2", "unknown"])
    assert store.redactions_owed() == []


def test_unused_attachments_only_are_deleted(store: Store) -> None:
    populate(store)
    e_statements = [  # e1 (ONLY_E) and e2 (SHARED, which b_instructed uses too)
        s for s in store.statements_naming([key("e")], 100) if s["actor"].get("name") == "E"
    ]
    assert len(e_statements) == 2
    assert store.delete_unused_attachments([ONLY_E, SHARED]) == 0  # both still used
    store.redact_statements([key("e")], Redaction("r", deleted=[s["id"] for s in e_statements]))
    assert store.delete_unused_attachments([ONLY_E, SHARED]) == 1
    assert [a.sha2 for a in store.get_attachments([ONLY_E, SHARED])] == [SHARED]
    assert store.delete_unused_attachments([ONLY_E]) == 0
    assert store.delete_unused_attachments([]) == 0


def test_documents_naming_and_erase_documents(store: Store) -> None:
    populate(store)
    found = store.documents_naming(AGENT_DOCUMENT_KINDS, key("e"))
    assert sorted((d.kind, d.scope) for d in found) == sorted(
        [
            (DocumentKind.AGENT_PROFILE, key("e")),
            (DocumentKind.AGENT_PROFILE, "school-1\x1e" + key("e")),
            (DocumentKind.STATE, f"http://example.org/act/1\x1f{key('e')}\x1f"),
        ]
    )
    assert store.documents_naming((DocumentKind.ACTIVITY_PROFILE,), key("e")) == []
    gone = [d for d in found if d.kind == DocumentKind.AGENT_PROFILE]
    assert store.erase_documents([*gone, DocumentRef("state", "nowhere", "doc")]) == 2
    assert store.get_document(DocumentKind.AGENT_PROFILE, key("e"), "doc") is None
    assert store.get_document(DocumentKind.AGENT_PROFILE, key("b"), "doc") is not None
    assert len(store.documents_naming(AGENT_DOCUMENT_KINDS, key("e"))) == 1


def test_forget_keys_deletes_names_and_links(store: Store) -> None:
    populate(store)
    assert store.forget_keys([key("e"), ACCOUNT]) == (2, 2)
    assert store.get_agent_names(key("e")) == [] and store.keys_of("person-e") == []
    assert store.get_agent_names(key("b")) != []
    assert store.forget_keys([key("e"), ACCOUNT]) == (0, 0)


def test_forget_keys_unless_named_forgets_only_names_no_statement_carries(store: Store) -> None:
    """Retention's use: the person stays (links, terms); a name goes with the last
    statement that named its agent, not before."""
    a1, a2, b = statement("a"), statement("a", "passed"), statement("b")
    save(store, a1, a2, b)
    store.link_keys("person-a", [key("a")])
    assert store.forget_keys([key("a"), key("b")], unless_named=True) == (0, 0)
    store.redact_statements([], Redaction("r1", deleted=[a1["id"]]))
    assert store.forget_keys([key("a")], unless_named=True) == (0, 0)  # a2 still names a
    assert store.redact_statements([], Redaction("r2", deleted=[a2["id"], "gone"])) == (1, 0)
    assert store.forget_keys([key("a"), key("b")], unless_named=True) == (1, 0)
    assert store.get_agent_names(key("a")) == [] and store.get_agent_names(key("b")) == ["B"]
    assert store.keys_of("person-a") == [key("a")]
    later = statement("a")  # the key still indexes what comes later
    save(store, later)
    assert _ids(store.statements_naming([key("a")], 10)) == [later["id"]]


def test_owed_records_keep_how_they_are_settled(store: Store) -> None:
    store.redact_statements([], Redaction("r1", projections=KEEP, names=[key("a")]))
    (owed,) = store.redactions_owed()
    assert (owed.projections, owed.names) == (KEEP, [key("a")])


def test_erase_from_projection_retracts_and_rebuilds(store: Store) -> None:
    s = populate(store)
    filed = [s[name]["id"] for name in ("e1", "e2", "e_first_in_group")]  # e's by mbox
    counts = store.erase_from_projection(REDUCER, filed[:2], {})
    assert (counts.contributions_deleted, counts.states_deleted, counts.states_rebuilt) == (2, 0, 1)
    assert store.get_state(PROFILES, key("e")) is not None  # the group statement remains
    counts = store.erase_from_projection(REDUCER, filed, {})
    assert (counts.contributions_deleted, counts.states_deleted, counts.states_rebuilt) == (1, 1, 0)
    assert store.get_state(PROFILES, key("e")) is None
    again = store.erase_from_projection(REDUCER, filed, {})
    assert (again.contributions_deleted, again.states_deleted, again.states_rebuilt) == (0, 0, 0)


def _final(store: Store) -> dict[str, Any]:
    return {
        "log": [orjson.loads(r.value)["id"] for r in store.read_log(0, 1000)],
        "b": store.get_state(PROFILES, key("b")),
        "e": store.get_state(PROFILES, key("e")),
        "attachments": [a.sha2 for a in store.get_attachments([ONLY_E, SHARED])],
        "names": store.get_agent_names(key("e")),
        "owed": store.redactions_owed(),
    }


@pytest.mark.parametrize("stop_after", ["statements", "projection", "attachments", "documents"])
def test_an_erasure_that_crashed_halfway_is_finished_by_running_it_again(
    store: Store, stop_after: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each step of the loop is cut short by a crash; the second run leaves what one
    uninterrupted erasure leaves (compared with a twin store erased in one go)."""
    populate(store)
    keys = erasure_keys([key("e"), ACCOUNT])

    class Crash(Exception):
        pass

    step = {
        "statements": "redactions_owed",
        "projection": "delete_unused_attachments",
        "attachments": "documents_naming",
        "documents": "forget_keys",
    }[stop_after]

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise Crash(step)

    with monkeypatch.context() as patch:
        patch.setattr(store, step, crash)
        with pytest.raises(Crash):
            erase_keys(store, keys, [REDUCER])
    assert store.redactions_owed() != []  # what the statements' batch owes is kept
    erase_keys(store, keys, [REDUCER])
    after = _final(store)
    assert after["e"] is None and after["owed"] == [] and after["names"] == []
    assert after["attachments"] == [SHARED]
    assert after["b"] is not None and after["b"]["teams"] == [
        "account:https://lrs.invalid/erased|erased"
    ]
    assert store.documents_naming(AGENT_DOCUMENT_KINDS, key("e")) == []
    assert store.get_contributions(PROFILES, [key("e"), ACCOUNT]) == []


def test_small_batches_erase_the_same_as_one(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    populate(store)
    more = [statement("e", f"verb{n}") for n in range(5)]
    store.save_statements(
        more, authority=AUTHORITY, credential="k1", version="1.0.3", attachments=[]
    )
    monkeypatch.setattr(erasure_ops, "BATCH", 2)
    report = erase_keys(store, erasure_keys([key("e"), ACCOUNT]), [REDUCER])
    assert (report.statements_deleted, report.statements_pseudonymised) == (10, 3)
    assert store.statements_naming(erasure_keys([key("e"), ACCOUNT]), 100) == []
    assert store.redactions_owed() == []


def test_owed_records_hold_no_identifier_of_the_person(store: Store) -> None:
    """Owed records keep only ids, pseudonymised statements and hashes: nothing of the
    person's identifiers (they can outlive a crash until the erasure is run again)."""
    populate(store)
    keys = erasure_keys([key("e"), ACCOUNT])
    batch = store.statements_naming(keys, 100)
    store.redact_statements(keys, plan_redaction(batch, frozenset(keys)))
    owed = orjson.dumps([r.owed() for r in store.redactions_owed()])
    assert owed != b"[]"
    assert b"e@example.org" not in owed and b'"e-42"' not in owed and b"Erin" not in owed
