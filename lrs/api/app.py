"""The ASGI application: routes, middleware and the store it serves."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consumers.reducers.enabled import reducers
from consumers.runtime.local import LocalRunner, ProcessRunner, rebuild
from consumers.runtime.retention import RetentionLoop, RetentionSchedule
from lrs.access import org_resolver
from lrs.api import caliper, redact
from lrs.api.alternate import AlternateRequestSyntax
from lrs.api.headers import SecurityHeaders, cors_middleware
from lrs.api.limits import BodyLimit
from lrs.api.ratelimit import RateLimit
from lrs.api.timeouts import RequestTimeout
from lrs.api.v1 import (
    audit,
    competencies,
    erasure,
    forwarding,
    history,
    learners,
    openapi,
    persons,
    retention,
)
from lrs.api.xapi import about, agents, documents, statements
from lrs.api.xapi.common import error_response, json_response
from lrs.auth import Authenticator
from lrs.config import Settings
from lrs.events import EventBus, open_bus
from lrs.events.base import BusUnavailable
from lrs.forwarding.delivery import Forwarder
from lrs.forwarding.metrics import forwarding_lines
from lrs.memory import MemoryReleaser
from lrs.oidc import BearerVerifier
from lrs.outbox import OutboxRelay
from lrs.readmodels import COMPETENCIES
from lrs.storage import open_store_waiting
from lrs.storage.base import Store
from lrs.xapi.errors import XAPIError

log = logging.getLogger("lrs.api")

Endpoint = Callable[[Request], Awaitable[Response]]


def dispatch(handlers: dict[str, Endpoint]) -> Endpoint:
    """One endpoint per path; HEAD answers like GET without the body."""

    async def endpoint(request: Request) -> Response:
        method = request.method
        handler = handlers.get("GET" if method == "HEAD" else method)
        if handler is None:
            return json_response(
                {"error": {"code": "method_not_allowed", "message": f"{method} is not allowed here"}},
                405,
            )
        response = await handler(request)
        if method == "HEAD":
            response.body = b""
        return response

    return endpoint


def _methods(handlers: dict[str, Endpoint]) -> list[str]:
    methods = list(handlers)
    if "GET" in methods:
        methods.append("HEAD")
    return methods


ConsumerLag = Callable[[], dict[str, dict[int, int]]]


class Metrics:
    """Request counts for /metrics, in Prometheus text format; scaled out, the processors'
    consumer lag as the broker reports it (`render` then blocks on the broker: call it in a
    thread)."""

    def __init__(
        self,
        consumer_lag: ConsumerLag | None = None,
        forwarding: Callable[[], list[str]] | None = None,
    ) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.started = time.time()
        self.consumer_lag = consumer_lag
        self.forwarding = forwarding

    def render(self) -> str:
        lines = [
            "# HELP lrs_http_requests_total HTTP requests answered, by method and status.",
            "# TYPE lrs_http_requests_total counter",
        ]
        for (method, status), count in sorted(self.requests.items()):
            lines.append(f'lrs_http_requests_total{{method="{method}",status="{status}"}} {count}')
        lines += [
            "# HELP lrs_uptime_seconds Seconds since the process started.",
            "# TYPE lrs_uptime_seconds gauge",
            f"lrs_uptime_seconds {time.time() - self.started:.0f}",
        ]
        if self.consumer_lag is not None:
            lines += self._lag_lines(self.consumer_lag)
        if self.forwarding is not None:
            try:
                lines += self.forwarding()
            except XAPIError as exc:  # the store is unavailable: the rest still answers
                log.warning("no forwarding state for /metrics: %s", exc)
        return "\n".join(lines) + "\n"

    @staticmethod
    def _lag_lines(consumer_lag: ConsumerLag) -> list[str]:
        try:
            lag = consumer_lag()
        except BusUnavailable as exc:
            log.warning("no consumer lag for /metrics: %s", exc)
            lag = None
        lines = [
            "# HELP lrs_kafka_up Whether the broker answered the consumer-lag query.",
            "# TYPE lrs_kafka_up gauge",
            f"lrs_kafka_up {0 if lag is None else 1}",
            "# HELP lrs_kafka_consumer_lag Records the `lrs process` workers have not committed "
            "yet: the broker's end offset less the group's committed offset.",
            "# TYPE lrs_kafka_consumer_lag gauge",
        ]
        for topic, partitions in sorted((lag or {}).items()):
            for partition, records in sorted(partitions.items()):
                lines.append(
                    f'lrs_kafka_consumer_lag{{topic="{topic}",partition="{partition}"}} {records}'
                )
        return lines


class CountRequests:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.metrics.requests[(scope["method"], message["status"])] += 1
            await send(message)

        await self.app(scope, receive, counting_send)


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    own_store = store is None
    store = store if store is not None else open_store_waiting(settings.store_url)
    bus = open_bus(settings.bus, settings.kafka_partitions, settings.kafka_topic_prefix)
    metrics = Metrics(getattr(bus, "consumer_lag", None), lambda: forwarding_lines(store))

    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def ready(request: Request) -> Response:
        try:
            store.consistent_through()
        except Exception as exc:  # the store is down: not ready, say why
            return json_response({"status": "unavailable", "reason": str(exc)}, 503)
        return json_response({"status": "ready"})

    async def metrics_endpoint(request: Request) -> Response:
        text = await run_in_threadpool(metrics.render)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = {404: f"no resource at {request.url.path}"}.get(exc.status_code, exc.detail)
        response = json_response({"error": {"code": code, "message": message}}, exc.status_code)
        response.headers.update(exc.headers or {})
        return response

    async def domain_error(request: Request, exc: Exception) -> Response:
        """A domain error no route caught (an unavailable store, say): its mapped status,
        never 500 (lrs.api.errors)."""
        assert isinstance(exc, XAPIError)
        return error_response(exc)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        response = json_response(
            {"error": {"code": "internal", "message": "internal error; the request was not applied"}},
            500,
        )
        # Answered outside the middleware stack (Starlette's outermost layer): add its headers.
        response.headers.update(SecurityHeaders.headers_for(settings.hsts_max_age))
        return response

    routes = []
    resources: list[tuple[str, dict[str, Endpoint]]] = [
        ("/xapi/statements", {"GET": statements.get, "PUT": statements.put, "POST": statements.post}),
        ("/xapi/activities/state", documents.handlers(documents.STATE)),
        ("/xapi/activities/profile", documents.handlers(documents.ACTIVITY_PROFILE)),
        ("/xapi/agents/profile", documents.handlers(documents.AGENT_PROFILE)),
        ("/xapi/agents", {"GET": agents.agents}),
        ("/xapi/activities", {"GET": agents.activities}),
        ("/xapi/about", {"GET": about.about}),
    ]
    for path, handlers in resources:
        routes.append(Route(path, dispatch(handlers), methods=_methods(handlers)))
        routes.append(Route(path + "/", dispatch(handlers), methods=_methods(handlers)))
    routes += [
        Route("/api/v1/openapi.json", openapi.openapi),
        Route("/api/v1/learners", learners.learners),
        Route("/api/v1/learners/profile", learners.profile),
        Route("/api/v1/learners/{learner:path}/profile", learners.profile),
        Route("/api/v1/learners/competencies", competencies.learner_competencies),
        Route("/api/v1/learners/competencies/changes", competencies.learner_changes),
        Route("/api/v1/learners/recommendations", competencies.learner_recommendations),
        Route(
            "/api/v1/learners/{learner:path}/recommendations",
            competencies.learner_recommendations,
        ),
        Route("/api/v1/learners/{learner:path}/competencies/changes", competencies.learner_changes),
        Route("/api/v1/learners/{learner:path}/competencies", competencies.learner_competencies),
        Route("/api/v1/learners/history", history.learner_history),
        Route("/api/v1/learners/{learner:path}/history", history.learner_history),
        Route("/api/v1/learners/person", persons.person_of_learner),
        Route("/api/v1/learners/{learner:path}/person", persons.person_of_learner),
        Route(
            "/api/v1/persons/{person}",
            dispatch({"GET": persons.show, "DELETE": erasure.erase_person}),
            methods=["GET", "HEAD", "DELETE"],
        ),
        Route("/api/v1/erasures", erasure.post_erasure, methods=["POST"]),
        Route("/api/v1/audit", audit.audit_log),
        Route("/api/v1/retention/policies", retention.list_policies),
        Route(
            "/api/v1/retention/policies/{org}/{data_class}",
            dispatch({"PUT": retention.put_policy, "DELETE": retention.delete_policy}),
            methods=["PUT", "DELETE"],
        ),
        Route(
            "/api/v1/retention/holds",
            dispatch({"GET": retention.list_holds, "POST": retention.post_hold}),
            methods=["GET", "HEAD", "POST"],
        ),
        Route(
            "/api/v1/retention/holds/{subject_type}/{subject:path}",
            retention.delete_hold,
            methods=["DELETE"],
        ),
        Route("/api/v1/retention/runs", retention.post_run, methods=["POST"]),
        Route("/api/v1/persons/{person}/keys", persons.link, methods=["POST"]),
        Route("/api/v1/persons/{person}/keys/{key:path}", persons.unlink, methods=["DELETE"]),
        Route("/api/v1/persons/{person}/profile", persons.profile),
        Route("/api/v1/persons/{person}/history", history.person_history),
        Route("/api/v1/persons/{person}/competencies", competencies.person_competencies),
        Route("/api/v1/persons/{person}/competencies/changes", competencies.person_changes),
        Route("/api/v1/persons/{person}/recommendations", competencies.person_recommendations),
        Route("/api/v1/groups/{group:path}/recommendations", competencies.group_recommendations),
        Route(
            "/api/v1/persons/{person}/attributes",
            competencies.put_person_attributes,
            methods=["PUT"],
        ),
        Route(
            "/api/v1/crosswalks",
            dispatch({"GET": competencies.list_crosswalks, "POST": competencies.post_crosswalk}),
            methods=["GET", "HEAD", "POST"],
        ),
        Route("/api/v1/exports/results", competencies.export_results),
        Route(
            "/api/v1/alignments",
            dispatch({"GET": competencies.list_alignments, "POST": competencies.post_alignment}),
            methods=["GET", "HEAD", "POST"],
        ),
        Route(
            "/api/v1/alignments/{ruleset}",
            dispatch(
                {
                    "GET": competencies.get_alignment,
                    "PUT": competencies.put_alignment,
                    "DELETE": competencies.delete_alignment,
                }
            ),
            methods=["GET", "HEAD", "PUT", "DELETE"],
        ),
        Route("/api/v1/aggregates/competencies", competencies.competency_aggregates),
        Route("/api/v1/groups/{group:path}/competencies", competencies.group_competencies),
        Route("/api/v1/frameworks", competencies.list_frameworks),
        Route("/api/v1/frameworks/{framework:path}", competencies.get_framework),
        *forwarding_routes(),
        Route("/caliper/v1p2", caliper.receive, methods=["POST"]),
        Route("/caliper/v1p1", caliper.receive, methods=["POST"]),
        Route("/health", health),
        Route("/ready", ready),
        Route("/metrics", metrics_endpoint),
    ]
    background = _background(settings, store, own_store, bus)
    bearer = BearerVerifier(settings.oidc_issuers, store) if settings.oidc_issuers else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for task in background:
            task.start()
        if bearer is not None:  # the issuers' keys, fetched before the first token needs them
            threading.Thread(target=bearer.warm, name="lrs-oidc-keys", daemon=True).start()
        try:
            yield
        finally:
            for task in background:
                task.stop()

    app = Starlette(
        lifespan=lifespan,
        routes=routes,
        # Outermost first: every answer is counted and gets the security and CORS headers
        # (browsers need CORS headers on 413/429/503 too); the body limit applies before the
        # alternate request syntax reads a body; the rate limit sees the credential the
        # alternate syntax moved from the form into the headers.
        middleware=[
            Middleware(CountRequests, metrics=metrics),
            Middleware(SecurityHeaders, hsts_max_age=settings.hsts_max_age),
            cors_middleware(settings.cors_origins),
            Middleware(RequestTimeout, seconds=settings.request_timeout),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
            Middleware(AlternateRequestSyntax),
            Middleware(RateLimit, rate=settings.rate_limit, burst=settings.rate_burst),
        ],
        exception_handlers={
            HTTPException: http_error,
            XAPIError: domain_error,
            Exception: server_error,
        },
    )
    redact.install()  # whatever runs the app: no credential in its log lines
    app.state.store = store
    app.state.reducers = reducers  # the processors, for erasure to rebuild what it touched
    app.state.replay_competencies = replay_competencies  # after a rule set changes (admin API)
    app.state.settings = settings
    app.state.authenticator = Authenticator(store, bearer)
    app.state.metrics = metrics
    app.state.stored_hooks = [task.wake for task in background]
    app.state.background = background
    return app


def forwarding_routes() -> list[Route]:
    """Statement forwarding (issue 18): lrs.api.v1.forwarding."""
    rules = "/api/v1/forwarding/rules"
    return [
        Route(
            rules,
            dispatch({"GET": forwarding.list_rules, "POST": forwarding.create_rule}),
            methods=["GET", "HEAD", "POST"],
        ),
        Route(
            rules + "/{rule}",
            dispatch(
                {
                    "GET": forwarding.get_rule,
                    "PUT": forwarding.put_rule,
                    "DELETE": forwarding.delete_rule,
                }
            ),
            methods=["GET", "HEAD", "PUT", "DELETE"],
        ),
        Route(rules + "/{rule}/pause", forwarding.pause, methods=["POST"]),
        Route(rules + "/{rule}/resume", forwarding.resume, methods=["POST"]),
        Route(rules + "/{rule}/replay", forwarding.replay, methods=["POST"]),
        Route(rules + "/{rule}/dead-letters", forwarding.dead_letters),
        Route(
            rules + "/{rule}/dead-letters/replay",
            forwarding.replay_dead_letters,
            methods=["POST"],
        ),
    ]


def _background(
    settings: Settings, store: Store, own_store: bool, bus: EventBus | None
) -> list[
    LocalRunner | ProcessRunner | OutboxRelay | Forwarder | RetentionLoop | MemoryReleaser
]:
    """Embedded: the processors run beside the API over the store's log. Kafka: the relay.
    Either way, freed memory goes back to the OS now and then (lrs/memory.py)."""
    return [*_pipeline(settings, store, own_store, bus), MemoryReleaser()]


def _pipeline(
    settings: Settings, store: Store, own_store: bool, bus: EventBus | None
) -> list[LocalRunner | ProcessRunner | OutboxRelay | Forwarder | RetentionLoop]:
    if bus is not None:
        return [OutboxRelay(store, bus)]
    if not settings.processors:
        return []
    schedule = RetentionSchedule(
        settings.retention_interval, settings.retention_access_log_min_days
    )
    if own_store and settings.store_url.startswith("sqlite://") and settings.processor_process:
        growth = settings.processor_max_growth_mib or None
        return [
            ProcessRunner(
                settings.store_url,
                batch=settings.processor_batch,
                max_growth_mib=growth,
                retention=schedule,
            )
        ]
    # In this process's threads (the forwarder too: in the child above, it runs there).
    return [
        LocalRunner(store, reducers(store), batch=settings.processor_batch),
        Forwarder(store, org_resolver(store)),
        RetentionLoop(store, reducers(store), schedule),
    ]


def replay_competencies(store: Store) -> int:
    """Replay the log into an empty competencies projection (rules changed over the API)."""
    reducer = next(r for r in reducers(store) if r.name == COMPETENCIES)
    return rebuild(store, reducer)
