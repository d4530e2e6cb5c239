"""The OpenAPI document of the query API, kept beside the routes it describes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lrs import __version__
from lrs.api.xapi.common import json_response

_ERROR = {"$ref": "#/components/schemas/Error"}
_ERRORS = {
    str(status): {"description": text, "content": {"application/json": {"schema": _ERROR}}}
    for status, text in (
        (400, "invalid parameter (the error names it)"),
        (401, "no or wrong credentials"),
        (403, "the credential's scopes do not allow this"),
        (404, "not found"),
    )
}
_LEARNER = {
    "name": "learner",
    "in": "path",
    "required": True,
    "description": "URL-encoded learner key: mbox:mailto:..., mbox_sha1sum:<hex>, openid:<uri> "
    "or account:<homePage>|<name>",
    "schema": {"type": "string"},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "lrs query API",
        "version": __version__,
        "description": "Learner profiles folded from xAPI statements. The xAPI resources "
        "themselves are under /xapi/ and follow the xAPI specification.",
    },
    "components": {
        "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "field": {"type": "string"},
                        },
                    }
                },
            },
            "Profile": {
                "type": "object",
                "required": ["learner", "statements", "verbs", "activities"],
                "properties": {
                    "learner": {"type": "string"},
                    "statements": {"type": "integer"},
                    "verbs": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "first_activity": {"type": ["string", "null"], "format": "date-time"},
                    "last_activity": {"type": ["string", "null"], "format": "date-time"},
                    "time_spent_seconds": {"type": "number"},
                    "attempted": {"type": "integer"},
                    "completed": {"type": "integer"},
                    "passed": {"type": "integer"},
                    "failed": {"type": "integer"},
                    "courses": {"type": "array", "items": {"type": "string"}},
                    "registrations": {"type": "array", "items": {"type": "string"}},
                    "activities": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "properties": {
                                "statements": {"type": "integer"},
                                "completed": {"type": "boolean"},
                                "passed": {"type": "boolean"},
                                "failed": {"type": "boolean"},
                                "best_score": {"type": ["number", "null"]},
                                "last_score": {"type": ["number", "null"]},
                                "time_spent_seconds": {"type": "number"},
                                "first": {"type": ["string", "null"]},
                                "last": {"type": ["string", "null"]},
                            },
                        },
                    },
                },
            },
            "LearnerPage": {
                "type": "object",
                "required": ["learners", "next"],
                "properties": {
                    "learners": {"type": "array", "items": {"type": "object"}},
                    "next": {"type": ["string", "null"]},
                },
            },
        },
    },
    "security": [{"basic": []}],
    "paths": {
        "/api/v1/learners/{learner}/profile": {
            "get": {
                "summary": "One learner's profile",
                "operationId": "getLearnerProfile",
                "parameters": [_LEARNER],
                "responses": {
                    "200": {
                        "description": "the profile",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Profile"}}
                        },
                    },
                    **_ERRORS,
                },
            }
        },
        "/api/v1/learners/profile": {
            "get": {
                "summary": "One learner's profile, the learner given as an xAPI Agent",
                "operationId": "getProfileByAgent",
                "parameters": [
                    {
                        "name": "agent",
                        "in": "query",
                        "required": True,
                        "description": "an xAPI Agent as JSON",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "the profile",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Profile"}}
                        },
                    },
                    **_ERRORS,
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This OpenAPI document",
                "operationId": "getOpenAPI",
                "security": [],
                "responses": {
                    "200": {
                        "description": "the OpenAPI 3.1 document of the query API",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/api/v1/learners": {
            "get": {
                "summary": "Learners with a profile, filtered and paginated by learner key",
                "operationId": "listLearners",
                "parameters": [
                    {
                        "name": "course",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "a context parent or grouping activity id",
                    },
                    {
                        "name": "active_since",
                        "in": "query",
                        "schema": {"type": "string", "format": "date-time"},
                    },
                    {
                        "name": "min_completed",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {
                        "name": "after",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "continue after this learner key (from `next`)",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "a page of learners",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/LearnerPage"}
                            }
                        },
                    },
                    **{k: v for k, v in _ERRORS.items() if k != "404"},
                },
            }
        },
    },
}


async def openapi(request: Request) -> Response:
    return json_response(DOCUMENT)
