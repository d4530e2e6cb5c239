"""Retention: policies per organisation and data class, legal holds, and the run that applies them.

A *policy* says, for one organisation and one data class, that data older than `days` is
deleted or anonymised:

- `statements` (by `stored`): `delete`, or `anonymise` (every agent in the statement but
  its authority becomes one anonymous agent, so counts per activity, verb and result
  survive and nobody is named; a signed statement is deleted instead, because its
  signature holds the original). `projections` says what the learner projections
  (profiles, competency status, memberships) do: `recompute` (the default: the statement
  is retracted and every state it fed is rebuilt without it, as after an erasure) or
  `keep` (the states stay as established facts; a later full rebuild from the log, which
  no longer holds the evidence, would lose them: rebuild only with that in mind).
- `documents` (State, Agent Profile, Activity Profile, by their last change): `delete`.
- `attachments` (the contents of the attachments of statements stored before): `delete`;
  the statements keep the attachment's metadata (hash, length, type).
- `access_log` (deployment-wide, organisation `*`): `delete` the oldest entries, never
  younger than the configured legal minimum (`retention_access_log_min_days`); a policy
  asking for less is refused. The run appends its evidence entry first, naming the last
  entry cut and its hash, so `lrs audit verify` still checks the chain from there.

A statement belongs to the organisation of the credential that stored it; a document to
the organisation whose namespace starts its scope (lrs.access). A *legal hold* on a person
(every learner key linked to them), a learner key or an organisation means none of their
data is touched, including statements that only name them elsewhere (instructor, team,
object). Every run that changes something appends one access-log entry with the counts
per policy (no identifiers); a dry run counts and changes nothing. Setting or removing a
policy and placing or releasing a hold are logged too (held persons and keys as
pseudonyms).

Every decision is made here; the store carries it out with the erasure primitives
(lrs.ports.erasure), the one way it deletes or rewrites statements, documents, attachments
and agent names. Statements go in erasure's batches, each with the record of what it owes
(`Redaction`: projections, attachments, names no statement carries any more), settled
after every few batches and again by the next run, so a run cut short anywhere is
finished by the next one (which no longer finds what was removed).
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from lrs.domain.records import DEFAULT_ORG, AccessQuery, Credential, ErasureReport
from lrs.domain.times import format_stored
from lrs.ops.audit import pseudonym
from lrs.ops.erasure import BATCH, settle_owed
from lrs.ops.forwarding import settle_dead_letters
from lrs.ports import Store
from lrs.ports.erasure import KEEP, RETRACT, DocumentRef, Redaction
from lrs.ports.retention import StoredStatement
from lrs.xapi.errors import NotFound, ValidationError
from lrs.xapi.redaction import (
    anonymise_statement,
    attachment_hashes,
    document_agent,
    erasure_keys,
    keys_named,
)

POLICY_KIND = "retention-policy"
HOLD_KIND = "legal-hold"
RUN_KIND, RUN_ID = "retention-run", "last"
DATA_CLASSES = ("statements", "documents", "attachments", "access_log")
ACTIONS = {
    "statements": ("delete", "anonymise"),
    "documents": ("delete",),
    "attachments": ("delete",),
    "access_log": ("delete",),
}
PROJECTIONS = ("recompute", "keep")
HOLD_SUBJECTS = ("person", "learner", "org")
EVERY_ORG = "*"  # the access log's policies: the log is one chain for the deployment
_T = TypeVar("_T")
_PAGE = 1000
# statements retired between two settlements of the projections (in transactions of
# lrs.ops.erasure.BATCH): a first run may find years of them, and a learner's state is
# rebuilt once per settlement
_BATCH = 5000
_ORG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # as lrs.access.ORG_NAME
_NAMESPACE_END = "\x1e"  # lrs.access: an organisation's document namespace ends with it
# Who a scheduled run is, in the access log.
SCHEDULER = Credential("lrs-retention", "retention schedule", ("admin",), None, "", "admin")


# ------------------------------------------------------------------ policies and holds


def check_policy(body: Any, access_log_min_days: int) -> dict[str, Any]:
    """The policy a request asks for, checked; ValidationError names the field."""
    if not isinstance(body, dict):
        raise ValidationError("a policy is a JSON object", "body")
    unknown = sorted(set(body) - {"org", "data_class", "action", "days", "projections"})
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(unknown)}", unknown[0])
    data_class = body.get("data_class")
    if data_class not in DATA_CLASSES:
        raise ValidationError(f"data_class must be one of {', '.join(DATA_CLASSES)}", "data_class")
    org = body.get("org", EVERY_ORG if data_class == "access_log" else DEFAULT_ORG)
    if data_class == "access_log":
        if org != EVERY_ORG:
            raise ValidationError(
                "the access log is one chain for the whole deployment: use org '*'", "org"
            )
    elif not isinstance(org, str) or not _ORG_NAME.match(org):
        raise ValidationError(
            "org must name one organisation: letters, digits, '.', '_' or '-' (at most 64)",
            "org",
        )
    action = body.get("action", "delete")
    if action not in ACTIONS[data_class]:
        raise ValidationError(f"{data_class} can be: {', '.join(ACTIONS[data_class])}", "action")
    days = body.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365_000:
        raise ValidationError("days must be a whole number of days from 1", "days")
    if data_class == "access_log" and days < access_log_min_days:
        raise ValidationError(
            f"access-log entries must be kept at least {access_log_min_days} days (the legal "
            "minimum this deployment is configured with, retention_access_log_min_days)",
            "days",
        )
    projections = body.get("projections", "recompute")
    if projections not in PROJECTIONS or (
        data_class != "statements" and projections != "recompute"
    ):
        raise ValidationError(
            "projections is recompute or keep, for statements only", "projections"
        )
    return {
        "id": policy_id(org, data_class),
        "org": org,
        "data_class": data_class,
        "action": action,
        "days": days,
        "projections": projections,
    }


def policy_id(org: str, data_class: str) -> str:
    return f"{org}/{data_class}"


def _log(
    store: Store,
    credential: Credential,
    what: str,
    query: dict[str, Any],
    count: int = 0,
    learner: str | None = None,
) -> int:
    """Evidence in the access log: who changed retention or ran it, and what (counts,
    policy ids, pseudonyms: never a learner key or person id in clear)."""
    entry = store.append_access(
        {
            "at": format_stored(datetime.now(UTC)),
            "action": "retention",
            "credential": credential.key,
            "name": credential.name,
            "role": credential.role,
            "org": credential.org,
            "what": what,
            "learner": learner,
            "count": count,
            "query": query,
        }
    )
    return entry.seq


def put_policy(store: Store, policy: dict[str, Any], credential: Credential) -> dict[str, Any]:
    store.put_definition(POLICY_KIND, policy["id"], policy)
    _log(store, credential, "retention/policy", {"set": policy})
    return policy


def policies(store: Store) -> list[dict[str, Any]]:
    return store.list_definitions(POLICY_KIND)


def delete_policy(store: Store, org: str, data_class: str, credential: Credential) -> None:
    if not store.delete_definition(POLICY_KIND, policy_id(org, data_class)):
        raise NotFound(f"no {data_class} policy for {org}", "policy")
    _log(store, credential, "retention/policy", {"removed": policy_id(org, data_class)})


def check_hold(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError("a legal hold is a JSON object", "body")
    unknown = sorted(set(body) - {"subject_type", "subject", "reason"})
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(unknown)}", unknown[0])
    kind = body.get("subject_type")
    if kind not in HOLD_SUBJECTS:
        raise ValidationError(
            f"subject_type must be one of {', '.join(HOLD_SUBJECTS)}", "subject_type"
        )
    subject = body.get("subject")
    if not isinstance(subject, str) or not subject or len(subject) > 2048:
        raise ValidationError("subject must name the person, learner key or org", "subject")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 2000:
        raise ValidationError("reason is text of at most 2000 characters", "reason")
    return {
        "id": hold_id(kind, subject),
        "subject_type": kind,
        "subject": subject,
        "reason": reason,
    }


def hold_id(kind: str, subject: str) -> str:
    return f"{kind}:{subject}"


def put_hold(store: Store, hold: dict[str, Any], credential: Credential) -> dict[str, Any]:
    existing = store.get_definition(HOLD_KIND, hold["id"])
    if existing is not None:
        hold = {**existing, "reason": hold["reason"] or existing.get("reason", "")}
    else:
        hold = {
            **hold,
            "placed": format_stored(datetime.now(UTC)),
            "placed_by": credential.key,
        }
    store.put_definition(HOLD_KIND, hold["id"], hold)
    _log_hold(store, credential, "placed", hold["subject_type"], hold["subject"])
    return hold


def _log_hold(store: Store, credential: Credential, change: str, kind: str, subject: str) -> None:
    """A person or learner held is named by pseudonym, as reads of them are (the reason
    stays with the hold: free text may name them)."""
    query: dict[str, Any] = {change: kind}
    if kind == "org":
        query["org"] = subject
    learner = None if kind == "org" else pseudonym(store, subject)
    _log(store, credential, "retention/hold", query, learner=learner)


def holds(store: Store) -> list[dict[str, Any]]:
    return store.list_definitions(HOLD_KIND)


def release_hold(store: Store, kind: str, subject: str, credential: Credential) -> None:
    if not store.delete_definition(HOLD_KIND, hold_id(kind, subject)):
        raise NotFound(f"no legal hold on {kind} {subject}", "hold")
    _log_hold(store, credential, "released", kind, subject)


@dataclass(frozen=True)
class Held:
    """What the legal holds cover now: organisations and learner keys (every spelling)."""

    orgs: frozenset[str]
    keys: frozenset[str]


def held(store: Store) -> Held:
    orgs: set[str] = set()
    keys: set[str] = set()
    for hold in holds(store):
        kind, subject = hold["subject_type"], hold["subject"]
        if kind == "org":
            orgs.add(subject)
        elif kind == "learner":
            person = store.person_of(subject)
            keys.update([subject, *(store.keys_of(person) if person else [])])
        else:  # a person nobody linked a key to yet: the id may be spelt like a key
            keys.update(store.keys_of(subject) or [subject])
    return Held(frozenset(orgs), frozenset(erasure_keys(keys)))


# ------------------------------------------------------------------ what a run does (pure)


def _touches_held(statement: dict[str, Any], held_keys: frozenset[str]) -> bool:
    return bool(held_keys) and not held_keys.isdisjoint(
        keys_named(statement) - keys_named(statement.get("authority") or {})
    )


def plan_retirement(
    batch: list[tuple[dict[str, Any], dict[str, Any] | None]], projections: str
) -> tuple[list[str], Redaction]:
    """What retiring one batch of (statement, what it becomes: None to delete it) does:
    the redaction the erasure primitives carry out, and the keys whose index terms the
    rewritten statements lose (every agent they named; their new terms are added back).
    Anonymised statements leave the projections like deleted ones (`recompute`): folded
    again, their contributions would pile up under the anonymous agent. Pure."""
    mode = RETRACT if projections == "recompute" else KEEP
    redaction = Redaction(uuid.uuid4().hex, projections=mode)
    named: set[str] = set()
    renamed: set[str] = set()
    orphans: set[str] = set()
    for statement, kept in batch:
        keys = keys_named(statement)
        named |= keys
        if kept is None:
            redaction.deleted.append(statement["id"])
            orphans |= attachment_hashes(statement)
        else:
            redaction.rewritten[statement["id"]] = kept
            renamed |= keys
    redaction.attachments = sorted(orphans)
    redaction.names = sorted(named)
    return sorted(renamed), redaction


def cutoff(days: int, now: datetime) -> str:
    return format_stored(now - timedelta(days=days))


def document_org(scope: str) -> str:
    """The organisation a document belongs to (its scope's namespace; none: the default)."""
    namespace, sep, _ = scope.partition(_NAMESPACE_END)
    return namespace if sep else DEFAULT_ORG


# ------------------------------------------------------------------ the run


@dataclass
class PolicyOutcome:
    policy: str
    matched: int = 0  # records older than the policy allows
    held: int = 0  # of which left alone: a legal hold covers them
    deleted: int = 0
    anonymised: int = 0
    attachments_deleted: int = 0
    states_rebuilt: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "matched": self.matched,
            "held": self.held,
            "deleted": self.deleted,
            "anonymised": self.anonymised,
            "attachments_deleted": self.attachments_deleted,
            "states_rebuilt": self.states_rebuilt,
        }


@dataclass
class RetentionRun:
    dry_run: bool
    at: str
    outcomes: dict[str, PolicyOutcome] = field(default_factory=dict)
    access_log_entry: int | None = None
    dead_letters_deleted: int = 0  # forwarding's copies of statements the run removed
    dead_letters_anonymised: int = 0

    def outcome(self, policy: str) -> PolicyOutcome:
        return self.outcomes.setdefault(policy, PolicyOutcome(policy))

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "at": self.at,
            "policies": [o.as_dict() for _, o in sorted(self.outcomes.items())],
            "access_log_entry": self.access_log_entry,
            "dead_letters_deleted": self.dead_letters_deleted,
            "dead_letters_anonymised": self.dead_letters_anonymised,
        }


def run_retention(
    store: Store,
    reducers: list[Any],
    *,
    access_log_min_days: int,
    dry_run: bool = False,
    credential: Credential = SCHEDULER,
    now: datetime | None = None,
) -> RetentionRun:
    """Apply every policy once (or count, with `dry_run`). Blocking; idempotent."""
    now = now or datetime.now(UTC)
    run = RetentionRun(dry_run, format_stored(now))
    by_class: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in DATA_CLASSES}
    for policy in policies(store):
        by_class[policy["data_class"]][policy["org"]] = policy
    holding = held(store)
    orgs = {c.key: c.org or DEFAULT_ORG for c in store.list_credentials()}
    _statements(store, reducers, by_class["statements"], holding, orgs, now, run)
    _attachments(store, by_class["attachments"], holding, orgs, now, run)
    _documents(store, by_class["documents"], holding, now, run)
    prune = _access_log_cut(store, by_class["access_log"], access_log_min_days, now, run)
    if not dry_run and by_class["statements"]:
        run.dead_letters_deleted, run.dead_letters_anonymised = settle_dead_letters(store)
    if dry_run or not any(
        o.deleted or o.anonymised or o.attachments_deleted for o in run.outcomes.values()
    ) and not (run.dead_letters_deleted or run.dead_letters_anonymised):
        return run
    run.access_log_entry = _log(
        store,
        credential,
        "retention/run",
        {
            "policies": [o.as_dict() for _, o in sorted(run.outcomes.items())],
            **({"access_log_through": prune[0], "access_log_anchor": prune[1]} if prune else {}),
            "dead_letters_deleted": run.dead_letters_deleted,
            "dead_letters_anonymised": run.dead_letters_anonymised,
        },
        count=sum(o.deleted + o.anonymised for o in run.outcomes.values()),
    )
    if prune:  # after the entry that records the cut: the chain is checked from there
        store.prune_access(prune[0])
    return run


def _expired(store: Store, before: str) -> Iterable[StoredStatement]:
    after = 0
    while page := store.statements_stored_before(before, after, _PAGE):
        yield from page
        after = page[-1].seq


def _due(
    store: Store,
    by_org: dict[str, dict[str, Any]],
    holding: Held,
    orgs: dict[str, str],
    now: datetime,
    run: RetentionRun,
    decide: Callable[[StoredStatement, dict[str, Any]], _T | None],
) -> Iterator[tuple[StoredStatement, PolicyOutcome, _T]]:
    """The statements older than their organisation's policy allows that `decide` takes
    (None: not this policy's business), each counted as matched; those a legal hold
    covers are counted as held and left out."""
    cutoffs = {org: cutoff(p["days"], now) for org, p in by_org.items()}
    for row in _expired(store, max(cutoffs.values())):
        org = orgs.get(row.credential, DEFAULT_ORG)
        policy = by_org.get(org)
        if policy is None or row.stored >= cutoffs[org]:
            continue
        decision = decide(row, policy)
        if decision is None:
            continue
        outcome = run.outcome(policy["id"])
        outcome.matched += 1
        if org in holding.orgs or _touches_held(row.statement, holding.keys):
            outcome.held += 1
            continue
        yield row, outcome, decision


def _statements(
    store: Store,
    reducers: list[Any],
    by_org: dict[str, dict[str, Any]],
    holding: Held,
    orgs: dict[str, str],
    now: datetime,
    run: RetentionRun,
) -> None:
    if not by_org:
        return
    for projections in PROJECTIONS:
        becomes = functools.partial(_becomes, projections)
        batch: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for row, outcome, (kept,) in _due(store, by_org, holding, orgs, now, run, becomes):
            if kept is None:
                outcome.deleted += 1
            else:
                outcome.anonymised += 1
            batch.append((row.statement, kept))
            if len(batch) >= _BATCH:
                _retire(store, reducers, batch, by_org, projections, run)
                batch = []
        _retire(store, reducers, batch, by_org, projections, run)
    if not run.dry_run:  # what an interrupted run still owes
        _spread(settle(store, reducers), by_org, None, run)


def _becomes(
    projections: str, row: StoredStatement, policy: dict[str, Any]
) -> tuple[dict[str, Any] | None] | None:
    """(what the statement becomes: None to delete it), or None when this pass over the
    statements leaves it (another `projections`, or anonymised by an earlier run)."""
    if policy["projections"] != projections:
        return None
    if policy["action"] != "anonymise":
        return (None,)
    kept = anonymise_statement(row.statement)
    return None if kept == row.statement else (kept,)


def _retire(
    store: Store,
    reducers: list[Any],
    batch: list[tuple[dict[str, Any], dict[str, Any] | None]],
    by_org: dict[str, dict[str, Any]],
    projections: str,
    run: RetentionRun,
) -> None:
    if run.dry_run or not batch:
        return
    _spread(retire(store, reducers, batch, projections=projections), by_org, projections, run)


def retire(
    store: Store,
    reducers: list[Any],
    batch: list[tuple[dict[str, Any], dict[str, Any] | None]],
    *,
    projections: str = "recompute",
) -> ErasureReport:
    """Delete (None) or replace each statement of `batch` with the erasure primitives, a
    transaction per erasure BATCH, then settle what is owed. `projections`: `recompute`
    (they leave every projection of `reducers`: retracted, states rebuilt) or `keep` (the
    states stay as facts). Attachments only the deleted ones used go, and the names of the
    agents no stored statement names any more. Ids no longer stored are passed over."""
    report = ErasureReport()
    for start in range(0, len(batch), BATCH):
        keys, redaction = plan_retirement(batch[start : start + BATCH], projections)
        deleted, rewritten = store.redact_statements(keys, redaction)
        report.statements_deleted += deleted
        report.statements_pseudonymised += rewritten
    report.add(settle(store, reducers))
    return report


def settle(store: Store, reducers: list[Any]) -> ErasureReport:
    """Settle every owed redaction, as each record says (this run's, an interrupted run's
    or an erasure's: they all need `reducers`, even a `keep` policy's run), then forget
    them and the freed bytes."""
    owed = store.redactions_owed()
    if not owed:
        return ErasureReport()
    report = settle_owed(store, reducers, owed)
    store.settle_redactions([r.id for r in owed])
    store.purge_erased()
    return report


def _spread(
    report: ErasureReport,
    by_org: dict[str, dict[str, Any]],
    projections: str | None,
    run: RetentionRun,
) -> None:
    """Attachment and state counts are per store call; put them on one policy of the call
    (the access-log entry keeps totals right; per-policy statement counts are exact)."""
    for _, policy in sorted(by_org.items()):
        if projections in (None, policy["projections"]) and policy["id"] in run.outcomes:
            outcome = run.outcomes[policy["id"]]
            outcome.attachments_deleted += report.attachments_deleted
            outcome.states_rebuilt += report.states_rebuilt
            return


def _attachments(
    store: Store,
    by_org: dict[str, dict[str, Any]],
    holding: Held,
    orgs: dict[str, str],
    now: datetime,
    run: RetentionRun,
) -> None:
    if not by_org:
        return
    ids: list[str] = []
    used: set[str] = set()

    def hashes(row: StoredStatement, policy: dict[str, Any]) -> set[str] | None:
        return attachment_hashes(row.statement) or None

    for row, _, sha2s in _due(store, by_org, holding, orgs, now, run, hashes):
        ids.append(row.id)
        used |= sha2s
    if run.dry_run or not ids:
        return
    removed = store.delete_unused_attachments(sorted(used), besides=ids)
    store.purge_erased()
    first = sorted(p["id"] for p in by_org.values() if p["id"] in run.outcomes)[0]
    run.outcomes[first].attachments_deleted += removed


def _documents(
    store: Store,
    by_org: dict[str, dict[str, Any]],
    holding: Held,
    now: datetime,
    run: RetentionRun,
) -> None:
    if not by_org:
        return
    cutoffs = {org: cutoff(p["days"], now) for org, p in by_org.items()}
    doomed: list[DocumentRef] = []
    for doc in store.documents_updated_before(max(cutoffs.values())):
        org = document_org(doc.scope)
        policy = by_org.get(org)
        if policy is None or (doc.updated or "") >= cutoffs[org]:
            continue
        outcome = run.outcome(policy["id"])
        outcome.matched += 1
        if org in holding.orgs or document_agent(doc.kind, doc.scope) in holding.keys:
            outcome.held += 1
            continue
        doomed.append(doc)
        outcome.deleted += 1
    if not run.dry_run and doomed:
        store.erase_documents(doomed)  # each only if not changed since it was found
        store.purge_erased()


def _access_log_cut(
    store: Store,
    by_org: dict[str, dict[str, Any]],
    minimum_days: int,
    now: datetime,
    run: RetentionRun,
) -> tuple[int, str] | None:
    """(last seq to cut, its hash): the oldest entries past the policy and the legal minimum."""
    policy = by_org.get(EVERY_ORG)
    if policy is None:
        return None
    before = cutoff(max(policy["days"], minimum_days), now)
    last: tuple[int, str] | None = None
    after = 0
    while page := store.read_access(AccessQuery(after=after, limit=_PAGE)):
        for entry in page:
            if entry.at >= before:
                page = []
                break
            last = (entry.seq, entry.hash)
        if not page:
            break
        after = page[-1].seq
    outcome = run.outcome(policy["id"])
    if last is None:
        return None
    first = store.read_access(AccessQuery(after=0, limit=1))
    count = last[0] - (first[0].seq - 1 if first else 0)
    outcome.matched += count
    outcome.deleted += count
    return last


def run_if_due(
    store: Store,
    reducers: list[Any],
    *,
    interval: float,
    access_log_min_days: int,
    now: datetime | None = None,
) -> RetentionRun | None:
    """A scheduled run, when `interval` seconds passed since the last one (any process's).

    The start is recorded before the run, so processors sharing a store (several `lrs
    process` workers) do not all run at once; two that start together only repeat work
    that is idempotent. A deployment without policies does nothing but read them.
    """
    now = now or datetime.now(UTC)
    if interval <= 0 or not policies(store):
        return None
    last = store.get_definition(RUN_KIND, RUN_ID)
    if last is not None and str(last.get("started", "")) > format_stored(
        now - timedelta(seconds=interval)
    ):
        return None
    store.put_definition(RUN_KIND, RUN_ID, {"started": format_stored(now)})
    return run_retention(store, reducers, access_log_min_days=access_log_min_days, now=now)
