"""What `lrs serve` runs: the API's app (lrs.api.app) with the pages added.

The pages reuse the query API's functions (lrs.api.v1), so they sit above it: the API's
app knows nothing of them, and this module composes the two (`lrs serve` calls it)."""

from __future__ import annotations

from starlette.applications import Starlette

from lrs.api.app import create_app as create_api_app
from lrs.config import Settings
from lrs.ports import Store
from lrs.web.pages import routes


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    app = create_api_app(settings, store)
    # Starlette builds its middleware stack on the first request, so routes added here get
    # the same middleware (counting, security headers, limits) as the API's.
    app.router.routes.extend(routes())
    return app
