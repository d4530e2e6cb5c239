"""Shared by the contract tests: statements, saving them, and reading ids back."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from lrs.domain.records import StatementQuery
from lrs.ports import Store
from lrs.xapi.agent_keys import agent_key

AUTHORITY = {"objectType": "Agent", "account": {"homePage": "http://lrs.test", "name": "k1"}}


VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def statement(
    learner: str = "a", verb: str = "completed", activity: str = "act/1", **extra: Any
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": f"mailto:{learner}@example.org", "name": learner.upper()},
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}"},
        "object": {"id": f"http://example.org/{activity}"},
        **extra,
    }


def save(store: Store, *statements: dict[str, Any], credential: str = "k1") -> list[str]:
    return store.save_statements(
        list(statements),
        authority=AUTHORITY,
        credential=credential,
        version="1.0.3",
        attachments=[],
    )


def ids(store: Store, **filters: Any) -> list[str]:
    page = store.query_statements(StatementQuery(**filters))
    return [orjson.loads(s)["id"] for s in page.statements]


def key(learner: str) -> str:
    key = agent_key({"mbox": f"mailto:{learner}@example.org"})
    assert key is not None
    return key
