"""The storage contract: behaviour every adapter must share, whatever the database."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import pytest

from consumers.reducers.base import changes_for
from consumers.reducers.profiles import REDUCER
from lrs.storage.base import (
    Attachment,
    Credential,
    DocumentKind,
    Preconditions,
    StatementQuery,
    Store,
)
from lrs.xapi.errors import Conflict, PreconditionFailed, ValidationError
from lrs.xapi.identity import agent_key

AUTHORITY = {"objectType": "Agent", "account": {"homePage": "http://lrs.test", "name": "k1"}}
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def statement(
    learner: str = "a", verb: str = "completed", activity: str = "act/1", **extra: Any
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": f"mailto:{learner}@example.org", "name": learner.upper()},
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}"},
        "object": {"id": f"http://example.org/{activity}"},
        **extra,
    }


def save(store: Store, *statements: dict[str, Any], credential: str = "k1") -> list[str]:
    return store.save_statements(
        list(statements),
        authority=AUTHORITY,
        credential=credential,
        version="1.0.3",
        attachments=[],
    )


def ids(store: Store, **filters: Any) -> list[str]:
    page = store.query_statements(StatementQuery(**filters))
    return [orjson.loads(s)["id"] for s in page.statements]


def key(learner: str) -> str:
    key = agent_key({"mbox": f"mailto:{learner}@example.org"})
    assert key is not None
    return key


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


def test_documents_put_get_list_delete(store: Store) -> None:
    kind, scope = DocumentKind.STATE, "act\x1fagent\x1f"
    document = store.put_document(
        kind, scope, "s1", b"hello", "text/plain", merge=False, preconditions=Preconditions()
    )
    assert document.etag.startswith('"') and document.etag.endswith('"')
    got = store.get_document(kind, scope, "s1")
    assert got is not None and got.content == b"hello" and got.content_type == "text/plain"
    store.put_document(
        kind, scope, "s2", b"{}", "application/json", merge=False, preconditions=Preconditions()
    )
    assert store.list_documents(kind, scope, None) == ["s1", "s2"]
    assert store.list_documents(kind, "other", None) == []
    store.delete_documents(kind, scope)
    assert store.list_documents(kind, scope, None) == []


def test_document_preconditions(store: Store) -> None:
    kind, scope = DocumentKind.AGENT_PROFILE, "agent"
    first = store.put_document(
        kind, scope, "p", b"1", "text/plain", merge=False, preconditions=Preconditions()
    )
    with pytest.raises(PreconditionFailed):
        store.put_document(
            kind,
            scope,
            "p",
            b"2",
            "text/plain",
            merge=False,
            preconditions=Preconditions(if_match='"nope"'),
        )
    with pytest.raises(PreconditionFailed):
        store.put_document(
            kind,
            scope,
            "p",
            b"2",
            "text/plain",
            merge=False,
            preconditions=Preconditions(if_none_match="*"),
        )
    with pytest.raises(Conflict):
        store.put_document(
            kind,
            scope,
            "p",
            b"2",
            "text/plain",
            merge=False,
            preconditions=Preconditions(required=True),
        )
    store.put_document(
        kind,
        scope,
        "p",
        b"3",
        "text/plain",
        merge=False,
        preconditions=Preconditions(if_match=first.etag),
    )
    got = store.get_document(kind, scope, "p")
    assert got is not None and got.content == b"3"


def test_document_post_merges_json_objects(store: Store) -> None:
    kind, scope = DocumentKind.ACTIVITY_PROFILE, "act"
    store.put_document(
        kind,
        scope,
        "p",
        b'{"a": 1, "b": 1}',
        "application/json",
        merge=True,
        preconditions=Preconditions(),
    )
    store.put_document(
        kind,
        scope,
        "p",
        b'{"b": 2, "c": 3}',
        "application/json",
        merge=True,
        preconditions=Preconditions(),
    )
    got = store.get_document(kind, scope, "p")
    assert got is not None and orjson.loads(got.content) == {"a": 1, "b": 2, "c": 3}
    store.put_document(
        kind, scope, "t", b"text", "text/plain", merge=False, preconditions=Preconditions()
    )
    with pytest.raises(ValidationError):
        store.put_document(
            kind,
            scope,
            "t",
            b'{"x": 1}',
            "application/json",
            merge=True,
            preconditions=Preconditions(),
        )


def test_credentials_round_trip(store: Store) -> None:
    credential = Credential(
        "key1", "Moodle", ("statements/write", "state"), "school-1", "sha256$s$h"
    )
    store.save_credential(credential)
    assert store.get_credential("key1") == credential
    assert store.get_credential("missing") is None
    auditor = Credential(
        "key2", "Inspector", ("auditor",), None, "sha256$s$h", "auditor", ("school-1", "school-2")
    )
    store.save_credential(auditor)
    assert store.get_credential("key2") == auditor


def test_log_lists_every_stored_statement_in_order_once(store: Store) -> None:
    first, second, third = statement("a"), statement("b"), statement("c")
    save(store, first, second)
    save(store, first)  # re-sent: not a new event
    save(store, third)
    records = store.read_log(0, 10)
    assert [orjson.loads(r.value)["id"] for r in records] == [
        first["id"],
        second["id"],
        third["id"],
    ]
    assert [r.key for r in records] == [key("a"), key("b"), key("c")]
    assert store.read_log(records[0].offset, 1) == [records[1]]


def test_outbox_returns_what_is_not_yet_published(store: Store) -> None:
    save(store, statement("a"), statement("b"))
    pending = store.unpublished(10)
    assert len(pending) == 2
    store.mark_published(pending[:1])
    assert store.unpublished(10) == pending[1:]
    save(store, statement("c"))
    store.mark_published(store.unpublished(10))
    assert store.unpublished(10) == []


def test_consumer_offsets_only_move_forward(store: Store) -> None:
    assert store.get_offset("profiles") == 0
    store.set_offset("profiles", 5)
    store.set_offset("profiles", 3)
    assert store.get_offset("profiles") == 5
    assert store.get_offset("other") == 0


def test_a_lease_has_one_owner_until_it_runs_out_or_is_given_up(store: Store) -> None:
    assert store.claim_lease("outbox-relay", "a", 30)
    assert not store.claim_lease("outbox-relay", "b", 30)  # held by a
    assert store.claim_lease("outbox-relay", "a", 30)  # a renews
    assert store.claim_lease("other", "b", 30)  # leases are independent
    assert store.claim_lease("outbox-relay", "a", 0)  # a gives it up
    assert store.claim_lease("outbox-relay", "b", 0.3)
    assert not store.claim_lease("outbox-relay", "a", 30)
    time.sleep(0.4)  # b's lease ran out
    assert store.claim_lease("outbox-relay", "a", 30)


def test_reset_published_republishes_everything(store: Store) -> None:
    save(store, statement("a"), statement("b"))
    store.mark_published(store.unpublished(10))
    store.reset_published()
    assert len(store.unpublished(10)) == 2


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


def test_identity_links_join_keys_into_one_person(store: Store) -> None:
    lms, school, eid = (
        "account:https://lms|7",
        "account:https://sis|A12",
        "account:https://vneid.gov.vn|9f",
    )
    store.link_keys("person-1", [lms, school])
    store.link_keys("person-1", [eid])
    assert store.keys_of("person-1") == sorted([lms, school, eid])
    assert store.person_of(school) == "person-1"
    store.link_keys("person-2", [school])  # a key belongs to one person: linking moves it
    assert store.person_of(school) == "person-2"
    assert store.keys_of("person-1") == sorted([lms, eid])
    assert store.unlink_key(lms) == "person-1"
    assert store.unlink_key(lms) is None
    assert store.person_of(lms) is None
    assert store.keys_of("nobody") == []


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
