"""The figures behind /metrics, collected by one function (`collect`) so that any reader
(the Prometheus text below, a dashboard) gets the same ones, and rendered in Prometheus'
text format.

Two kinds of figure: those this process counts as it serves (requests, latency per route,
its ingest rate) are per process, as Prometheus expects (it sums the replicas); those read
from the store or the broker at collection time (statements stored per organisation by every
process, projection backlog and lag, outbox backlog, dead letters, connector runs) are the
deployment's, the same from every replica. Collection reads the store and, scaled out, asks
the broker: call it in a thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lrs.access import org_resolver
from lrs.domain.metrics import Family, prometheus_lines
from lrs.domain.times import parse_stored
from lrs.events.base import DLQ, BusUnavailable
from lrs.ops.connector_runs import connector_runs
from lrs.ops.stored_counts import statements_stored
from lrs.ports import Store
from lrs.xapi.errors import XAPIError

log = logging.getLogger("lrs.api")

ConsumerLag = Callable[[], dict[str, dict[int, int]]]
ForwardingFamilies = Callable[[], list[Family]]
# Seconds: from a cached read (~1 ms) to a slow export; anything above 10 s is one bucket.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"  # requests no route took: one label, not one per path sent


class Reducer(Protocol):
    @property
    def name(self) -> str: ...


@dataclass
class Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    count: int = 0
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1


RATE_WINDOW = 60.0  # seconds the ingest rate is averaged over


class Metrics:
    """What this process counts as it serves; `collect` adds what the store and bus say."""

    def __init__(
        self,
        consumer_lag: ConsumerLag | None = None,
        records_written: Callable[[str], int] | None = None,
        forwarding: ForwardingFamilies | None = None,
    ) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latency: dict[tuple[str, str], Histogram] = {}
        self.recent: deque[tuple[float, int]] = deque()  # (when, how many) within RATE_WINDOW
        self.started = time.time()
        self.consumer_lag = consumer_lag
        self.records_written = records_written
        self.forwarding = forwarding  # lrs.forwarding.metrics.forwarding_families
        self._lock = threading.Lock()
        self._org_of_key: Callable[[str | None], str] | None = None  # cached per store

    def org_of_key(self, store: Store) -> Callable[[str | None], str]:
        """Credential key -> organisation, cached for this process (an organisation never
        changes; lrs.access.org_resolver)."""
        if self._org_of_key is None:
            self._org_of_key = org_resolver(store)
        return self._org_of_key

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, status)] += 1
            self.latency.setdefault((method, route), Histogram()).observe(seconds)

    def count_stored(self, statements: int) -> None:
        """Statements this process stored, for its ingest rate (the deployment's count per
        organisation is the store's: lrs.ops.stored_counts)."""
        now = time.time()
        with self._lock:
            self.recent.append((now, statements))
            self._forget_before(now - RATE_WINDOW)

    def _forget_before(self, moment: float) -> None:
        while self.recent and self.recent[0][0] < moment:
            self.recent.popleft()

    def ingest_rate(self, now: float) -> float:
        """Statements stored per second over the last RATE_WINDOW seconds (or since start),
        so the operations page shows a rate without a Prometheus server to derive one."""
        with self._lock:
            self._forget_before(now - RATE_WINDOW)
            stored = sum(count for _, count in self.recent)
        return stored / max(1.0, min(RATE_WINDOW, now - self.started))


@dataclass
class Projection:
    name: str
    backlog: int  # statements stored and not yet folded into this projection
    lag_seconds: float  # age of the oldest of them (0 when there is none)


@dataclass
class Figures:
    uptime_seconds: float
    requests: dict[tuple[str, int], int]
    latency: dict[tuple[str, str], Histogram]
    stored: dict[str, int]  # per organisation, by every process of the deployment, ever
    ingest_rate: float  # statements per second over the last minute, this process
    projections: list[Projection] | None  # None: the processors consume Kafka (see lag)
    outbox_backlog: int | None  # None: no bus, so no outbox
    dead_letters: int | None  # None: no Kafka (refusals are answered at once)
    kafka_up: bool | None
    kafka_lag: dict[str, dict[int, int]]
    connector_runs: list[dict[str, Any]]
    forwarding: list[Family] = field(default_factory=list)  # delivery state per forwarding rule
    problems: list[str] = field(default_factory=list)  # what could not be read, and why


def _projection(store: Store, name: str, now: datetime) -> Projection:
    offset = store.get_offset(f"processor:{name}")  # consumers.runtime.local.offset_name
    backlog = store.count_after(offset)
    lag = 0.0
    if backlog:
        oldest = store.read_log(offset, 1)
        stored = orjson.loads(oldest[0].value).get("stored") if oldest else None
        if isinstance(stored, str):
            lag = max(0.0, (now - parse_stored(stored)).total_seconds())
    return Projection(name, backlog, lag)


def collect(
    metrics: Metrics, store: Store, reducers: Sequence[Reducer], *, bus: bool
) -> Figures:
    """Every figure /metrics shows, as plain data. Blocking (store reads, broker queries)."""
    problems: list[str] = []
    with metrics._lock:
        requests = dict(metrics.requests)
        latency = {k: Histogram(list(h.buckets), h.count, h.total) for k, h in metrics.latency.items()}
    now = datetime.now(UTC)
    projections = None if bus else [_projection(store, r.name, now) for r in reducers]
    outbox = store.unpublished_count() if bus else None
    kafka_up: bool | None = None
    lag: dict[str, dict[int, int]] = {}
    dead: int | None = None
    if metrics.consumer_lag is not None:
        try:
            lag = metrics.consumer_lag()
            kafka_up = True
            if metrics.records_written is not None:
                dead = metrics.records_written(DLQ)
        except BusUnavailable as exc:
            log.warning("no Kafka figures for /metrics: %s", exc)
            problems.append(str(exc))
            kafka_up = False
    forwarding: list[Family] = []
    if metrics.forwarding is not None:
        try:
            forwarding = metrics.forwarding()
        except XAPIError as exc:  # the store is unavailable: the rest still answers
            log.warning("no forwarding state for /metrics: %s", exc)
            problems.append(str(exc))
    return Figures(
        uptime_seconds=time.time() - metrics.started,
        requests=requests,
        latency=latency,
        stored=statements_stored(store, metrics.org_of_key(store)),
        ingest_rate=metrics.ingest_rate(time.time()),
        projections=projections,
        outbox_backlog=outbox,
        dead_letters=dead,
        kafka_up=kafka_up,
        kafka_lag=lag,
        connector_runs=connector_runs(store),
        forwarding=forwarding,
        problems=problems,
    )


def families(figures: Figures) -> list[Family]:
    """Every figure as metric families: what /metrics writes (`render`) and the operations
    page lists (lrs.web.figures)."""
    out: list[Family] = []

    def family(name: str, kind: str, text: str) -> Family:
        out.append(Family(name, kind, text))
        return out[-1]

    f = family("lrs_http_requests_total", "counter", "HTTP requests answered, by method and status.")
    for (method, status), count in sorted(figures.requests.items()):
        f.add(count, method=method, status=status)
    f = family(
        "lrs_http_request_duration_seconds", "histogram",
        "Time to answer, by method and route (the route's path template).",
    )
    for (method, route), hist in sorted(figures.latency.items()):
        for bound, count in zip(LATENCY_BUCKETS, hist.buckets, strict=True):
            f.sample(f"{f.name}_bucket", count, method=method, route=route, le=f"{bound:g}")
        f.sample(f"{f.name}_bucket", hist.count, method=method, route=route, le="+Inf")
        f.sample(f"{f.name}_sum", f"{hist.total:.6f}", method=method, route=route)
        f.sample(f"{f.name}_count", hist.count, method=method, route=route)
    f = family(
        "lrs_statements_stored_total", "counter",
        "Statements stored by every process of the deployment (API, lrs process workers, "
        "lrs connect into the store), ever, by the organisation of the credential that "
        "stored them; read from the store, the same from every replica.",
    )
    for org, count in sorted(figures.stored.items()):
        f.add(count, org=org)
    f = family("lrs_ingest_statements_per_second", "gauge",
               f"Statements this process stored per second over the last {RATE_WINDOW:.0f} s.")
    f.add(f"{figures.ingest_rate:.3f}")
    if figures.projections is not None:
        f = family("lrs_projection_backlog", "gauge",
                   "Stored statements a projection has not folded yet.")
        for p in figures.projections:
            f.add(p.backlog, projection=p.name)
        f = family("lrs_projection_lag_seconds", "gauge",
                   "Age of the oldest statement a projection has not folded yet (0: none).")
        for p in figures.projections:
            f.add(f"{p.lag_seconds:.3f}", projection=p.name)
    if figures.outbox_backlog is not None:
        f = family("lrs_outbox_backlog", "gauge",
                   "Stored statements the outbox relay has not published to Kafka yet.")
        f.add(figures.outbox_backlog)
    if figures.kafka_up is not None:
        f = family("lrs_kafka_up", "gauge", "Whether the broker answered the queries for /metrics.")
        f.add(int(figures.kafka_up))
        f = family(
            "lrs_kafka_consumer_lag", "gauge",
            "Records the `lrs process` workers have not committed yet: the broker's end "
            "offset less the group's committed offset.",
        )
        for topic, partitions in sorted(figures.kafka_lag.items()):
            for partition, records in sorted(partitions.items()):
                f.add(records, topic=topic, partition=partition)
    if figures.dead_letters is not None:
        f = family("lrs_dead_letters_total", "counter",
                   "Inbound records refused into the xapi.dlq topic, ever.")
        f.add(figures.dead_letters)
    f = family(
        "lrs_connector_runs_total", "counter",
        "`lrs connect` runs, by source and outcome (ok, refused, failed): into the store, "
        "to Kafka (counted by the worker that reads the run's summary) and to another LRS "
        "(counted in the local store when there is one).",
    )
    for run in figures.connector_runs:
        for outcome, count in sorted(run.get("runs", {}).items()):
            f.add(count, source=run["id"], outcome=outcome)
    f = family("lrs_connector_last_run_timestamp_seconds", "gauge",
               "When each source's last run ended (Unix time).")
    for run in figures.connector_runs:
        f.add(f"{parse_stored(run['last_run']).timestamp():.0f}", source=run["id"])
    out += figures.forwarding
    f = family("lrs_uptime_seconds", "gauge", "Seconds since the process started.")
    f.add(f"{figures.uptime_seconds:.0f}")
    return out


def render(figures: Figures) -> str:
    """Prometheus text format (version 0.0.4)."""
    return "\n".join(prometheus_lines(families(figures))) + "\n"


class CountRequests:
    """Counts every answer and times it, by the route that took the request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)
