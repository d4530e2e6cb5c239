"""The About resource: open to everyone, so clients can discover versions before auth.

The xAPI endpoint itself (`/xapi/`) answers the same: clients and people probing the base
URL they were given find out it is an LRS, and which versions it speaks, instead of a 404."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from lrs import __version__
from lrs.api.xapi.common import SUPPORTED_VERSIONS, json_response


async def about(request: Request) -> Response:
    response = json_response(
        {
            "version": list(SUPPORTED_VERSIONS),
            "extensions": {"https://w3id.org/xapi/lrs/about/software": {"name": "lrs", "version": __version__}},
        }
    )
    requested = request.headers.get(
        "x-experience-api-version", request.app.state.settings.default_xapi_version
    )
    response.headers["X-Experience-API-Version"] = "2.0.0" if requested.startswith("2.") else "1.0.3"
    return response
