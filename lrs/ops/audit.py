"""The access log: every read of learner data by an auditor or a school, hash-chained.

Routes call `record_read` once they know what they will answer and before answering: if
the read cannot be logged, it is refused (an unlogged read is what the log exists to rule
out). Learners and persons are logged as HMAC pseudonyms (`pseudonym`), never in clear, so
the log can be kept after a person is erased; whoever holds the secret can still find the
entries about a given key (`GET /api/v1/audit?learner=KEY` computes the pseudonym).

`find_problem` checks a whole chain: each entry's hash covers its content and the previous
hash, and the head record (moved with each append) covers the tail. It names the first
entry changed, removed, inserted or reordered.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from lrs.domain.records import (
    GENESIS,
    AccessEntry,
    AccessHead,
    AccessQuery,
    Credential,
    ErasureReport,
)
from lrs.domain.times import format_stored
from lrs.ops.access_log import access_hash
from lrs.ops.deployment_secrets import deployment_secret
from lrs.ports import Store
from lrs.xapi.statements import learner_key

LOGGED_ROLES = frozenset({"auditor", "school"})
SECRET_ID = "access-log-pseudonyms"  # its name among the deployment secrets


def audit_secret(store: Store) -> bytes:
    """LRS_AUDIT_SECRET when set (set it wherever several processes share a store);
    otherwise a random secret kept in the store, made on first use."""
    return deployment_secret(store, "LRS_AUDIT_SECRET", SECRET_ID)


def pseudonym(store: Store, value: str) -> str:
    """The learner key or person id as it appears in the access log."""
    digest = hmac.new(audit_secret(store), value.encode(), hashlib.sha256).hexdigest()
    return "hmac:" + digest[:32]


def is_logged(credential: Credential) -> bool:
    return credential.role in LOGGED_ROLES or "auditor" in credential.scopes


def _record(credential: Credential, action: str, what: str) -> dict[str, Any]:
    return {
        "at": format_stored(datetime.now(UTC)),
        "action": action,
        "credential": credential.key,
        "name": credential.name,
        "role": credential.role,
        "org": credential.org,
        "what": what,
    }


def record_read(
    store: Store,
    credential: Credential,
    what: str,
    learner: str | None,
    count: int,
    query: dict[str, Any] | None = None,
) -> AccessEntry | None:
    """Log a read if the credential's reads are logged (auditors, schools).

    `what` names the resource ("xapi/statements", "learner/profile", ...); `learner` is the
    learner key or person id read (pseudonymised here), None for a query over many;
    `query` holds the parameters that identify nobody (verb, activity, since, framework).
    Blocking: call it through `in_thread` from a route.
    """
    if not is_logged(credential):
        return None
    record = _record(credential, "read", what)
    record.update(
        learner=None if learner is None else pseudonym(store, learner),
        count=count,
        query={k: v for k, v in (query or {}).items() if v is not None},
    )
    return store.append_access(record)


def statement_learner(raw: bytes) -> str:
    """The learner a stored statement is filed under (its actor), for `record_read`."""
    return learner_key(orjson.loads(raw))


def record_erasure(
    store: Store, credential: Credential, subject: str, keys: list[str], report: ErasureReport
) -> AccessEntry:
    """Log an erasure: who, when, the counts, and pseudonyms of the person and their keys
    (the same pseudonyms earlier reads of them carry), never the identifiers."""
    record = _record(credential, "erase", "erasure")
    record.update(
        learner=pseudonym(store, subject),
        count=report.statements_deleted + report.statements_pseudonymised,
        query={**report.counts(), "keys": sorted(pseudonym(store, k) for k in keys)},
    )
    return store.append_access(record)


def entries(store: Store, page: int = 1000) -> Iterator[AccessEntry]:
    """The whole log in seq order."""
    after = 0
    while batch := store.read_access(AccessQuery(after=after, limit=page)):
        yield from batch
        after = batch[-1].seq


@dataclass(frozen=True)
class ChainProblem:
    kind: str  # changed, removed, inserted, reordered
    seq: int  # the first entry concerned
    message: str


def find_problem(
    log: list[AccessEntry], head: AccessHead | None, anchor: AccessHead | None = None
) -> ChainProblem | None:
    """The first break in the chain, or None when the log is intact.

    `head` is the store's head record; `anchor` an (seq, hash) noted elsewhere earlier
    (`lrs audit head`), which also catches a rewrite of the log together with its head.
    """
    hashes = {entry.hash: index for index, entry in enumerate(log)}
    prev_hash, prev_seq = pruned_start(log)
    for index, entry in enumerate(log):
        intact = access_hash(entry.prev, entry.body()) == entry.hash
        linked = entry.prev == prev_hash
        if intact and linked and entry.seq == prev_seq + 1:
            prev_hash, prev_seq = entry.hash, entry.seq
            continue
        return _classify(log, index, hashes, prev_hash, prev_seq, intact, linked)
    if anchor is not None and (not log or anchor.seq >= log[0].seq):
        at = next((e for e in log if e.seq == anchor.seq), None)
        if at is None:
            return ChainProblem(
                "removed", anchor.seq, f"entry {anchor.seq}, the anchored head, was removed"
            )
        if at.hash != anchor.hash:
            return ChainProblem(
                "changed",
                anchor.seq,
                f"entry {anchor.seq} differs from the anchored head: the log up to it was "
                "rewritten",
            )
    if head is None:
        if log:
            return ChainProblem("removed", prev_seq, "the head record was removed")
        return None
    if head.seq > prev_seq:
        return ChainProblem(
            "removed",
            prev_seq + 1,
            f"entries {prev_seq + 1} to {head.seq} were removed (the head says {head.seq})",
        )
    if head.seq < prev_seq:
        return ChainProblem(
            "inserted",
            head.seq + 1,
            f"entries {head.seq + 1} to {prev_seq} were appended behind the head's back",
        )
    if head.hash != prev_hash:
        return ChainProblem(
            "changed", prev_seq, f"entry {prev_seq} was changed and resealed (the head differs)"
        )
    return None


def pruned_start(log: list[AccessEntry]) -> tuple[str, int]:
    """Where the chain starts: the genesis, or the cut a retention run recorded.

    A run that removes the oldest entries (lrs.ops.retention) first appends an entry naming
    the last one it cuts and that entry's hash; the remaining log must start right after
    it, linked to that hash. Anything else missing at the start is a removal.
    """
    if not log or log[0].seq == 1:
        return GENESIS, 0
    first = log[0]
    for entry in log:
        if (
            entry.action == "retention"
            and entry.query.get("access_log_through") == first.seq - 1
            and entry.query.get("access_log_anchor") == first.prev
        ):
            return first.prev, first.seq - 1
    return GENESIS, 0


def _classify(
    log: list[AccessEntry],
    index: int,
    hashes: dict[str, int],
    prev_hash: str,
    prev_seq: int,
    intact: bool,
    linked: bool,
) -> ChainProblem:
    """Name what happened at the first entry that does not follow from the one before."""
    entry = log[index]
    following = log[index + 1] if index + 1 < len(log) else None
    before_previous = GENESIS if index < 2 else log[index - 2].hash
    if not linked and hashes.get(entry.prev, -1) > index:
        after = log[hashes[entry.prev]].seq
        return ChainProblem(
            "reordered",
            entry.seq,
            f"entry {entry.seq} is out of order: it was written after the entry now at {after}",
        )
    if following is not None and following.prev == prev_hash and entry.hash != prev_hash:
        return ChainProblem(
            "inserted", entry.seq, f"entry {entry.seq} was inserted: the next one links past it"
        )
    if index >= 1 and not linked and entry.prev == before_previous:
        forged = log[index - 1].seq
        return ChainProblem(
            "inserted", forged, f"entry {forged} was inserted: entry {entry.seq} links past it"
        )
    if linked and not intact:
        return ChainProblem(
            "changed", entry.seq, f"entry {entry.seq} was changed: its hash no longer matches"
        )
    if not linked and entry.seq > prev_seq + 1:
        return ChainProblem(
            "removed",
            prev_seq + 1,
            f"entries {prev_seq + 1} to {entry.seq - 1} were removed"
            if entry.seq > prev_seq + 2
            else f"entry {prev_seq + 1} was removed",
        )
    return ChainProblem(
        "changed",
        entry.seq,
        f"the chain breaks at entry {entry.seq}: it, or the entry before it, was changed",
    )


def verify(store: Store, anchor: AccessHead | None = None) -> tuple[int, ChainProblem | None]:
    """(entries checked, the first problem or None)."""
    log = list(entries(store))
    return len(log), find_problem(log, store.access_head(), anchor)
