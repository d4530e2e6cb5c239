"""The figures behind /metrics, collected by one function (`collect`) so that any reader
(the Prometheus text below, a dashboard) gets the same ones, and rendered in Prometheus'
text format.

Two kinds of figure: those this process counts as it serves (requests, latency per route,
statements it stored per organisation) are per process, as Prometheus expects (it sums the
replicas); those read from the store or the broker at collection time (projection backlog and
lag, outbox backlog, dead letters, connector runs) are the deployment's, the same from every
replica. Collection reads the store and, scaled out, asks the broker: call it in a thread.
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

from lrs.access import org_of
from lrs.domain.records import Credential
from lrs.domain.times import parse_stored
from lrs.events.base import DLQ, BusUnavailable
from lrs.ops.connector_runs import connector_runs
from lrs.ports import Store
from lrs.xapi.errors import XAPIError

log = logging.getLogger("lrs.api")

ConsumerLag = Callable[[], dict[str, dict[int, int]]]
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
        forwarding: Callable[[], list[str]] | None = None,
    ) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latency: dict[tuple[str, str], Histogram] = {}
        self.stored: Counter[str] = Counter()
        self.recent: deque[tuple[float, int]] = deque()  # (when, how many) within RATE_WINDOW
        self.started = time.time()
        self.consumer_lag = consumer_lag
        self.records_written = records_written
        self.forwarding = forwarding  # lrs.forwarding.metrics: ready-made Prometheus lines
        self._lock = threading.Lock()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, status)] += 1
            self.latency.setdefault((method, route), Histogram()).observe(seconds)

    def count_stored(self, credential: Credential, statements: int) -> None:
        """Statements this process stored for the credential's organisation."""
        now = time.time()
        with self._lock:
            self.stored[org_of(credential)] += statements
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
    stored: dict[str, int]
    ingest_rate: float  # statements per second over the last minute, this process
    projections: list[Projection] | None  # None: the processors consume Kafka (see lag)
    outbox_backlog: int | None  # None: no bus, so no outbox
    dead_letters: int | None  # None: no Kafka (refusals are answered at once)
    kafka_up: bool | None
    kafka_lag: dict[str, dict[int, int]]
    connector_runs: list[dict[str, Any]]
    forwarding: list[str] = field(default_factory=list)  # Prometheus lines per forwarding rule
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
        stored = dict(metrics.stored)
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
    forwarding: list[str] = []
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
        stored=stored,
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


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(lines: list[str], name: str, kind: str, text: str) -> None:
    lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]


def render(figures: Figures) -> str:
    """Prometheus text format (version 0.0.4)."""
    lines: list[str] = []
    _family(lines, "lrs_http_requests_total", "counter", "HTTP requests answered, by method and status.")
    for (method, status), count in sorted(figures.requests.items()):
        lines.append(f'lrs_http_requests_total{{method="{method}",status="{status}"}} {count}')
    _family(
        lines, "lrs_http_request_duration_seconds", "histogram",
        "Time to answer, by method and route (the route's path template).",
    )
    for (method, route), hist in sorted(figures.latency.items()):
        labels = f'method="{method}",route="{_label(route)}"'
        for bound, count in zip(LATENCY_BUCKETS, hist.buckets, strict=True):
            lines.append(f'lrs_http_request_duration_seconds_bucket{{{labels},le="{bound:g}"}} {count}')
        lines.append(f'lrs_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {hist.count}')
        lines.append(f"lrs_http_request_duration_seconds_sum{{{labels}}} {hist.total:.6f}")
        lines.append(f"lrs_http_request_duration_seconds_count{{{labels}}} {hist.count}")
    _family(
        lines, "lrs_statements_stored_total", "counter",
        "Statements this process stored over xAPI and Caliper, by the organisation of the "
        "credential that sent them.",
    )
    for org, count in sorted(figures.stored.items()):
        lines.append(f'lrs_statements_stored_total{{org="{_label(org)}"}} {count}')
    _family(lines, "lrs_ingest_statements_per_second", "gauge",
            f"Statements this process stored per second over the last {RATE_WINDOW:.0f} s.")
    lines.append(f"lrs_ingest_statements_per_second {figures.ingest_rate:.3f}")
    if figures.projections is not None:
        _family(lines, "lrs_projection_backlog", "gauge",
                "Stored statements a projection has not folded yet.")
        for p in figures.projections:
            lines.append(f'lrs_projection_backlog{{projection="{p.name}"}} {p.backlog}')
        _family(lines, "lrs_projection_lag_seconds", "gauge",
                "Age of the oldest statement a projection has not folded yet (0: none).")
        for p in figures.projections:
            lines.append(f'lrs_projection_lag_seconds{{projection="{p.name}"}} {p.lag_seconds:.3f}')
    if figures.outbox_backlog is not None:
        _family(lines, "lrs_outbox_backlog", "gauge",
                "Stored statements the outbox relay has not published to Kafka yet.")
        lines.append(f"lrs_outbox_backlog {figures.outbox_backlog}")
    if figures.kafka_up is not None:
        _family(lines, "lrs_kafka_up", "gauge", "Whether the broker answered the queries for /metrics.")
        lines.append(f"lrs_kafka_up {int(figures.kafka_up)}")
        _family(
            lines, "lrs_kafka_consumer_lag", "gauge",
            "Records the `lrs process` workers have not committed yet: the broker's end "
            "offset less the group's committed offset.",
        )
        for topic, partitions in sorted(figures.kafka_lag.items()):
            for partition, records in sorted(partitions.items()):
                lines.append(
                    f'lrs_kafka_consumer_lag{{topic="{topic}",partition="{partition}"}} {records}'
                )
    if figures.dead_letters is not None:
        _family(lines, "lrs_dead_letters_total", "counter",
                "Inbound records refused into the xapi.dlq topic, ever.")
        lines.append(f"lrs_dead_letters_total {figures.dead_letters}")
    _family(lines, "lrs_connector_runs_total", "counter",
            "`lrs connect` runs into the store, by source and outcome (ok, refused, failed).")
    for run in figures.connector_runs:
        for outcome, count in sorted(run.get("runs", {}).items()):
            lines.append(
                f'lrs_connector_runs_total{{source="{_label(run["id"])}",outcome="{outcome}"}} {count}'
            )
    _family(lines, "lrs_connector_last_run_timestamp_seconds", "gauge",
            "When each source's last run into the store ended (Unix time).")
    for run in figures.connector_runs:
        moment = parse_stored(run["last_run"]).timestamp()
        lines.append(
            f'lrs_connector_last_run_timestamp_seconds{{source="{_label(run["id"])}"}} {moment:.0f}'
        )
    lines += figures.forwarding
    _family(lines, "lrs_uptime_seconds", "gauge", "Seconds since the process started.")
    lines.append(f"lrs_uptime_seconds {figures.uptime_seconds:.0f}")
    return "\n".join(lines) + "\n"


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
