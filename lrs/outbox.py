"""The outbox relay: every stored statement reaches the bus at least once.

The store is the system of record and answers the client first; the relay then publishes
what the store lists as unpublished and marks it published only after the bus acknowledged
it. A crash between storing and publishing, or a bus outage, only delays publication.

Every API process and worker runs a relay, and one at a time publishes: the one holding the
store's `outbox-relay` lease, renewed every few seconds. Without it each relay published
(and marked) every statement, so the workers folded each one several times and the relays'
marks contended with the workers' writes (benchmarks/PIPELINE.md). When the holder dies, its
lease expires and another relay takes over within LEASE_SECONDS.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from lrs.background import BackgroundLoop
from lrs.events.base import STATEMENTS, BusUnavailable, Event, EventBus
from lrs.ports import Store

log = logging.getLogger("lrs.outbox")

LEASE = "outbox-relay"
LEASE_SECONDS = 15.0


class OutboxRelay(BackgroundLoop):
    name = "lrs-outbox"

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        *,
        batch: int = 500,
        idle: float = 0.02,
        check_every: float = 5.0,
    ) -> None:
        super().__init__(idle=idle)
        self.store = store
        self.bus = bus
        self.batch = batch
        self.check_every = check_every
        self._last_check = 0.0
        self._outage = False
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading = False
        self._lease_check_at = 0.0

    def lead(self) -> bool:
        """Whether this relay holds the lease: renewed a third of the way through it, asked
        for again every second by the others."""
        now = time.monotonic()
        if now >= self._lease_check_at:
            was = self.leading
            self.leading = self.store.claim_lease(LEASE, self.owner, LEASE_SECONDS)
            self._lease_check_at = now + (LEASE_SECONDS / 3 if self.leading else 1.0)
            if self.leading and not was:
                log.info("this process's outbox relay publishes now (%s)", self.owner)
        return self.leading

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        if self.leading:  # hand over at once rather than after the lease runs out
            try:
                self.store.claim_lease(LEASE, self.owner, 0)
            except Exception:  # the store is going away too: the lease then runs out
                log.debug("could not give up the outbox lease", exc_info=True)
            self.leading = False

    def check_log(self) -> None:
        """If the bus lost statements (a broker that lost its disk), publish the log again.

        Decided against the store, not this relay's memory, and the store's published mark
        is reset: a relay that takes over from another (a crash, a slow publish) sees the
        loss too and finishes the republishing. Consumers are idempotent, so replaying the
        log costs time, never correctness.
        """
        if not self.bus.has_topic(STATEMENTS):
            log.warning("the bus has no %s topic: recreating it and republishing", STATEMENTS)
            self.bus.create_topics()
            lost = True
        else:
            # A broker that lost its log may have the topic again already (created by hand,
            # or by a consumer that asked for it): it then holds fewer records than the store
            # marked published. The count is the sum of end offsets, which Apache Kafka never
            # lowers (retention and transaction markers leave it higher; erasure lowers only
            # the store's count), so fewer means lost. Checked every time, not only after a
            # failed publish: a broker can lose its disk and come back between two publishes.
            lost = self.bus.records_written(STATEMENTS) < self.store.published_count()
            if lost:
                log.warning("the %s topic lost records: republishing the log", STATEMENTS)
        if lost:
            self.store.reset_published()

    def step(self) -> int:
        if not self.lead():
            return 0
        if self._outage or time.monotonic() - self._last_check > self.check_every:
            self.check_log()
            self._last_check = time.monotonic()
        began = time.monotonic()
        records = self.store.unpublished(self.batch)
        if not records:
            self._outage = False
            return 0
        self.bus.publish(STATEMENTS, [Event(r.key.encode(), r.value) for r in records])
        if time.monotonic() - began > LEASE_SECONDS / 3:
            # A slow publish may have outlived the lease, and the relay that took over may
            # have reset the mark for a republishing: marking now could skip it.
            self._lease_check_at = 0.0
            if not self.lead():
                return 0
        self.store.mark_published(records)
        self._outage = False
        return len(records)

    def failed(self, exc: Exception, attempt: int) -> float:
        self._outage = True
        if not isinstance(exc, BusUnavailable):
            log.exception("outbox relay failed; retrying")
        elif attempt == 1:
            log.warning("event bus unavailable, statements wait in the outbox: %s", exc)
        return min(0.2 * 2.0 ** min(attempt, 5), 5.0)

    def recovered(self, attempts: int) -> None:
        log.warning("event bus is back after %d failed attempts", attempts)
