"""The outbox relay: every stored statement reaches the bus at least once.

The store is the system of record and answers the client first; the relay then publishes
what the store lists as unpublished and marks it published only after the bus acknowledged
it. A crash between storing and publishing, or a bus outage, only delays publication.
"""

from __future__ import annotations

import logging
import time

from lrs.background import BackgroundLoop
from lrs.events.base import STATEMENTS, BusUnavailable, Event, EventBus
from lrs.storage.base import Store

log = logging.getLogger("lrs.outbox")


def relay_once(store: Store, bus: EventBus, batch: int = 500) -> int:
    """Publish the next unpublished statements; how many were published."""
    records = store.unpublished(batch)
    if not records:
        return 0
    bus.publish(STATEMENTS, [Event(r.key.encode(), r.value) for r in records])
    store.mark_published(records)
    return len(records)


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
        self.published = 0
        self._last_check = 0.0
        self._outage = False
        self._bus_outage = False  # the bus failed (not the store): it may have lost records
        self._republish_at: int | None = None  # log position of a republishing in progress

    def check_log(self) -> None:
        """If the bus lost statements (a broker that lost its data), republish the whole log.

        Consumers are idempotent, so replaying the log costs time, never correctness. The
        relay walks the log itself rather than resetting the store's published mark: another
        relay on the same store (`lrs serve` and `lrs process` both run one) marking its own
        new records published would move that shared mark past the replay.
        """
        if not self.bus.has_topic(STATEMENTS):
            log.warning("the bus has no %s topic: recreating it and republishing", STATEMENTS)
            self.bus.create_topics()
            lost = True
        else:
            # A broker that lost its log may have the topic again already (a consumer or
            # producer asked for it): it then holds fewer records than this relay published
            # to it. The count is the sum of end offsets, which Apache Kafka never lowers
            # (retention and transaction markers only leave it higher), so fewer means lost.
            # Only after a failed publish: a broker that kept answering lost nothing, and a
            # check every few seconds would cost a consumer's connection each time.
            lost = self._bus_outage and self.bus.records_written(STATEMENTS) < self.published
            if lost:
                log.warning("the %s topic lost records: republishing the log", STATEMENTS)
        if lost:
            self._republish_at = 0
            self.published = 0  # what the bus holds now, from this relay

    def step(self) -> int:
        if self._outage or time.monotonic() - self._last_check > self.check_every:
            self.check_log()
            self._last_check = time.monotonic()
        if self._republish_at is not None:
            records = self.store.read_log(self._republish_at, self.batch)
            if records:
                self.bus.publish(STATEMENTS, [Event(r.key.encode(), r.value) for r in records])
                # They are on the bus now: marking them (the mark only moves forward) keeps
                # the outbox from publishing the never-published ones a second time (a new
                # broker and a store with a backlog used to get the backlog twice).
                self.store.mark_published(records)
                self._republish_at = records[-1].offset
            else:
                self._republish_at = None
            sent = len(records)
        else:
            sent = relay_once(self.store, self.bus, self.batch)
        self._outage = self._bus_outage = False
        self.published += sent
        return sent

    def failed(self, exc: Exception, attempt: int) -> float:
        self._outage = True
        self._bus_outage = self._bus_outage or isinstance(exc, BusUnavailable)
        if not isinstance(exc, BusUnavailable):
            log.exception("outbox relay failed; retrying")
        elif attempt == 1:
            log.warning("event bus unavailable, statements wait in the outbox: %s", exc)
        return min(0.2 * 2.0 ** min(attempt, 5), 5.0)

    def recovered(self, attempts: int) -> None:
        log.warning("event bus is back after %d failed attempts", attempts)
