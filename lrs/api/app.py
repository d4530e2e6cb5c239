"""The ASGI application: routes, middleware and the store it serves."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from consumers.reducers.base import Reducer
from consumers.reducers.enabled import reducers
from consumers.runtime.local import LocalRunner, ProcessRunner, rebuild
from consumers.runtime.retention import RetentionLoop, RetentionSchedule
from lrs.access import org_resolver
from lrs.api import caliper, redact
from lrs.api.alternate import AlternateRequestSyntax
from lrs.api.headers import SecurityHeaders, cors_middleware
from lrs.api.limits import BodyLimit
from lrs.api.metrics import CountRequests, Figures, Metrics, collect, render
from lrs.api.ratelimit import RateLimit
from lrs.api.timeouts import RequestTimeout
from lrs.api.v1 import (
    audit,
    competencies,
    credentials,
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
from lrs.forwarding.delivery import Forwarder
from lrs.forwarding.metrics import forwarding_families
from lrs.memory import MemoryReleaser
from lrs.oidc import BearerVerifier
from lrs.outbox import OutboxRelay
from lrs.ports import Store
from lrs.readmodels import COMPETENCIES
from lrs.storage import open_store_waiting
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


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    own_store = store is None
    store = store if store is not None else open_store_waiting(settings.store_url)
    bus = open_bus(settings.bus, settings.kafka_partitions, settings.kafka_topic_prefix)
    metrics = Metrics(
        getattr(bus, "consumer_lag", None),
        getattr(bus, "records_written", None),
        forwarding=lambda: forwarding_families(store),
    )

    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def ready(request: Request) -> Response:
        try:
            store.consistent_through()
        except Exception as exc:  # the store is down: not ready, say why
            return json_response({"status": "unavailable", "reason": str(exc)}, 503)
        return json_response({"status": "ready"})

    def figures() -> Figures:
        return collect(metrics, store, reducers(store), bus=bus is not None)

    async def metrics_endpoint(request: Request) -> Response:
        text = render(await run_in_threadpool(figures))
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
        ("/xapi", {"GET": about.about}),  # the endpoint itself: what clients probe first
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
        Route(
            "/api/v1/credentials",
            dispatch({"GET": credentials.list_credentials, "POST": credentials.post_credential}),
            methods=["GET", "HEAD", "POST"],
        ),
        Route("/api/v1/credentials/{key}", credentials.show_credential),
        Route("/api/v1/credentials/{key}/revoke", credentials.revoke, methods=["POST"]),
        Route("/api/v1/credentials/{key}/rotate", credentials.rotate, methods=["POST"]),
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
    app.state.replay_competencies = replay_competencies  # a full replay (kept for callers)
    app.state.competency_reducer = lambda: competency_reducer(store)  # rule changes (admin API)
    app.state.settings = settings
    app.state.authenticator = Authenticator(store, bearer)
    app.state.metrics = metrics
    app.state.figures = figures  # what /metrics shows, as data (blocking: call in a thread)
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


def competency_reducer(store: Store) -> Reducer:
    """The competencies processor with the rules in force now."""
    return next(r for r in reducers(store) if r.name == COMPETENCIES)


def replay_competencies(store: Store) -> int:
    """Replay the log into an empty competencies projection (rules changed over the API)."""
    reducer = next(r for r in reducers(store) if r.name == COMPETENCIES)
    return rebuild(store, reducer)
