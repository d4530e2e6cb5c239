"""The statements port: what every adapter stores, refuses, voids and finds alike.

Voiding across organisations in either arrival order and StatementRef term inheritance
are lrs.ops.references' one algorithm; these tests hold every adapter to it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import pytest

from consumers.reducers.base import changes_for
from consumers.reducers.profiles import REDUCER
from lrs.domain.records import Attachment, Credential, StatementQuery
from lrs.ports import Store
from lrs.xapi.errors import Conflict, ValidationError
from tests.contract.helpers import AUTHORITY, VOIDED, ids, key, save, statement


def test_saved_statement_reads_back_with_lrs_properties(store: Store) -> None:
    s = statement()
    [sid] = save(store, s)
    stored = orjson.loads(store.get_statement(sid, voided=False) or b"null")
    assert stored["actor"] == s["actor"]
    assert stored["authority"] == AUTHORITY
    assert stored["stored"].endswith("Z")
    assert stored["timestamp"] == stored["stored"]
    assert stored["version"] == "1.0.0"


def test_same_id_same_content_is_stored_once(store: Store) -> None:
    s = statement()
    save(store, s)
    save(store, s)
    assert ids(store) == [s["id"]]


def test_same_id_different_content_conflicts_and_changes_nothing(store: Store) -> None:
    s = statement()
    save(store, s)
    other = statement(learner="b")
    with pytest.raises(Conflict):
        save(store, other, {**s, "verb": {"id": "http://example.org/other"}})
    assert ids(store) == [s["id"]]


def test_filters_agent_verb_activity_registration(store: Store) -> None:
    registration = str(uuid.uuid4())
    a1 = statement("a", "completed", "act/1")
    a2 = statement("a", "passed", "act/2", context={"registration": registration})
    b1 = statement("b", "completed", "act/2")
    save(store, a1, a2, b1)
    assert set(ids(store, agent=key("a"))) == {a1["id"], a2["id"]}
    assert ids(store, agent=key("a"), verb="http://adlnet.gov/expapi/verbs/completed") == [a1["id"]]
    assert set(ids(store, activity="http://example.org/act/2")) == {a2["id"], b1["id"]}
    assert ids(store, registration=registration) == [a2["id"]]
    assert ids(store, agent=key("nobody")) == []


def test_related_activities_and_agents(store: Store) -> None:
    s = statement(
        "a",
        context={
            "contextActivities": {"parent": [{"id": "http://example.org/course"}]},
            "instructor": {"mbox": "mailto:teacher@example.org"},
        },
    )
    save(store, s)
    assert ids(store, activity="http://example.org/course") == []
    assert ids(store, activity="http://example.org/course", related_activities=True) == [s["id"]]
    assert ids(store, agent=key("teacher")) == []
    assert ids(store, agent=key("teacher"), related_agents=True) == [s["id"]]


def test_order_limit_and_cursor_cover_every_statement_once(store: Store) -> None:
    statements = [statement(str(i)) for i in range(7)]
    for s in statements:
        save(store, s)
    for ascending in (False, True):
        seen: list[str] = []
        query = StatementQuery(limit=3, ascending=ascending)
        while True:
            page = store.query_statements(query)
            seen += [orjson.loads(s)["id"] for s in page.statements]
            if page.cursor is None:
                break
            query.cursor = page.cursor
            save(store, statement("late"))  # arrivals between pages must not shift the pages
        expected = [s["id"] for s in statements]
        if ascending:
            assert seen[: len(expected)] == expected
        else:
            assert seen == expected[::-1]


def test_since_and_until_use_stored_time(store: Store) -> None:
    first = statement()
    save(store, first)
    stored = orjson.loads(store.get_statement(first["id"], voided=False) or b"{}")["stored"]
    time.sleep(0.003)  # stored has millisecond precision
    second = statement()
    save(store, second)
    assert first["id"] not in ids(store, since=stored)
    assert ids(store, until=stored) == [first["id"]]


def test_voiding_hides_the_target_and_keeps_the_voiding_statement(store: Store) -> None:
    target = statement()
    save(store, target)
    voiding = statement(verb="voided", object={"objectType": "StatementRef", "id": target["id"]})
    voiding["verb"] = {"id": VOIDED}
    save(store, voiding)
    assert store.get_statement(target["id"], voided=False) is None
    assert store.get_statement(target["id"], voided=True) is not None
    assert ids(store) == [voiding["id"]]
    # the voiding statement matches the voided statement's filters (statement-ref rule)
    assert ids(store, activity="http://example.org/act/1") == [voiding["id"]]


def test_voiding_that_arrives_first_still_voids(store: Store) -> None:
    target = statement()
    voiding = {
        **statement(),
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": target["id"]},
    }
    save(store, voiding)
    save(store, target)
    assert store.get_statement(target["id"], voided=True) is not None
    assert ids(store, agent=key("a"), verb="http://adlnet.gov/expapi/verbs/completed") == [
        voiding["id"]
    ]


def test_a_voiding_statement_cannot_be_voided(store: Store) -> None:
    target = statement()
    voiding = {
        **statement(),
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": target["id"]},
    }
    save(store, target, voiding)
    again = {
        **statement(),
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": voiding["id"]},
    }
    with pytest.raises(ValidationError):
        save(store, again)
    assert store.get_statement(voiding["id"], voided=False) is not None


def test_references_match_recursively(store: Store) -> None:
    c = statement("c", "experienced", "act/c")
    b = statement("b", "liked", object={"objectType": "StatementRef", "id": c["id"]})
    a = statement("x", "shared", object={"objectType": "StatementRef", "id": b["id"]})
    save(store, a)  # stored before what it targets
    save(store, b, c)
    assert set(ids(store, verb="http://adlnet.gov/expapi/verbs/experienced")) == {
        a["id"],
        b["id"],
        c["id"],
    }


def test_read_mine_sees_only_its_own(store: Store) -> None:
    mine, theirs = statement(), statement()
    save(store, mine, credential="k1")
    save(store, theirs, credential="k2")
    assert ids(store, authority="k1") == [mine["id"]]


def test_batch_is_all_or_nothing(store: Store) -> None:
    existing = statement()
    save(store, existing)
    fresh = statement()
    with pytest.raises(Conflict):
        save(store, fresh, {**existing, "verb": {"id": "http://example.org/changed"}})
    assert store.get_statement(fresh["id"], voided=False) is None


def test_attachments_are_kept_by_hash(store: Store) -> None:
    s = statement()
    store.save_statements(
        [s],
        authority=AUTHORITY,
        credential="k1",
        version="1.0.3",
        attachments=[Attachment("ab" * 32, "text/plain", b"hello")],
    )
    assert store.get_attachments(["ab" * 32]) == [Attachment("ab" * 32, "text/plain", b"hello")]
    assert store.get_attachments(["cd" * 32]) == []


def test_activity_definitions_merge_language_maps(store: Store) -> None:
    first = statement(object={"id": "http://example.org/a", "definition": {"name": {"en": "One"}}})
    second = statement(object={"id": "http://example.org/a", "definition": {"name": {"vi": "Một"}}})
    save(store, first)
    save(store, second)
    assert store.get_activity("http://example.org/a") == {"name": {"en": "One", "vi": "Một"}}


def test_a_statement_twice_in_one_batch_is_stored_once(store: Store) -> None:
    s = statement()
    assert save(store, s, dict(s)) == [s["id"], s["id"]]
    assert ids(store) == [s["id"]]
    assert len(store.read_log(0, 10)) == 1
    other = statement()
    with pytest.raises(Conflict):
        save(store, other, {**other, "verb": {"id": "http://example.org/changed"}})
    assert store.get_statement(other["id"], voided=False) is None


def _two_organisations(store: Store) -> None:
    for cred_key, org in (("a1", "org-a"), ("a2", "org-a"), ("b1", "org-b")):
        store.save_credential(Credential(cred_key, cred_key, ("all",), org, "sha256$s$h"))


def _ref(learner: str, target: dict[str, Any]) -> dict[str, Any]:
    return statement(
        learner, "shared", "act/mine", object={"objectType": "StatementRef", "id": target["id"]}
    )


@pytest.mark.parametrize("target_first", [True, False])
def test_references_inherit_terms_only_within_an_organisation(
    store: Store, target_first: bool
) -> None:
    """Another organisation referencing a statement by id must not find it by its filters."""
    _two_organisations(store)
    target = statement("alice", "completed", "act/secret")
    same_org = _ref("colleague", target)  # org-a, another credential
    other_org = _ref("intruder", target)  # org-b, guessed the id
    up_chain = _ref("intruder2", same_org)  # org-b, references org-a's referrer
    if target_first:
        save(store, target, credential="a1")
        save(store, same_org, credential="a2")
        save(store, other_org, up_chain, credential="b1")
    else:
        save(store, other_org, credential="b1")
        save(store, same_org, credential="a2")
        save(store, up_chain, credential="b1")
        save(store, target, credential="a1")
    expected = {target["id"], same_org["id"]}
    assert set(ids(store, agent=key("alice"))) == expected
    assert set(ids(store, activity="http://example.org/act/secret")) == expected
    assert set(ids(store, verb="http://adlnet.gov/expapi/verbs/completed")) == expected
    # org-b's statements still match their own filters
    assert set(ids(store, agent=key("intruder"))) == {other_org["id"]}
    assert set(ids(store, agent=key("intruder2"))) == {up_chain["id"]}


def test_statements_of_no_credential_row_are_the_default_organisation(store: Store) -> None:
    store.save_credential(Credential("admin", "admin", ("all",), None, "sha256$s$h", "admin"))
    store.save_credential(Credential("b1", "b1", ("all",), "org-b", "sha256$s$h"))
    target = statement("alice", "completed", "act/secret")
    by_admin = _ref("admin-user", target)
    by_b = _ref("intruder", target)
    save(store, by_admin, credential="admin")
    save(store, by_b, credential="b1")
    save(store, target, credential="moodle-connector")  # no credential row: default
    assert set(ids(store, agent=key("alice"))) == {target["id"], by_admin["id"]}


@pytest.mark.parametrize("target_first", [True, False])
def test_voiding_by_another_credential_of_the_organisation_still_voids(
    store: Store, target_first: bool
) -> None:
    _two_organisations(store)
    target = statement("alice")
    voiding = {**_ref("colleague", target), "verb": {"id": VOIDED}}
    writes = [(target, "a1"), (voiding, "a2")]
    for one, credential in writes if target_first else reversed(writes):
        save(store, one, credential=credential)
    assert store.get_statement(target["id"], voided=False) is None
    assert store.get_statement(target["id"], voided=True) is not None
    assert ids(store, agent=key("alice")) == [voiding["id"]]


@pytest.mark.parametrize("voiding_first", [True, False])
def test_another_organisation_cannot_void_a_statement_even_before_it_arrives(
    store: Store, voiding_first: bool
) -> None:
    """Organisation B guesses the id of a statement A will send and voids it ahead of time
    (xAPI lets a voiding statement arrive before its target): A's statement must arrive
    unvoided, and the projections, which follow the statement store, must count it."""
    _two_organisations(store)
    target = statement("alice", "completed", "act/quiz")
    intruder = {**_ref("intruder", target), "verb": {"id": VOIDED}}
    colleague_void = {**_ref("colleague", target), "verb": {"id": VOIDED}}
    if voiding_first:
        save(store, intruder, credential="b1")
        save(store, target, credential="a1")
    else:  # the API refuses this one (403); the store must not void either way
        save(store, target, credential="a1")
        save(store, intruder, credential="b1")
    assert store.get_statement(target["id"], voided=False) is not None
    assert store.get_statement(target["id"], voided=True) is None
    assert store.get_statement(intruder["id"], voided=False) is not None
    assert ids(store, agent=key("alice")) == [target["id"]]

    def fold_log() -> dict[str, Any] | None:
        log = [orjson.loads(record.value) for record in store.read_log(0, 100)]
        store.apply_changes(REDUCER, changes_for(REDUCER, log))
        return store.get_state(REDUCER.name, key("alice"))

    profile = fold_log()
    assert profile is not None and profile["completed"] == 1
    # A's own voiding still voids it, in the store and in the projection, after B's
    save(store, colleague_void, credential="a2")
    assert store.get_statement(target["id"], voided=True) is not None
    assert fold_log() is None
