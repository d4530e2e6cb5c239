"""The forwarder: one more consumer of the store's log, with a durable offset per rule.

Each round, for every rule that is not paused and whose lease this process holds (one
sender per rule across every process of a deployment, so a destination sees its batches in
log order): send the dead letters marked for replay, then read the log after the rule's
offset, take the statements it matches (at most `rule.batch`), send them in one request,
and only then move the offset. A crash between sending and moving sends the batch again:
at least once, and harmless, because an LRS destination keeps one statement per id and a
webhook body carries the statement ids (and the batch id, the same on every retry).
A voiding statement goes wherever the statement it voids matches.

A failed batch is retried after an exponential back-off with jitter, capped; after
`rule.max_attempts` failed tries its statements go to the rule's dead letters (kept for
replay) and the offset moves past them, so one bad batch cannot hold a destination up
forever. Every batch sent and every batch given up on is entered in the access log: these
are statements leaving the LRS.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from lrs.background import BackgroundLoop
from lrs.domain.forwarding import DeadLetter, ForwardRule
from lrs.domain.records import LogRecord
from lrs.domain.times import format_stored
from lrs.forwarding.matching import matches
from lrs.forwarding.signing import sign
from lrs.ports import Store
from lrs.readmodels.memberships import authority_key
from lrs.xapi.statements import is_voiding, statement_ref_target

log = logging.getLogger("lrs.forwarding")

LEASE = "forward:"
USER_AGENT = "lrs-forwarder/1"


def retry_delay(attempt: int, base: float, cap: float, jitter: float) -> float:
    """Seconds before try `attempt + 1`: base * 2^(attempt-1), capped, then scaled by a
    random factor in [0.5, 1) (`jitter` in [0, 1)) so that senders kept failing by one
    outage do not all come back in the same instant."""
    delay = min(cap, base * 2.0 ** min(attempt - 1, 30))
    return float(delay * (0.5 + jitter / 2))


def xapi_version(values: list[bytes]) -> str:
    """The X-Experience-API-Version a batch is sent under: 2.0.0 if any statement is."""
    return "2.0.0" if any(b'"version":"2.' in value for value in values) else "1.0.3"


class Outbound:
    """One destination request: the HTTP edge, kept apart so tests can see what is sent."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.client = httpx.Client(
            timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )

    def send(self, rule: ForwardRule, values: list[bytes], delivery_id: str) -> str | None:
        """None when the destination accepted the batch, else what went wrong."""
        destination = rule.destination
        statements = b"[" + b",".join(values) + b"]"
        try:
            if destination.kind == "xapi":
                response = self.client.post(
                    destination.url.rstrip("/") + "/statements",
                    content=statements,
                    auth=(destination.username or "", destination.secret),
                    headers={
                        "Content-Type": "application/json",
                        "X-Experience-API-Version": xapi_version(values),
                    },
                )
                accepted = response.status_code in (200, 204)
            else:
                body = (
                    b'{"id":'
                    + orjson.dumps(delivery_id)
                    + b',"rule":'
                    + orjson.dumps(rule.id)
                    + b',"statements":'
                    + statements
                    + b"}"
                )
                headers = sign(destination.secret, int(time.time()), body, delivery_id)
                headers["Content-Type"] = "application/json"
                response = self.client.post(destination.url, content=body, headers=headers)
                accepted = 200 <= response.status_code < 300
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if accepted:
            return None
        return f"HTTP {response.status_code}: {response.text[:300]}"

    def close(self) -> None:
        self.client.close()


class Forwarder(BackgroundLoop):
    """Runs every rule's forwarding, in a thread of whichever process runs the processors."""

    name = "lrs-forwarder"

    def __init__(
        self,
        store: Store,
        org_of: Callable[[str | None], str],
        *,
        outbound: Outbound | None = None,
        idle: float = 0.2,
        lease: float = 15.0,
        scan: int = 5000,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(idle=idle)
        self.store = store
        self.org_of = org_of
        self.outbound = outbound or Outbound()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = lease
        self.scan = scan
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.clock = clock
        self.jitter = jitter
        self._claimed: dict[str, float] = {}  # rule id -> when this process last claimed it

    def step(self) -> int:
        work = 0
        active: set[str] = set()
        for rule in self.store.list_forward_rules():
            if rule.paused or not self._hold(rule.id):
                continue
            active.add(rule.id)
            work += self.forward(rule)
        for rule_id in set(self._claimed) - active:  # paused or deleted: let others have it
            self.store.claim_lease(LEASE + rule_id, self.owner, 0)
            del self._claimed[rule_id]
        return work

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        for rule_id in list(self._claimed):
            try:
                self.store.claim_lease(LEASE + rule_id, self.owner, 0)
            except Exception:  # the store is going away; the lease expires by itself
                log.debug("could not give the lease of rule %s back", rule_id)
        self._claimed.clear()
        self.outbound.close()

    def _hold(self, rule_id: str) -> bool:
        now = time.monotonic()
        if now - self._claimed.get(rule_id, -self.lease) < self.lease / 3:
            return True
        if self.store.claim_lease(LEASE + rule_id, self.owner, self.lease):
            self._claimed[rule_id] = now
            return True
        self._claimed.pop(rule_id, None)
        return False

    def forward(self, rule: ForwardRule) -> int:
        """One batch of `rule`: how many log records (and replayed letters) it settled."""
        state = self.store.forward_state(rule.id)
        if state.attempts and self.clock() < state.next_attempt:
            return 0
        replayed = self._replay(rule, state.attempts)
        if replayed < 0:
            return 0
        records = self.store.read_log(state.offset, self.scan)
        if not records:
            return replayed
        batch, position = self._take(rule, records, state.offset)
        if not batch:
            self.store.record_delivery(rule.id, position, 0)
            return replayed + len(records)
        values = [record.value for record in batch]
        delivery_id = f"{rule.id}:{batch[0].offset}-{batch[-1].offset}"
        error = self.outbound.send(rule, values, delivery_id)
        if error is None:
            self.store.record_delivery(rule.id, position, len(batch))
            self._audit(rule, "forward", batch[0].offset, batch[-1].offset, len(batch))
            return replayed + len(records)
        attempts = self._failed(rule, state.attempts, error)
        if attempts >= rule.max_attempts:
            letters = [self._letter(rule, record, attempts, error) for record in batch]
            self.store.dead_letter(rule.id, letters, position)
            self._audit(rule, "forward.dead_letter", batch[0].offset, batch[-1].offset, len(batch))
            log.warning(
                "forwarding rule %s (%s): %d statements moved to the dead letters after %d "
                "attempts: %s",
                rule.id,
                rule.name,
                len(batch),
                attempts,
                error,
            )
            return len(batch)
        return 0

    def _take(
        self, rule: ForwardRule, records: list[LogRecord], offset: int
    ) -> tuple[list[LogRecord], int]:
        """The first `rule.batch` matching records, and the offset through which every
        record is either in the batch or not matched."""
        batch: list[LogRecord] = []
        position = offset
        for record in records:
            statement = _decode(record.value)
            subject = None if statement is None else self._subject(statement)
            if subject is not None and matches(
                rule.match, subject, self.org_of(authority_key(subject))
            ):
                if len(batch) == rule.batch:
                    break
                batch.append(record)
            position = record.offset
        return batch, position

    def _subject(self, statement: dict[str, Any]) -> dict[str, Any]:
        """What a rule matches a statement by: a voiding statement by the statement it
        voided, so a void follows whatever the rule forwarded (its own verb and StatementRef
        object would match no rule that names verbs or activities)."""
        if is_voiding(statement):
            target = statement_ref_target(statement)
            data = None if target is None else self.store.get_statement(target, voided=True)
            voided = None if data is None else _decode(data)
            if voided is not None:
                return voided
        return statement

    def _replay(self, rule: ForwardRule, attempts: int) -> int:
        """Send dead letters marked for replay: how many went, -1 when they failed."""
        letters = self.store.list_dead_letters(rule.id, 0, rule.batch, replay_only=True)
        if not letters:
            return 0
        offsets = [letter.offset for letter in letters]
        delivery_id = f"{rule.id}:replay:{offsets[0]}-{offsets[-1]}"
        error = self.outbound.send(rule, [letter.data for letter in letters], delivery_id)
        if error is None:
            self.store.remove_dead_letters(rule.id, offsets)
            self.store.record_delivery(rule.id, 0, len(letters))
            self._audit(rule, "forward.replay", offsets[0], offsets[-1], len(letters))
            return len(letters)
        tries = self._failed(rule, attempts, error)
        if tries >= rule.max_attempts:  # back to plain dead letters until replayed again
            at = _now()
            self.store.dead_letter(
                rule.id,
                [
                    DeadLetter(rule.id, x.offset, x.statement_id, x.data, tries, error, at)
                    for x in letters
                ],
                0,
            )
        return -1

    def _failed(self, rule: ForwardRule, attempts: int, error: str) -> int:
        delay = retry_delay(attempts + 1, self.base_delay, self.max_delay, self.jitter())
        tries = self.store.record_failure(rule.id, error, self.clock() + delay)
        log.info(
            "forwarding rule %s (%s): attempt %d failed (%s); next in %.1fs",
            rule.id,
            rule.name,
            tries,
            error,
            delay,
        )
        return tries

    def _letter(
        self, rule: ForwardRule, record: LogRecord, attempts: int, error: str
    ) -> DeadLetter:
        statement = _decode(record.value) or {}
        statement_id = statement.get("id")
        return DeadLetter(
            rule.id,
            record.offset,
            statement_id if isinstance(statement_id, str) else "",
            record.value,
            attempts,
            error,
            _now(),
        )

    def _audit(self, rule: ForwardRule, action: str, first: int, last: int, count: int) -> None:
        self.store.append_access(
            {
                "at": _now(),
                "action": action,
                "credential": f"forwarding:{rule.id}",
                "name": rule.name,
                "role": "forwarder",
                "org": None,
                "what": f"forwarding/{rule.destination.kind}",
                "learner": None,
                "query": {"rule": rule.id, "url": rule.destination.url, "from": first, "to": last},
                "count": count,
            }
        )


def _decode(value: bytes) -> dict[str, Any] | None:
    try:
        statement = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return statement if isinstance(statement, dict) else None


def _now() -> str:
    return format_stored(datetime.now(UTC))
