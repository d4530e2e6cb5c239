"""The OpenAPI document of the query API, kept beside the routes it describes.

The schemas of the read models (profiles, competency status) are generated from their types
in lrs.readmodels, which the processors fold and the endpoints answer with, so the document
cannot drift from what is served.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema
from starlette.requests import Request
from starlette.responses import Response

from lrs import __version__
from lrs.api.limits import INT64_MAX
from lrs.api.xapi.common import json_response
from lrs.readmodels.competencies import CompetencyStatus, GroupStatus
from lrs.readmodels.forwarding import (
    DeadLetterPage,
    ForwardingCount,
    ForwardingRule,
    ForwardingRules,
)
from lrs.readmodels.profiles import LearnerPage, PersonProfile, Profile
from lrs.readmodels.retention import (
    LegalHold,
    LegalHolds,
    RetentionPolicies,
    RetentionPolicy,
    RetentionRunResult,
)

# Read models whose schemas are generated (with every type they are made of).
READ_MODELS: dict[str, Any] = {
    "Profile": Profile,
    "PersonProfile": PersonProfile,
    "LearnerPage": LearnerPage,
    "CompetencyStatus": CompetencyStatus,
    "GroupStatus": GroupStatus,
    "RetentionPolicy": RetentionPolicy,
    "RetentionPolicies": RetentionPolicies,
    "LegalHold": LegalHold,
    "LegalHolds": LegalHolds,
    "RetentionRunResult": RetentionRunResult,
}


class _Schemas(GenerateJsonSchema):
    """Property titles would only repeat the property names."""

    def field_title_should_be_set(self, schema: object) -> bool:
        return False


def read_model_schemas(models: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of READ_MODELS (or `models`), by
    type name."""
    models = READ_MODELS if models is None else models
    _, definitions = TypeAdapter.json_schemas(
        [(name, "serialization", TypeAdapter(kind)) for name, kind in models.items()],
        ref_template="#/components/schemas/{model}",
        schema_generator=_Schemas,
    )
    return dict(definitions["$defs"])

_ERROR = {"$ref": "#/components/schemas/Error"}
_ERRORS = {
    str(status): {"description": text, "content": {"application/json": {"schema": _ERROR}}}
    for status, text in (
        (400, "invalid parameter (the error names it)"),
        (401, "no or wrong credentials"),
        (403, "the credential's scopes do not allow this"),
        (404, "not found"),
        (413, "the request body (or a value in it) is larger than this LRS accepts"),
        (429, "rate limited for this credential; Retry-After says when to try again"),
        (503, "the request took too long, or the store is unavailable; Retry-After says when"),
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
        "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic"},
            # JWTs of the OpenID Connect issuers in the settings (lrs.oidc), where configured
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        },
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
        },
    },
    "security": [{"basic": []}, {"bearer": []}],
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
                        "schema": {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
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


def _param(name: str, where: str, description: str, required: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": {"type": "string"},
    }


def _get(
    summary: str,
    operation: str,
    parameters: list[dict[str, Any]],
    schema: str,
    content_type: str = "application/json",
) -> dict[str, Any]:
    ok: dict[str, Any] = {
        "description": summary,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if content_type != "application/json":
        ok["content"][content_type] = {"schema": {"type": "string"}}
    return {
        "get": {
            "summary": summary,
            "operationId": operation,
            "parameters": parameters,
            "responses": {"200": ok, **_ERRORS},
        }
    }


_FRAMEWORK_QUERY = _param("framework", "query", "framework id (IRI) or bundled name (digcomp-2.2)")
_PERSON = _param("person", "path", "a person id (identity links join learner keys into it)")
_OBJECT = {"type": "object"}

DOCUMENT["components"]["schemas"].update(
    {
        "Person": {
            "type": "object",
            "properties": {
                "person": {"type": "string"},
                "keys": {"type": "array", "items": {"type": "string"}},
            },
        },
        "Framework": _OBJECT,
        "FrameworkList": {
            "type": "object",
            "properties": {"frameworks": {"type": "array", "items": _OBJECT}},
        },
    }
)
DOCUMENT["paths"].update(
    {
        "/api/v1/learners/{learner}/competencies": _get(
            "A learner key's competency status in a framework",
            "getLearnerCompetencies",
            [_LEARNER, _FRAMEWORK_QUERY],
            "CompetencyStatus",
        ),
        "/api/v1/learners/competencies": _get(
            "Competency status, the learner given as an xAPI Agent (?agent=)",
            "getCompetenciesByAgent",
            [_param("agent", "query", "an xAPI Agent as JSON"), _FRAMEWORK_QUERY],
            "CompetencyStatus",
        ),
        "/api/v1/learners/{learner}/person": _get(
            "The person a learner key is linked to",
            "getPersonOfLearner",
            [_LEARNER],
            "Person",
        ),
        "/api/v1/learners/person": _get(
            "The person a learner (?agent=) is linked to",
            "getPersonOfAgent",
            [_param("agent", "query", "an xAPI Agent as JSON")],
            "Person",
        ),
        "/api/v1/persons/{person}": _get(
            "A person's learner keys", "getPerson", [_PERSON], "Person"
        ),
        "/api/v1/persons/{person}/keys": {
            "post": {
                "summary": "Link learner keys (or xAPI agents) to a person (admin)",
                "operationId": "linkKeys",
                "parameters": [_PERSON],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "keys": {"type": "array", "items": {"type": "string"}},
                                    "agents": {"type": "array", "items": _OBJECT},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "the person's keys",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Person"}}
                        },
                    },
                    **_ERRORS,
                },
            }
        },
        "/api/v1/persons/{person}/keys/{key}": {
            "delete": {
                "summary": "Unlink a learner key from a person (admin)",
                "operationId": "unlinkKey",
                "parameters": [_PERSON, _param("key", "path", "URL-encoded learner key")],
                "responses": {"204": {"description": "unlinked"}, **_ERRORS},
            }
        },
        "/api/v1/persons/{person}/profile": _get(
            "A person's profile: every linked key's activity folded together",
            "getPersonProfile",
            [_PERSON],
            "PersonProfile",
        ),
        "/api/v1/persons/{person}/competencies": _get(
            "A person's competency status: evidence of all linked keys",
            "getPersonCompetencies",
            [_PERSON, _FRAMEWORK_QUERY],
            "CompetencyStatus",
        ),
        "/api/v1/groups/{group}/competencies": _get(
            "A class's competency status (format=csv: a learner x competence matrix)",
            "getGroupCompetencies",
            [
                _param("group", "path", "a class: context grouping/parent activity id or team key"),
                _FRAMEWORK_QUERY,
                _param("format", "query", "json (default) or csv", required=False),
            ],
            "GroupStatus",
            content_type="text/csv",
        ),
        "/api/v1/frameworks": _get(
            "Bundled and imported competency frameworks", "listFrameworks", [], "FrameworkList"
        ),
        "/api/v1/frameworks/{framework}": _get(
            "A framework in full (areas, competences, levels, crosswalks)",
            "getFramework",
            [_param("framework", "path", "framework id (URL-encoded IRI) or bundled name")],
            "Framework",
        ),
    }
)


_HISTORY_QUERY = [
    _param("since", "query", "only statements stored after this time (ISO 8601)", required=False),
    _param("until", "query", "only statements stored at or before this time", required=False),
    _param("verb", "query", "only this verb (IRI)", required=False),
    _param("activity", "query", "only this object activity (IRI)", required=False),
    _param("course", "query", "only statements with this context parent or grouping", required=False),
    _param("limit", "query", "entries per page (default 100, at most 1000)", required=False),
    _param("cursor", "query", "the opaque cursor from `next`", required=False),
    _param(
        "format",
        "query",
        "json (a page, default), jsonl or csv (the whole history, streamed); "
        "or send Accept: application/x-ndjson or text/csv",
        required=False,
    ),
]


def _history(summary: str, operation: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    path = _get(summary, operation, parameters + _HISTORY_QUERY, "History", content_type="text/csv")
    content = path["get"]["responses"]["200"]["content"]
    content["application/x-ndjson"] = {"schema": {"type": "string"}}
    return path


DOCUMENT["components"]["schemas"]["History"] = {
    "type": "object",
    "required": ["entries", "next"],
    "properties": {
        "learner": {"type": "string"},
        "person": {"type": "string"},
        "keys": {"type": "array", "items": {"type": "string"}},
        "entries": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "stored", "voided", "source", "statement"],
                "properties": {
                    "id": {"type": "string"},
                    "stored": {"type": "string", "format": "date-time"},
                    "voided": {"type": "boolean"},
                    "voids": {"type": ["string", "null"]},
                    "authority": _OBJECT,
                    "source": {
                        "type": "object",
                        "properties": {
                            "kind": {"enum": ["credential", "connector"]},
                            "credential": {"type": "string"},
                            "connector": {"type": "string"},
                            "org": {"type": "string"},
                        },
                    },
                    "statement": _OBJECT,
                },
            },
        },
        "next": {"type": ["string", "null"]},
    },
}
DOCUMENT["paths"].update(
    {
        "/api/v1/learners/{learner}/history": _history(
            "A learner key's complete record: voided and voiding statements included, with "
            "stored time, authority and source",
            "getLearnerHistory",
            [_LEARNER],
        ),
        "/api/v1/learners/history": _history(
            "A learner's complete record, the learner given as an xAPI Agent (?agent=)",
            "getHistoryByAgent",
            [_param("agent", "query", "an xAPI Agent as JSON")],
        ),
        "/api/v1/persons/{person}/history": _history(
            "A person's complete record over all their linked keys",
            "getPersonHistory",
            [_PERSON],
        ),
    }
)


# The access log and erasure (lrs.api.v1.audit, lrs.api.v1.erasure) ------------------------------
_ERASURE_RESULT = {
    "description": "what was erased (counts only) and the access log entry recording it",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Erasure"}}},
}
DOCUMENT["components"]["schemas"].update(
    {
        "AccessEntry": {
            "type": "object",
            "required": ["seq", "at", "action", "credential", "what", "count", "prev", "hash"],
            "properties": {
                "seq": {"type": "integer"},
                "at": {"type": "string", "format": "date-time"},
                "action": {"type": "string", "enum": ["read", "erase", "retention"]},
                "credential": {"type": "string"},
                "name": {"type": "string"},
                "role": {"type": "string"},
                "org": {"type": ["string", "null"]},
                "what": {"type": "string"},
                "learner": {
                    "type": ["string", "null"],
                    "description": "HMAC pseudonym of the learner key or person read",
                },
                "query": _OBJECT,
                "count": {"type": "integer"},
                "prev": {"type": "string", "description": "the previous entry's hash"},
                "hash": {"type": "string", "description": "SHA-256(prev + canonical JSON)"},
            },
        },
        "AccessLogPage": {
            "type": "object",
            "required": ["entries", "next", "head"],
            "properties": {
                "entries": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/AccessEntry"},
                },
                "next": {"type": ["string", "null"]},
                "head": {
                    "type": ["object", "null"],
                    "properties": {"seq": {"type": "integer"}, "hash": {"type": "string"}},
                },
            },
        },
        "Erasure": {
            "type": "object",
            "required": ["subject", "keys", "erased", "access_log_entry"],
            "properties": {
                "subject": {"type": "string", "description": "pseudonym of the person erased"},
                "keys": {"type": "integer"},
                "erased": {"type": "object", "additionalProperties": {"type": "integer"}},
                "access_log_entry": {"type": "integer"},
            },
        },
    }
)
DOCUMENT["paths"]["/api/v1/persons/{person}"]["delete"] = {
    "summary": "Erase a person: every linked key's statements, documents, profiles (admin)",
    "operationId": "erasePerson",
    "parameters": [_PERSON],
    "responses": {"200": _ERASURE_RESULT, **_ERRORS},
}
DOCUMENT["paths"].update(
    {
        "/api/v1/erasures": {
            "post": {
                "summary": "Erase a person, named by person id, learner keys or xAPI agents (admin)",
                "operationId": "createErasure",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "person": {"type": "string"},
                                    "keys": {"type": "array", "items": {"type": "string"}},
                                    "agents": {"type": "array", "items": _OBJECT},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _ERASURE_RESULT, **_ERRORS},
            }
        },
        "/api/v1/audit": _get(
            "The access log: reads by auditors and schools, and erasures (admin, auditor)",
            "getAccessLog",
            [
                _param("since", "query", "entries after this time", required=False),
                _param("until", "query", "entries at or before this time", required=False),
                _param("credential", "query", "entries of this credential key", required=False),
                _param("learner", "query", "entries about this learner key", required=False),
                _param("person", "query", "entries about this person id", required=False),
                _param("after", "query", "continue after this entry (seq)", required=False),
                _param("limit", "query", "entries per page (at most 1000)", required=False),
            ],
            "AccessLogPage",
        ),
    }
)




# Retention (lrs.api.v1.retention) ---------------------------------------------------------------
def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_NO_CONTENT = {"204": {"description": "done"}, **_ERRORS}
DOCUMENT["paths"].update(
    {
        "/api/v1/retention/policies": _get(
            "Retention policies, per organisation and data class (admin, auditor)",
            "listRetentionPolicies",
            [],
            "RetentionPolicies",
        ),
        "/api/v1/retention/policies/{org}/{data_class}": {
            "put": {
                "summary": "Set the retention policy of an organisation and data class (admin)",
                "operationId": "putRetentionPolicy",
                "parameters": [
                    _param("org", "path", "an organisation; '*' for the access log"),
                    _param("data_class", "path", "statements, documents, attachments or access_log"),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["days"],
                                "properties": {
                                    "action": {"type": "string", "enum": ["delete", "anonymise"]},
                                    "days": {"type": "integer", "minimum": 1},
                                    "projections": {
                                        "type": "string",
                                        "enum": ["recompute", "keep"],
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json("RetentionPolicy", "the policy"), **_ERRORS},
            },
            "delete": {
                "summary": "Remove a retention policy (admin)",
                "operationId": "deleteRetentionPolicy",
                "parameters": [
                    _param("org", "path", "an organisation; '*' for the access log"),
                    _param("data_class", "path", "statements, documents, attachments or access_log"),
                ],
                "responses": _NO_CONTENT,
            },
        },
        "/api/v1/retention/holds": {
            **_get(
                "Legal holds: persons, learner keys and organisations retention leaves alone "
                "(admin, auditor)",
                "listLegalHolds",
                [],
                "LegalHolds",
            ),
            "post": {
                "summary": "Place a legal hold (admin)",
                "operationId": "placeLegalHold",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["subject_type", "subject"],
                                "properties": {
                                    "subject_type": {
                                        "type": "string",
                                        "enum": ["person", "learner", "org"],
                                    },
                                    "subject": {"type": "string"},
                                    "reason": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {"201": _json("LegalHold", "the hold"), **_ERRORS},
            },
        },
        "/api/v1/retention/holds/{subject_type}/{subject}": {
            "delete": {
                "summary": "Release a legal hold (admin)",
                "operationId": "releaseLegalHold",
                "parameters": [
                    _param("subject_type", "path", "person, learner or org"),
                    _param("subject", "path", "the person id, learner key or organisation"),
                ],
                "responses": _NO_CONTENT,
            }
        },
        "/api/v1/retention/runs": {
            "post": {
                "summary": "Apply every retention policy now, or count with dry_run=true (admin)",
                "operationId": "runRetention",
                "parameters": [
                    _param("dry_run", "query", "true: count, change nothing", required=False)
                ],
                "responses": {"200": _json("RetentionRunResult", "what the run did"), **_ERRORS},
            }
        },
    }
)

DOCUMENT["components"]["schemas"].update(read_model_schemas())


async def openapi(request: Request) -> Response:
    return json_response(DOCUMENT)


# ------------------------------------------------------------------ competencies over time,
# crosswalks, persons' attributes, results for national systems (issue 14)
_AS_OF = _param(
    "as_of",
    "query",
    "the status at that moment: a date (end of that day, UTC) or a date and time with its zone",
    required=False,
)
_BODY = {"required": True, "content": {"application/json": {"schema": _OBJECT}}}
for _path in (
    "/api/v1/learners/{learner}/competencies",
    "/api/v1/learners/competencies",
    "/api/v1/persons/{person}/competencies",
    "/api/v1/groups/{group}/competencies",
):
    DOCUMENT["paths"][_path]["get"]["parameters"].append(_AS_OF)
DOCUMENT["components"]["schemas"]["Changes"] = _OBJECT
DOCUMENT["components"]["schemas"]["CrosswalkList"] = _OBJECT
DOCUMENT["paths"].update(
    {
        "/api/v1/learners/{learner}/competencies/changes": _get(
            "A learner key's competency state changes in time order (when, which statement)",
            "getLearnerCompetencyChanges",
            [_LEARNER, _FRAMEWORK_QUERY, _AS_OF],
            "Changes",
        ),
        "/api/v1/learners/competencies/changes": _get(
            "State changes, the learner given as an xAPI Agent (?agent=)",
            "getCompetencyChangesByAgent",
            [_param("agent", "query", "an xAPI Agent as JSON"), _FRAMEWORK_QUERY, _AS_OF],
            "Changes",
        ),
        "/api/v1/persons/{person}/competencies/changes": _get(
            "A person's competency state changes in time order",
            "getPersonCompetencyChanges",
            [_PERSON, _FRAMEWORK_QUERY, _AS_OF],
            "Changes",
        ),
        "/api/v1/persons/{person}/attributes": {
            "put": {
                "summary": "A person's name, Decision 757 target group, commune, org (admin)",
                "operationId": "putPersonAttributes",
                "parameters": [_PERSON],
                "requestBody": _BODY,
                "responses": {"200": {"description": "the person's attributes"}, **_ERRORS},
            }
        },
        "/api/v1/crosswalks": {
            **_get(
                "Crosswalks between frameworks, bundled and imported",
                "listCrosswalks",
                [],
                "CrosswalkList",
            ),
            "post": {
                "summary": "Import a crosswalk (admin); it counts from the next read",
                "operationId": "postCrosswalk",
                "requestBody": _BODY,
                "responses": {"201": {"description": "imported"}, **_ERRORS},
            },
        },
        "/api/v1/aggregates/competencies": _get(
            "Counts and shares per competence and level by class, org, commune or target "
            "group, over the persons the reader sees",
            "getCompetencyAggregates",
            [
                _FRAMEWORK_QUERY,
                _param("by", "query", "class, org, commune or target_group"),
                _param("value", "query", "only this class, org, commune or group", False),
                _AS_OF,
            ],
            "Changes",
        ),
        **{
            path: _get(
                "Next steps: activities ranked by the gaps they close toward the target level",
                operation,
                [
                    *params,
                    _FRAMEWORK_QUERY,
                    _param("target", "query", "a level code (default: configured)", False),
                    _param("limit", "query", "1..100 (default 10)", False),
                    _AS_OF,
                ],
                "Changes",
            )
            for path, operation, params in (
                ("/api/v1/learners/{learner}/recommendations", "getLearnerNextSteps", [_LEARNER]),
                (
                    "/api/v1/learners/recommendations",
                    "getNextStepsByAgent",
                    [_param("agent", "query", "an xAPI Agent as JSON")],
                ),
                ("/api/v1/persons/{person}/recommendations", "getPersonNextSteps", [_PERSON]),
                (
                    "/api/v1/groups/{group}/recommendations",
                    "getGroupNextSteps",
                    [_param("group", "path", "a class")],
                ),
            )
        },
        "/api/v1/alignments": {
            **_get("Alignment rule sets in force (admin)", "listAlignments", [], "Changes"),
            "post": {
                "summary": "Create a rule set (admin); validate_only=true checks it only",
                "operationId": "postAlignment",
                "parameters": [_param("validate_only", "query", "true or false", False)],
                "requestBody": _BODY,
                "responses": {"201": {"description": "created"}, **_ERRORS},
            },
        },
        "/api/v1/alignments/{ruleset}": {
            **_get(
                "A rule set, or one of its versions (admin)",
                "getAlignment",
                [
                    _param("ruleset", "path", "rule set id"),
                    _param("version", "query", "1, 2, ...", False),
                ],
                "Changes",
            ),
            "put": {
                "summary": "Replace a rule set with a new version (admin)",
                "operationId": "putAlignment",
                "parameters": [
                    _param("ruleset", "path", "rule set id"),
                    _param("validate_only", "query", "true or false", False),
                ],
                "requestBody": _BODY,
                "responses": {"200": {"description": "replaced"}, **_ERRORS},
            },
            "delete": {
                "summary": "Delete a rule set (admin); its versions stay readable",
                "operationId": "deleteAlignment",
                "parameters": [_param("ruleset", "path", "rule set id")],
                "responses": {"204": {"description": "deleted"}, **_ERRORS},
            },
        },
        "/api/v1/exports/results": _get(
            "Confirmed persons' results for national systems (admin): JSON lines or CSV",
            "exportResults",
            [
                _FRAMEWORK_QUERY,
                _param("format", "query", "jsonl (default) or csv", required=False),
                _AS_OF,
            ],
            "Changes",
            content_type="text/csv",
        ),
    }
)


# ------------------------------------------------------------------ statement forwarding
# (issue 18): rules, their delivery state and dead letters; admin credentials only.
DOCUMENT["components"]["schemas"].update(
    read_model_schemas(
        {
            "ForwardingRule": ForwardingRule,
            "ForwardingRules": ForwardingRules,
            "DeadLetterPage": DeadLetterPage,
            "ForwardingCount": ForwardingCount,
        }
    )
)
_STRINGS = {"type": "array", "items": {"type": "string"}}
_RULE_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["name", "destination"],
                "properties": {
                    "name": {"type": "string"},
                    "match": {
                        "type": "object",
                        "description": "every non-empty list must match; any value in one does",
                        "properties": {
                            name: _STRINGS
                            for name in (
                                "orgs", "verbs", "activities", "activity_prefixes", "actors",
                                "categories",
                            )
                        },
                    },
                    "destination": {
                        "type": "object",
                        "required": ["kind", "url"],
                        "properties": {
                            "kind": {"enum": ["xapi", "webhook"]},
                            "url": {"type": "string"},
                            "username": {"type": "string", "description": "xapi"},
                            "password": {"type": "string", "description": "xapi"},
                            "secret": {"type": "string", "description": "webhook signing key"},
                        },
                    },
                    "batch": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100},
                    "paused": {"type": "boolean"},
                },
            }
        }
    },
}
_RULE = _param("rule", "path", "a forwarding rule id")


def _answer(schema: str, text: str) -> dict[str, Any]:
    return {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _action(summary: str, operation: str, schema: str, body: dict[str, Any] | None) -> Any:
    action: dict[str, Any] = {
        "summary": summary,
        "operationId": operation,
        "parameters": [_RULE],
        "responses": {"200": _answer(schema, summary), **_ERRORS},
    }
    if body is not None:
        action["requestBody"] = body
    return {"post": action}


DOCUMENT["paths"].update(
    {
        "/api/v1/forwarding/rules": {
            "get": {
                "summary": "Forwarding rules with their delivery state (admin)",
                "operationId": "listForwardingRules",
                "responses": {"200": _answer("ForwardingRules", "the rules"), **_ERRORS},
            },
            "post": {
                "summary": "Create a forwarding rule (admin); it forwards what is stored from "
                "now on (?from=start: the whole log)",
                "operationId": "createForwardingRule",
                "parameters": [_param("from", "query", "start: forward the whole log", False)],
                "requestBody": _RULE_BODY,
                "responses": {
                    "201": _answer("ForwardingRule", "created (a generated secret is shown once)"),
                    **_ERRORS,
                },
            },
        },
        "/api/v1/forwarding/rules/{rule}": {
            "get": {
                "summary": "A forwarding rule and its delivery state (admin)",
                "operationId": "getForwardingRule",
                "parameters": [_RULE],
                "responses": {"200": _answer("ForwardingRule", "the rule"), **_ERRORS},
            },
            "put": {
                "summary": "Replace a forwarding rule (admin); a secret left out is kept",
                "operationId": "putForwardingRule",
                "parameters": [_RULE],
                "requestBody": _RULE_BODY,
                "responses": {"200": _answer("ForwardingRule", "replaced"), **_ERRORS},
            },
            "delete": {
                "summary": "Delete a forwarding rule with its state and dead letters (admin)",
                "operationId": "deleteForwardingRule",
                "parameters": [_RULE],
                "responses": {"204": {"description": "deleted"}, **_ERRORS},
            },
        },
        "/api/v1/forwarding/rules/{rule}/pause": _action(
            "Pause a rule: nothing is sent, its offset waits", "pauseForwardingRule",
            "ForwardingRule", None,
        ),
        "/api/v1/forwarding/rules/{rule}/resume": _action(
            "Resume a paused rule where it stopped", "resumeForwardingRule", "ForwardingRule", None
        ),
        "/api/v1/forwarding/rules/{rule}/replay": _action(
            "Send again what matches from a date ({\"since\": \"2026-01-31\"})",
            "replayForwardingRule",
            "ForwardingCount",
            {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["since"],
                            "properties": {"since": {"type": "string"}},
                        }
                    }
                },
            },
        ),
        "/api/v1/forwarding/rules/{rule}/dead-letters": {
            "get": {
                "summary": "Statements a rule gave up on, in log order (admin)",
                "operationId": "listDeadLetters",
                "parameters": [
                    _RULE,
                    _param("after", "query", "continue after this offset (`more`)", False),
                    _param("limit", "query", "at most this many (1-1000, default 100)", False),
                ],
                "responses": {"200": _answer("DeadLetterPage", "dead letters"), **_ERRORS},
            }
        },
        "/api/v1/forwarding/rules/{rule}/dead-letters/replay": _action(
            "Send dead letters again ({\"offsets\": [...]}; none given: all)",
            "replayDeadLetters",
            "ForwardingCount",
            {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"offsets": {"type": "array", "items": {"type": "integer"}}},
                        }
                    }
                },
            },
        ),
    }
)
