"""The pages: sign-in, class, person, schools and communes, audit, operations, public.

Server-rendered (Jinja2) with a little JavaScript for the trend chart only; each signed-in
page applies a rule of lrs.api.v1.permissions (the API's) to the session's credential and
reads through the credential's lrs.access.Access, so a page shows exactly what the API
would answer that credential.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from lrs.access import Access, is_admin
from lrs.api.errors import status_of
from lrs.api.v1.audit import CountedReads, logged_stream
from lrs.api.v1.history import Sources, export
from lrs.api.v1.permissions import Rule, read_access_log, read_learners
from lrs.api.xapi.common import access_for, error_response, in_thread
from lrs.domain.records import HistoryQuery
from lrs.domain.times import format_stored
from lrs.ops.audit import record_read
from lrs.ports import Store
from lrs.web import data, i18n, opendata, session
from lrs.web.figures import figures
from lrs.xapi.errors import Forbidden, NotFound, Unauthorized, ValidationError, XAPIError
from lrs.xapi.time import parse_timestamp
from lrs.xapi.validation import validate_iri

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["q"] = lambda value: quote(str(value), safe="")
templates.filters["pct"] = lambda value: "" if value is None else f"{100 * value:.0f} %"

Page = Callable[[Request, session.Session, Access], Awaitable[Response]]


def render(
    request: Request, name: str, context: dict[str, Any], status: int = 200,
    signed: session.Session | None = None,
) -> HTMLResponse:  # fmt: skip
    language = i18n.choose(request)
    body = templates.get_template(name).render(
        t=i18n.translator(language),
        lang=language,
        path=request.url.path + (("?" + request.url.query) if request.url.query else ""),
        signed=signed,
        csrf=signed.csrf if signed else None,
        **context,
    )
    response = HTMLResponse(body, status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Content-Language"] = language
    return response


def _error(request: Request, exc: XAPIError, signed: session.Session | None) -> HTMLResponse:
    t = i18n.translator(i18n.choose(request))
    if isinstance(exc, Forbidden):
        message, status = t["forbidden"], 403
    elif isinstance(exc, NotFound):
        message, status = t["not_found"], 404
    else:  # the API's status for the code (400 for bad input, 503 for a store that is down)
        message, status = f"{t['bad_request']} {exc.field or ''}: {exc.message}", status_of(exc)
    return render(request, "error.html", {"message": message}, status, signed)


async def current(request: Request) -> session.Session | None:
    store: Store = request.app.state.store
    return await in_thread(session.load, store, request.cookies.get(session.COOKIE))


def page(rule: Rule | None) -> Callable[[Page], Callable[[Request], Awaitable[Response]]]:
    """A signed-in page: the session, the rule (the API's), the reader's Access."""

    def wrap(handler: Page) -> Callable[[Request], Awaitable[Response]]:
        async def route(request: Request) -> Response:
            signed = await current(request)
            if signed is None:
                target = request.url.path + ("?" + request.url.query if request.url.query else "")
                return RedirectResponse("/signin?" + urlencode({"next": target}), 303)
            try:
                if rule is not None:
                    rule(signed.credential)
                access = await access_for(request.app.state.store, signed.credential)
                request.state.credential = signed.credential
                request.state.access = access
                return await handler(request, signed, access)
            except XAPIError as exc:
                return _error(request, exc, signed)

        return route

    return wrap


def administer_site(credential: Any) -> None:
    if not is_admin(credential):
        raise Forbidden("the operations page is for administrators", "Authorization")


def _next(request: Request, value: Any) -> str:
    """Only a path of this site (never //host or a scheme): no open redirect."""
    text = str(value or "/")
    return text if text.startswith("/") and not text.startswith("//") and "\\" not in text else "/"


# ------------------------------------------------------------------------------ sign-in


async def _form(request: Request) -> dict[str, str]:
    """The pages post small urlencoded forms only (no uploads): parsed here, no multipart."""
    body = (await request.body()).decode("utf-8", "replace")
    return {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()}


async def signin(request: Request) -> Response:
    store: Store = request.app.state.store
    secure = session.secure_cookies(request.app.state.settings.host)
    token = session.signin_token(request)
    error = None
    if request.method == "POST":
        form = await _form(request)
        if not session.csrf_ok(request.cookies.get(session.PRE_COOKIE), form):
            error = "bad_csrf"
        else:
            key, secret = str(form.get("key") or ""), str(form.get("secret") or "")
            header = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
            try:  # exactly the API's check of HTTP Basic credentials
                credential = await in_thread(request.app.state.authenticator.authenticate, header)
            except Unauthorized:
                error = "bad_credentials"
            else:
                value, _ = await in_thread(session.issue, store, credential)
                moved = RedirectResponse(_next(request, form.get("next")), 303)
                session.set_cookie(moved, session.COOKIE, value, secure, session.MAX_AGE)
                moved.delete_cookie(session.PRE_COOKIE, path="/")
                return moved
    t = i18n.translator(i18n.choose(request))
    next_path = _next(request, request.query_params.get("next"))
    response = render(
        request, "signin.html",
        {"token": token, "error": t[error] if error else None, "next": next_path},
        401 if error else 200,
    )  # fmt: skip
    session.set_cookie(response, session.PRE_COOKIE, token, secure, 3600)
    return response


async def signout(request: Request) -> Response:
    signed = await current(request)
    form = await _form(request)
    if signed is not None and not session.csrf_ok(signed.csrf, form):
        t = i18n.translator(i18n.choose(request))
        return render(request, "error.html", {"message": t["bad_csrf"]}, 400, signed)
    response = RedirectResponse("/signin", 303)
    response.delete_cookie(session.COOKIE, path="/")
    return response


async def language(request: Request) -> Response:
    chosen = request.path_params["lang"]
    response = RedirectResponse(_next(request, request.query_params.get("next")), 303)
    if chosen in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, chosen, max_age=365 * 86400, path="/", samesite="lax")
    return response


# ------------------------------------------------------------------------------ pages


@page(None)
async def home(request: Request, signed: session.Session, access: Access) -> Response:
    store: Store = request.app.state.store
    credential = signed.credential
    reads = True
    try:
        read_learners(credential)
    except Forbidden:
        reads = False
    classes = await in_thread(data.visible_classes, store, access) if reads else []
    audits = credential.role in ("admin", "auditor") or is_admin(credential)
    return render(
        request, "home.html",
        {"classes": classes, "reads": reads, "audits": audits, "admin": is_admin(credential)},
        signed=signed,
    )  # fmt: skip


def _days(request: Request) -> int:
    raw = request.query_params.get("days", "14")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 3650:
        raise ValidationError("days: a whole number from 1 to 3650", "days")
    return int(raw)


@page(read_learners)
async def class_page(request: Request, signed: session.Session, access: Access) -> Response:
    store: Store = request.app.state.store
    group = request.query_params.get("id") or ""
    if not group:
        raise ValidationError("give ?id= (a class id)", "id")
    language = i18n.choose(request)
    days = _days(request)
    found = await in_thread(
        data.class_page, store, access, group, request.query_params.get("framework"), language, days
    )
    choices = await in_thread(data.framework_choices, store, language)
    return render(request, "class.html", {**found, "days": days, "choices": choices}, signed=signed)


@page(read_learners)
async def person_page(request: Request, signed: session.Session, access: Access) -> Response:
    store: Store = request.app.state.store
    entry = request.query_params.get("id") or ""
    if not entry:
        raise ValidationError("give ?id= (a person id or learner key)", "id")
    language = i18n.choose(request)
    found = await in_thread(
        data.person_page, store, access, entry, request.query_params.get("framework"), language
    )
    choices = await in_thread(data.framework_choices, store, language)
    return render(request, "person.html", {**found, "choices": choices}, signed=signed)


def _trend_span(request: Request) -> tuple[int, datetime | None]:
    """`months` (1 to 24, default 6) month ends up to `end` (a date; default now)."""
    raw = request.query_params.get("months", "6")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 24:
        raise ValidationError("months: a whole number from 1 to 24", "months")
    end = None
    if request.query_params.get("end"):
        try:
            end = datetime.strptime(request.query_params["end"], "%Y-%m-%d").replace(
                hour=23, minute=59, second=59, tzinfo=UTC
            )
        except ValueError:
            raise ValidationError("end: a date, YYYY-MM-DD", "end") from None
    return int(raw), end


@page(read_learners)
async def areas_page(request: Request, signed: session.Session, access: Access) -> Response:
    store: Store = request.app.state.store
    language = i18n.choose(request)
    minimum, _ = opendata.policy()
    months, end = _trend_span(request)
    found = await in_thread(
        data.area_page, store, access, request.query_params.get("framework"),
        request.query_params.get("by", "org"), language, minimum, months, end,
    )  # fmt: skip
    choices = await in_thread(data.framework_choices, store, language)
    chart = {
        "dates": [p["date"] for p in found["trend"]],
        "shares": [p["share"] for p in found["trend"]],
        "target": found["target"].get("share"),
    }
    return render(
        request, "areas.html",
        {**found, "choices": choices, "minimum": minimum, "chart": orjson.dumps(chart).decode(),
         "dimensions": data.DIMENSIONS, "months": months,
         "end": request.query_params.get("end", "")},
        signed=signed,
    )  # fmt: skip


def _history_query(request: Request, keys: list[str]) -> HistoryQuery:
    """The auditor's filters, checked as the history API checks them."""
    params = request.query_params
    query = HistoryQuery(learners=keys, limit=200)
    for name in ("since", "until"):
        if params.get(name):
            value = params[name]
            value = value + "T00:00:00Z" if len(value) == 10 else value
            setattr(query, name, format_stored(parse_timestamp(value, "2.0.0", name)))
    for name in ("verb", "activity"):
        if params.get(name):
            validate_iri(params[name], name)
            setattr(query, name, params[name])
    return query


@page(read_access_log)
async def audit_page(request: Request, signed: session.Session, access: Access) -> Response:
    store: Store = request.app.state.store
    entry = request.query_params.get("person") or ""
    history = None
    if entry:
        entry, keys = await in_thread(data.person_entry, store, access, entry)
        query = _history_query(request, keys)
        history = await in_thread(data.timeline, store, access, keys, query)
        await in_thread(
            record_read, store, signed.credential, "page/person/history", entry,
            len(history), {k: v for k, v in request.query_params.items() if k != "person" and v},
        )  # fmt: skip
    log = await in_thread(data.audit_page, store, access)
    filters = {k: request.query_params.get(k, "") for k in ("person", "since", "until", "verb", "activity")}
    return render(
        request, "audit.html",
        {"history": history, "entry": entry, "filters": filters, "log": log,
         "export": urlencode({k: v for k, v in filters.items() if v})},
        signed=signed,
    )  # fmt: skip


@page(read_access_log)
async def audit_export(request: Request, signed: session.Session, access: Access) -> Response:
    """The whole filtered history, streamed as the history API streams it, logged once sent."""
    store: Store = request.app.state.store
    fmt = request.query_params.get("format", "csv")
    if fmt not in ("csv", "jsonl"):
        raise ValidationError("format: csv or jsonl", "format")
    entry, keys = await in_thread(
        data.person_entry, store, access, request.query_params.get("person") or ""
    )
    query = access.scope.apply(_history_query(request, keys))
    sources = await in_thread(Sources, store)
    counted = CountedReads(store.statement_history)
    chunks = export(counted, query, sources, fmt)
    logged = {k: v for k, v in request.query_params.items() if k != "person" and v}
    return StreamingResponse(
        logged_stream(request, chunks, counted, "person/history", entry, logged),
        media_type="text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="history.{fmt}"'},
    )


@page(administer_site)
async def ops_page(request: Request, signed: session.Session, access: Access) -> Response:
    found = await in_thread(figures, request.app)
    return render(request, "ops.html", {"figures": found}, signed=signed)


# ------------------------------------------------------------------------------ public


async def public_page(request: Request) -> Response:
    store: Store = request.app.state.store
    language = i18n.choose(request)
    by = request.query_params.get("by", "commune")
    signed = await current(request)
    try:
        body = await in_thread(opendata.release, store, request.query_params.get("framework"), by)
    except XAPIError as exc:
        return _error(request, exc, signed)
    choices = await in_thread(data.framework_choices, store, language)
    return render(
        request, "public.html",
        {"release": body, "choices": choices, "dimensions": opendata.PUBLIC_DIMENSIONS,
         "download": urlencode({"framework": body["framework"], "by": by})},
        signed=signed,
    )  # fmt: skip


async def public_data(request: Request) -> Response:
    store: Store = request.app.state.store
    fmt = request.path_params["format"]
    try:
        body = await in_thread(
            opendata.release, store, request.query_params.get("framework"),
            request.query_params.get("by", "commune"),
        )  # fmt: skip
    except XAPIError as exc:
        return error_response(exc)  # the API's JSON error, naming the field
    if fmt == "csv":
        return Response(
            opendata.as_csv(body), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="open-data-{body["by"]}.csv"',
                     "Link": '</public/dictionary.json>; rel="describedby"'},
        )  # fmt: skip
    return Response(orjson.dumps(body), media_type="application/json")


async def public_dictionary(request: Request) -> Response:
    minimum, base = opendata.policy()
    body = {
        "licence": opendata.LICENCE,
        "columns": opendata.DICTIONARY,
        "disclosure": {"minimum_count": minimum, "rounding_base": base or None, "complementary": True},
    }
    return Response(orjson.dumps(body), media_type="application/json")


STATIC = {path.name: path for path in (HERE / "static").iterdir() if path.is_file()}
MEDIA = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


async def static(request: Request) -> Response:
    """The pages' stylesheets and scripts, from the package (no CDN): only the files
    shipped, by name, so no path reaches outside."""
    path = STATIC.get(request.path_params["name"])
    if path is None:
        return error_response(NotFound(f"no file {request.path_params['name']!r}", "name"))
    media = MEDIA.get(path.suffix, "text/plain; charset=utf-8")
    return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=3600"})


def routes() -> list[Route]:
    return [
        Route("/", home),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/lang/{lang}", language),
        Route("/class", class_page),
        Route("/person", person_page),
        Route("/areas", areas_page),
        Route("/audit", audit_page),
        Route("/audit/export", audit_export),
        Route("/ops", ops_page),
        Route("/public", public_page),
        Route("/public/data.{format:str}", public_data),
        Route("/public/dictionary.json", public_dictionary),
        Route("/static/{name}", static),
    ]
