"""Retention contract: every adapter finds what is older than a policy allows and removes it
the same way, and the retention operation (lrs.ops.retention) behaves the same over each:
policies per organisation and data class, legal holds, dry runs, projections recomputed or
kept, and the access log cut with its chain still verifiable.

Statements are stored now; the runs are told it is later (`now=`), which is what lets a
test see data "older than N days" without waiting N days.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from consumers.reducers.base import changes_for
from consumers.reducers.profiles import NAME as PROFILES
from consumers.reducers.profiles import REDUCER
from consumers.runtime.local import rebuild
from lrs.domain.documents import Preconditions
from lrs.domain.records import AccessQuery, Attachment, Credential, DocumentKind
from lrs.ops import retention
from lrs.ops.audit import pseudonym, record_read, verify
from lrs.ops.erasure import erase_keys
from lrs.ports import Store
from lrs.ports.erasure import DocumentRef
from lrs.xapi.redaction import (
    ANONYMOUS_AGENT,
    anonymise_statement,
    attachment_hashes,
    erasure_keys,
)
from tests.contract.helpers import AUTHORITY, ids, key, save, statement

ESSAY = hashlib.sha256(b"an essay").hexdigest()
HANDOUT = hashlib.sha256(b"the class handout").hexdigest()
LATER = datetime.now(UTC) + timedelta(days=40)
FAR = "9999-12-31T00:00:00.000Z"
ADMIN = Credential("admin-1", "Admin", ("admin",), None, "", "admin")
SCHOOL = Credential("school-1", "School", ("all",), "school-b", "", "school")


def _file(sha2: str) -> dict[str, Any]:
    return {
        "usageType": "http://example.org/usage/file",
        "display": {"en-US": "file"},
        "contentType": "text/plain",
        "length": 8,
        "sha2": sha2,
    }


def _fold(store: Store) -> None:
    stored = [orjson.loads(r.value) for r in store.read_log(0, 1000)]
    store.apply_changes(REDUCER, changes_for(REDUCER, stored))


def _get(store: Store, statement_id: str) -> dict[str, Any] | None:
    raw = store.get_statement(statement_id, voided=False)
    return None if raw is None else orjson.loads(raw)


def _doc(store: Store, kind: str, scope: str) -> None:
    store.put_document(
        kind,
        scope,
        "doc",
        b'{"x": 1}',
        "application/json",
        merge=False,
        preconditions=Preconditions(),
    )


# ------------------------------------------------------------------ the port's primitives


def test_statements_stored_before_pages_in_seq_order(store: Store) -> None:
    made = [statement("a") for _ in range(5)]
    save(store, *made)
    first = store.statements_stored_before(FAR, 0, 3)
    rest = store.statements_stored_before(FAR, first[-1].seq, 3)
    assert [s.id for s in first + rest] == [s["id"] for s in made]
    assert {s.credential for s in first} == {"k1"}
    assert first[0].statement["actor"]["mbox"] == "mailto:a@example.org"
    assert store.statements_stored_before(first[0].stored, 0, 10) == []


def test_retire_deletes_rewrites_and_recomputes_projections(store: Store) -> None:
    gone, kept, other = statement("a"), statement("a", "passed"), statement("b")
    save(store, gone, kept, other)
    _fold(store)
    assert store.get_state(PROFILES, key("a")) is not None
    anonymous = anonymise_statement(kept)
    assert anonymous is not None
    assert store.get_agent_names(key("a")) == ["A"]
    report = retention.retire(store, [REDUCER], [(gone, None), (kept, anonymous)])
    assert (report.statements_deleted, report.statements_pseudonymised) == (1, 1)
    assert _get(store, gone["id"]) is None
    rewritten = _get(store, kept["id"])
    assert rewritten is not None and rewritten["actor"] == ANONYMOUS_AGENT
    assert store.statements_naming([key("a")], 10) == []  # nor found under their key
    assert rewritten["verb"] == kept["verb"]
    # their last statements gone, so is their name (the Agents resource); others keep theirs
    assert store.get_agent_names(key("a")) == []
    assert store.get_agent_names(key("b")) == ["B"]
    # the learner's projection lost both; nobody's profile gathers the anonymous ones
    assert store.get_state(PROFILES, key("a")) is None
    assert store.get_state(PROFILES, key("b")) is not None
    rebuild(store, REDUCER)  # a replay brings nothing back
    assert store.get_state(PROFILES, key("a")) is None
    again = retention.retire(store, [REDUCER], [(gone, None)])  # idempotent
    assert again.statements_deleted == 0
    assert store.redactions_owed() == []


def test_retire_without_reducers_keeps_projections_as_facts(store: Store) -> None:
    gone = statement("a")
    save(store, gone)
    _fold(store)
    before = store.get_state(PROFILES, key("a"))
    retention.retire(store, [REDUCER], [(gone, None)], projections="keep")
    assert _get(store, gone["id"]) is None
    assert store.get_state(PROFILES, key("a")) == before


def test_attachments_go_with_their_last_statement_only(store: Store) -> None:
    mine = statement("a", attachments=[_file(ESSAY), _file(HANDOUT)])
    theirs = statement("b", attachments=[_file(HANDOUT)])
    store.save_statements(
        [mine, theirs],
        authority=AUTHORITY,
        credential="k1",
        version="1.0.3",
        attachments=[
            Attachment(ESSAY, "text/plain", b"an essay"),
            Attachment(HANDOUT, "text/plain", b"the class handout"),
        ],
    )
    used = sorted(attachment_hashes(mine))
    assert store.delete_unused_attachments(used, besides=[mine["id"]]) == 1
    assert [a.sha2 for a in store.get_attachments([ESSAY, HANDOUT])] == [HANDOUT]
    assert _get(store, mine["id"]) is not None  # the statement keeps its metadata
    report = retention.retire(store, [REDUCER], [(theirs, None)], projections="keep")
    assert report.attachments_deleted == 0  # `mine` still refers to the handout
    assert store.delete_unused_attachments(used, besides=[mine["id"]]) == 1
    assert store.get_attachments([ESSAY, HANDOUT]) == []


def test_documents_updated_before_and_their_deletion(store: Store) -> None:
    _doc(store, DocumentKind.STATE, f"http://example.org/act/1\x1f{key('a')}\x1f")
    _doc(store, DocumentKind.AGENT_PROFILE, "school-b\x1e" + key("b"))
    found = store.documents_updated_before(FAR)
    assert sorted((d.kind, d.scope) for d in found) == sorted(
        [
            (DocumentKind.STATE, f"http://example.org/act/1\x1f{key('a')}\x1f"),
            (DocumentKind.AGENT_PROFILE, "school-b\x1e" + key("b")),
        ]
    )
    assert store.documents_updated_before(min(d.updated for d in found)) == []
    changed = DocumentRef(
        found[0].kind, found[0].scope, found[0].doc_id, "2000-01-01T00:00:00.000Z"
    )
    assert store.erase_documents([changed]) == 0  # changed since it was found
    assert store.erase_documents(found) == 2
    assert store.documents_updated_before(FAR) == []


def test_prune_access_cuts_a_prefix_and_never_the_head(store: Store) -> None:
    for _ in range(4):
        record_read(store, SCHOOL, "xapi/statements", None, 1)
    assert store.prune_access(2) == 2
    assert [e.seq for e in store.read_access(AccessQuery(limit=10))] == [3, 4]
    assert store.prune_access(100) == 1  # the last entry stays
    assert [e.seq for e in store.read_access(AccessQuery(limit=10))] == [4]


# ------------------------------------------------------------------ the operation over each adapter


def _org_world(store: Store) -> dict[str, dict[str, Any]]:
    """Statements of org-a (credential ka), org-b (kb) and the default organisation (k1)."""
    store.save_credential(Credential("ka", "A", ("all",), "org-a", "", "platform"))
    store.save_credential(Credential("kb", "B", ("all",), "org-b", "", "platform"))
    s = {
        "a_lan": statement("lan"),
        "a_held": statement("held"),
        "a_names_held": statement(
            "lan", context={"instructor": {"mbox": "mailto:held@example.org"}}
        ),
        "b_binh": statement("binh"),
    }
    save(store, s["a_lan"], s["a_held"], s["a_names_held"], credential="ka")
    save(store, s["b_binh"], credential="kb")
    store.link_keys("person-held", [key("held")])
    _fold(store)
    return s


def _policy(store: Store, **body: Any) -> None:
    retention.put_policy(store, retention.check_policy(body, 365), ADMIN)


def test_a_dry_run_counts_and_changes_nothing(store: Store) -> None:
    s = _org_world(store)
    _policy(store, org="org-a", data_class="statements", action="delete", days=30)
    head = store.access_head()
    run = retention.run_retention(
        store, [REDUCER], access_log_min_days=365, dry_run=True, now=LATER
    )
    (outcome,) = run.as_dict()["policies"]
    assert (outcome["matched"], outcome["deleted"]) == (3, 3)
    assert all(_get(store, x["id"]) is not None for x in s.values())
    assert run.access_log_entry is None and store.access_head() == head


def test_delete_after_n_days_respects_orgs_holds_and_the_age(store: Store) -> None:
    s = _org_world(store)
    _policy(store, org="org-a", data_class="statements", action="delete", days=30)
    retention.put_hold(
        store, retention.check_hold({"subject_type": "person", "subject": "person-held"}), ADMIN
    )
    # not old enough yet: nothing happens
    early = retention.run_retention(store, [REDUCER], access_log_min_days=365)
    assert early.outcomes == {} and early.access_log_entry is None
    run = retention.run_retention(
        store, [REDUCER], access_log_min_days=365, credential=ADMIN, now=LATER
    )
    outcome = run.outcomes["org-a/statements"]
    assert (outcome.matched, outcome.held, outcome.deleted) == (3, 2, 1)
    assert _get(store, s["a_lan"]["id"]) is None
    # the held person's statement, and one that names them, are untouched; org-b too
    for name in ("a_held", "a_names_held", "b_binh"):
        assert _get(store, s[name]["id"]) is not None, name
    # evidence in the access log: who ran it and the counts, no identifiers
    policy_set, hold_placed, entry = store.read_access(AccessQuery(limit=10))
    assert (policy_set.what, policy_set.query["set"]["id"]) == (
        "retention/policy",
        "org-a/statements",
    )
    # the held person by pseudonym, as reads of them are logged
    assert hold_placed.learner == pseudonym(store, "person-held")
    assert "person-held" not in orjson.dumps(hold_placed.body()).decode()
    assert (entry.seq, entry.action, entry.credential) == (
        run.access_log_entry,
        "retention",
        "admin-1",
    )
    assert entry.query["policies"][0]["deleted"] == 1
    assert "lan" not in orjson.dumps(entry.body()).decode()
    # projections recomputed without the removed evidence (lan had one other statement)
    assert store.get_state(PROFILES, key("lan")) is not None
    assert store.get_state(PROFILES, key("held")) is not None
    # releasing the hold lets the next run take the rest
    retention.release_hold(store, "person", "person-held", ADMIN)
    again = retention.run_retention(store, [REDUCER], access_log_min_days=365, now=LATER)
    assert again.outcomes["org-a/statements"].deleted == 2
    assert store.get_state(PROFILES, key("lan")) is None
    assert store.get_state(PROFILES, key("held")) is None


def test_an_org_hold_and_anonymise_with_projections_kept(store: Store) -> None:
    s = _org_world(store)
    _policy(
        store, org="org-a", data_class="statements", action="anonymise", days=30, projections="keep"
    )
    _policy(store, org="org-b", data_class="statements", action="delete", days=30)
    retention.put_hold(
        store, retention.check_hold({"subject_type": "org", "subject": "org-b"}), ADMIN
    )
    profile = store.get_state(PROFILES, key("lan"))
    run = retention.run_retention(store, [REDUCER], access_log_min_days=365, now=LATER)
    assert run.outcomes["org-b/statements"].held == 1
    assert _get(store, s["b_binh"]["id"]) is not None
    anonymous = _get(store, s["a_lan"]["id"])
    assert anonymous is not None and anonymous["actor"] == ANONYMOUS_AGENT
    assert anonymous["authority"] == AUTHORITY
    assert store.get_state(PROFILES, key("lan")) == profile  # kept as a fact
    # a second run finds them anonymised already: nothing more to do, no new evidence
    head = store.access_head()
    retention.run_retention(store, [REDUCER], access_log_min_days=365, now=LATER)
    assert store.access_head() == head


def test_documents_and_attachments_policies(store: Store) -> None:
    store.save_credential(Credential("ka", "A", ("all",), "org-a", "", "platform"))
    with_file = statement("lan", attachments=[_file(ESSAY)])
    store.save_statements(
        [with_file],
        authority=AUTHORITY,
        credential="ka",
        version="1.0.3",
        attachments=[Attachment(ESSAY, "text/plain", b"an essay")],
    )
    _doc(store, DocumentKind.STATE, f"org-a\x1ehttp://example.org/act/1\x1f{key('lan')}\x1f")
    _doc(store, DocumentKind.STATE, f"org-a\x1ehttp://example.org/act/1\x1f{key('held')}\x1f")
    _doc(store, DocumentKind.STATE, f"http://example.org/act/1\x1f{key('lan')}\x1f")  # default org
    retention.put_hold(
        store, retention.check_hold({"subject_type": "learner", "subject": key("held")}), ADMIN
    )
    _policy(store, org="org-a", data_class="documents", days=10)
    _policy(store, org="org-a", data_class="attachments", days=10)
    run = retention.run_retention(store, [REDUCER], access_log_min_days=365, now=LATER)
    assert run.outcomes["org-a/documents"].deleted == 1
    assert run.outcomes["org-a/documents"].held == 1
    assert run.outcomes["org-a/attachments"].attachments_deleted == 1
    assert store.get_attachments([ESSAY]) == []
    assert _get(store, with_file["id"]) is not None
    left = sorted(d.scope for d in store.documents_updated_before(FAR))
    assert left == sorted(
        [
            f"org-a\x1ehttp://example.org/act/1\x1f{key('held')}\x1f",
            f"http://example.org/act/1\x1f{key('lan')}\x1f",
        ]
    )


def test_the_access_log_is_cut_past_the_legal_minimum_and_still_verifies(store: Store) -> None:
    for _ in range(3):
        record_read(store, SCHOOL, "xapi/statements", None, 1)
    assert verify(store) == (3, None)
    _policy(store, org="*", data_class="access_log", days=400)
    # 40 days later nothing is 400 days old
    assert (
        retention.run_retention(store, [], access_log_min_days=365, now=LATER).access_log_entry
        is None
    )
    much_later = datetime.now(UTC) + timedelta(days=500)
    run = retention.run_retention(store, [], access_log_min_days=365, now=much_later)
    assert run.outcomes["*/access_log"].deleted == 4  # 3 reads and the policy's entry
    entries = store.read_access(AccessQuery(limit=10))
    assert [e.seq for e in entries] == [5]  # the evidence entry, which records the cut
    assert entries[0].query["access_log_through"] == 4
    checked, problem = verify(store)
    assert problem is None and checked == 1
    # a further removal that no retention entry records is caught
    record_read(store, SCHOOL, "xapi/statements", None, 1)
    record_read(store, SCHOOL, "xapi/statements", None, 1)
    store.prune_access(5)
    assert verify(store)[1] is not None


def test_sqlite_files_keep_no_copy_of_retained_out_bytes(tmp_path: Any) -> None:
    """Deleted and anonymised statements leave no copy of their content, nor the learner's
    name, in any file of the embedded store (secure_delete, then a WAL checkpoint). The
    terms dictionary keeps the learner key (see SQLiteErasure.forget_keys, `unless_named`)."""
    from lrs.adapters.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "lrs.db")
    try:
        gone = statement("gone", result={"response": "gone's secret answer"})
        anonymised = statement("anon", result={"response": "kept answer"})
        save(store, gone, anonymised)
        _fold(store)
        store.index_now()
        assert store.get_agent_names(key("gone")) == ["GONE"]
        kept = anonymise_statement(anonymised)
        assert kept is not None
        report = retention.retire(store, [REDUCER], [(gone, None), (anonymised, kept)])
        assert report.agent_names_deleted == 2
        assert store.get_agent_names(key("gone")) == []
        files = [p for p in tmp_path.iterdir() if p.is_file()]
        assert any(p.name == "lrs.db" for p in files)
        for path in files:
            data = path.read_bytes()
            for trace in (b"gone's secret answer", b"GONE", b"ANON"):
                assert trace not in data, (path.name, trace)
    finally:
        store.close()


def test_dead_letters_follow_the_statements_retention_removed(store: Store) -> None:
    """Forwarding's dead letters are copies of statements: what retention deletes or
    anonymises is not sent on by a later replay."""
    from lrs.domain.forwarding import DeadLetter, Destination, ForwardRule, Match

    s = _org_world(store)
    untouched = statement("chi")
    save(store, untouched)  # the default organisation: no policy
    store.save_forward_rule(
        ForwardRule(
            "r1",
            "to the district",
            Match(),
            Destination("xapi", "http://lrs.test/xapi", "s3cret-password", "user"),
            max_attempts=3,
        )
    )
    records = store.read_log(0, 100)
    store.dead_letter(
        "r1",
        [
            DeadLetter("r1", r.offset, orjson.loads(r.value)["id"], r.value, 3, "HTTP 500", "x")
            for r in records
        ],
        records[-1].offset,
    )
    _policy(store, org="org-a", data_class="statements", action="anonymise", days=30)
    _policy(store, org="org-b", data_class="statements", action="delete", days=30)
    run = retention.run_retention(store, [REDUCER], access_log_min_days=365, now=LATER)
    assert (run.dead_letters_deleted, run.dead_letters_anonymised) == (1, 3)
    letters = {orjson.loads(x.data)["id"]: x.data for x in store.list_dead_letters("r1")}
    assert set(letters) == {s["a_lan"]["id"], s["a_held"]["id"], s["a_names_held"]["id"], untouched["id"]}
    for statement_id, data in letters.items():
        assert data == store.get_statement(statement_id, voided=False), statement_id
    assert b"lan@" not in b"".join(letters.values()) and b"held@" not in b"".join(letters.values())
    assert orjson.loads(letters[untouched["id"]]) == orjson.loads(records[-1].value)
    assert store.forward_state("r1").dead == 4
    again = retention.run_retention(store, [REDUCER], access_log_min_days=365, now=LATER)
    assert (again.dead_letters_deleted, again.dead_letters_anonymised) == (0, 0)


class Crash(Exception):
    pass


def _crash(*args: Any, **kwargs: Any) -> Any:
    raise Crash()


def test_a_run_cut_short_before_the_projections_is_finished_by_the_next(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statements go first, with the record of what they owe (the erasure primitives'
    `Redaction`): the next run no longer finds them, yet settles the projections, the
    names and the records."""
    s = _org_world(store)
    _policy(store, org="org-a", data_class="statements", action="delete", days=30)
    with monkeypatch.context() as patch:
        patch.setattr(store, "erase_from_projection", _crash)
        with pytest.raises(Crash):
            retention.run_retention(store, [REDUCER], access_log_min_days=365, now=LATER)
    assert _get(store, s["a_lan"]["id"]) is None
    assert store.get_state(PROFILES, key("lan")) is not None  # still owed
    assert store.redactions_owed() != []
    retention.run_retention(store, [REDUCER], access_log_min_days=365, now=LATER)
    assert store.get_state(PROFILES, key("lan")) is None
    assert store.get_agent_names(key("lan")) == []
    assert store.get_agent_names(key("binh")) == ["BINH"]
    assert store.redactions_owed() == []


def test_a_keep_run_settles_what_an_interrupted_erasure_owes_as_the_erasure_would(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Erasure and retention share the owed records: each says how its projections are
    settled, so a run whose policy keeps the projections still retracts the erased
    statements (and keeps its own as facts)."""
    _org_world(store)
    with monkeypatch.context() as patch:
        patch.setattr(store, "redactions_owed", _crash)  # after the erasure's statements
        with pytest.raises(Crash):
            erase_keys(store, erasure_keys([key("binh")]), [REDUCER])
    assert store.get_state(PROFILES, key("binh")) is not None
    _policy(
        store, org="org-a", data_class="statements", action="anonymise", days=30, projections="keep"
    )
    lan = store.get_state(PROFILES, key("lan"))
    run = retention.run_retention(store, [REDUCER], access_log_min_days=365, now=LATER)
    assert run.outcomes["org-a/statements"].anonymised == 3
    assert store.get_state(PROFILES, key("binh")) is None  # the erasure's: retracted
    assert store.get_state(PROFILES, key("lan")) == lan  # the policy's: kept as facts
    assert store.redactions_owed() == []


def test_an_anonymised_statement_is_still_found_through_the_statement_it_targets(
    store: Store,
) -> None:
    """A statement is found by the filters its StatementRef target matches (xAPI): after
    anonymising, it loses the terms of the agents it named, not those it inherited."""
    store.save_credential(Credential("ka", "A", ("all",), "org-a", "", "platform"))
    target = statement("kim")
    about = {**statement("lan"), "object": {"objectType": "StatementRef", "id": target["id"]}}
    save(store, target, about, credential="ka")  # references hold within an organisation
    assert about["id"] in ids(store, agent=key("kim"))
    retention.put_hold(  # kim's statement stays; `about` does not name kim
        store, retention.check_hold({"subject_type": "learner", "subject": key("kim")}), ADMIN
    )
    _policy(store, org="org-a", data_class="statements", action="anonymise", days=30)
    run = retention.run_retention(store, [REDUCER], access_log_min_days=365, now=LATER)
    outcome = run.outcomes["org-a/statements"]
    assert (outcome.matched, outcome.held, outcome.anonymised) == (2, 1, 1)
    assert about["id"] in ids(store, agent=key("kim"))
    assert about["id"] not in ids(store, agent=key("lan"))
