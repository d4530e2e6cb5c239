"""Where connectors deliver: the embedded store, Kafka `xapi.inbound`, any LRS over HTTP,
or standard output (`--dry-run`)."""

from __future__ import annotations

import base64
import sys
import time
from typing import Any, TextIO

import httpx
import orjson

from connectors.base import Skipped
from consumers.ingest import connector_writer, ingest, triage
from lrs.events.base import INBOUND, BusUnavailable, Event
from lrs.ops.connector_runs import RunSummary, run_record
from lrs.ports import Store
from lrs.xapi.statements import learner_key


class StoreSink:
    """Validates and stores directly (embedded mode); refusals are reported, not raised."""

    def __init__(self, store: Store, source: str, base_url: str = "http://localhost") -> None:
        self.store = store
        self.source = source
        self.writer = connector_writer(source, base_url)
        self.authority = self.writer.authority
        self.rejected: list[Skipped] = []
        self.already: list[str] = []

    def send(self, statements: list[dict[str, Any]]) -> None:
        self.already.extend(held_already(self.store, statements))
        # The one ingest operation (lrs.ops.ingest), as for HTTP and the Kafka inbound topic.
        outcome = ingest(self.store, [orjson.dumps(s) for s in statements], self.writer)
        self.rejected += [Skipped(refusal.label, refusal.reason) for refusal in outcome.refused]

    def close(self) -> None:
        self.store.close()


class KafkaSink:
    """Emits to `xapi.inbound`, keyed by learner; the ingest processor validates and stores."""

    def __init__(self, bootstrap: str, source: str, topic_prefix: str = "") -> None:
        # kafka-python is the `kafka` extra: `lrs` must start without it (scripts/serve
        # installs the bare package), so it is imported when a run sends to Kafka
        from lrs.events.kafka import KafkaBus

        self.bus = KafkaBus(bootstrap, prefix=topic_prefix)
        self.topics_made = False
        self.source = source.encode()
        self.rejected: list[Skipped] = []
        self.already: list[str] = []  # the ingest processor stores repeats once, unseen here

    def send(self, statements: list[dict[str, Any]]) -> None:
        self._publish(
            [
                Event(learner_key(s).encode(), orjson.dumps(s), [("source", self.source)])
                for s in statements
            ]
        )

    def send_run(self, summary: RunSummary) -> None:
        """The run's summary, after its statements: the worker that reads it counts the run
        in the store (lrs.ops.connector_runs); keyed by source, so one source's summaries
        keep their order."""
        self._publish([Event(self.source, run_record(summary), [("source", self.source)])])

    def _publish(self, events: list[Event]) -> None:
        try:
            if not self.topics_made:  # the bus creates none by itself (lrs/events/kafka.py)
                self.bus.create_topics()
                self.topics_made = True
            self.bus.publish(INBOUND, events)
        except BusUnavailable as exc:
            raise SinkRefused(f"{exc} (is the broker running?)") from exc

    def close(self) -> None:
        self.bus.close()


class HTTPSink:
    """Posts batches to any conformant LRS, retrying with backoff on outages and 5xx."""

    def __init__(
        self,
        endpoint: str,
        key: str,
        secret: str,
        *,
        version: str = "1.0.3",
        attempts: int = 8,
        timeout: float = 30.0,
    ) -> None:
        token = base64.b64encode(f"{key}:{secret}".encode()).decode()
        self.url = endpoint.rstrip("/") + "/statements"
        self.client = httpx.Client(
            headers={
                "Authorization": f"Basic {token}",
                "X-Experience-API-Version": version,
                "Content-Type": "application/json",
            },
            timeout=timeout,
        )
        self.attempts = attempts
        self.rejected: list[Skipped] = []
        self.already: list[str] = []  # an LRS answers the same for a repeat as for a new one

    def send(self, statements: list[dict[str, Any]]) -> None:
        body = orjson.dumps(statements)
        delay = 0.5
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.client.post(self.url, content=body)
            except httpx.TransportError as exc:
                problem = f"cannot reach {self.url}: {exc}"
            else:
                if response.status_code in (200, 204):
                    return
                if response.status_code < 500 and response.status_code != 429:
                    raise SinkRefused(
                        f"{self.url} refused the batch ({response.status_code}): "
                        f"{response.text[:500]}"
                    )
                problem = f"{self.url} answered {response.status_code}"
            if attempt == self.attempts:
                raise SinkRefused(f"{problem}; gave up after {attempt} attempts")
            time.sleep(delay)
            delay = min(delay * 2, 30.0)

    def close(self) -> None:
        self.client.close()


class PrintSink:
    """`--dry-run`: statements as JSON lines, nothing stored. Validated exactly as the store
    validates them (the same `triage`), so a dry run refuses what a real run would refuse."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.rejected: list[Skipped] = []
        self.already: list[str] = []

    def send(self, statements: list[dict[str, Any]]) -> None:
        valid, rejected = triage([orjson.dumps(s) for s in statements])
        for item in rejected:
            self.rejected.append(Skipped(_label(item.payload), item.reason))
        for statement in valid:
            self.out.write(orjson.dumps(statement).decode() + "\n")

    def close(self) -> None:
        self.out.flush()


class SinkRefused(Exception):
    """The destination refused or stayed unreachable: the run stops, the checkpoint stays."""


def held_already(store: Store, statements: list[dict[str, Any]]) -> list[str]:
    """The ids of `statements` the store holds already (voided or not): a connector's ids are
    deterministic, so these are repeats of an earlier run, stored once and counted apart."""
    found = []
    for statement in statements:
        sid = statement.get("id")
        if isinstance(sid, str) and any(
            store.get_statement(sid, voided=voided) is not None for voided in (False, True)
        ):
            found.append(sid)
    return found


def _label(payload: bytes) -> str:
    try:
        return str(orjson.loads(payload).get("id", "?"))
    except (orjson.JSONDecodeError, AttributeError):
        return "?"
