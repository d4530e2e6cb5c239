"""The web pages (dashboard, audit, operations) and the public open-data page, mounted in
the API's app by lrs.api.app."""

from __future__ import annotations

from starlette.routing import Route


def routes() -> list[Route]:
    from lrs.web.pages import routes as page_routes

    return page_routes()
