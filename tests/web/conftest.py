"""A seeded province for the page tests: `lrs demo`'s data, a class quiz with interaction
definitions, and one credential per role."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from consumers.ingest import store_all
from consumers.reducers.enabled import reducers
from consumers.runtime.local import catch_up
from lrs.auth import authority_for, create_credential
from lrs.cli import demo_province
from lrs.config import load_settings
from lrs.demo import SITE
from lrs.rosters import get_class
from lrs.web import opendata
from lrs.web.app import create_app

CLASS = f"{SITE}/class/thpt-an-binh/10a1"
QUIZ = f"{SITE}/quiz/an-toan-mang"
ROLES = ("admin", "school", "other_school", "auditor", "platform")


@dataclass(frozen=True)
class Seeded:
    app: Starlette
    secrets: dict[str, tuple[str, str]]  # role -> (key, secret)
    quiz_persons: list[str]


def _quiz(members: list[str]) -> list[dict[str, Any]]:
    """Two questions answered by the class: q1 mostly right, q2 mostly wrong."""
    statements = []
    for number, key in enumerate(members):
        name = key.rpartition("|")[2]
        for question, right in (("q1", number % 5 != 0), ("q2", number % 3 == 0)):
            statements.append(
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{QUIZ}/{question}/{key}")),
                    "actor": {"objectType": "Agent", "account": {"homePage": SITE, "name": name}},
                    "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
                    "object": {
                        "objectType": "Activity",
                        "id": f"{QUIZ}/{question}",
                        "definition": {
                            "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
                            "interactionType": "choice",
                            "description": {"vi": f"Câu hỏi {question}", "en-US": f"Question {question}"},
                            "correctResponsesPattern": ["a"],
                            "choices": [{"id": "a", "description": {"vi": "A"}}, {"id": "b", "description": {"vi": "B"}}],
                        },
                    },
                    "result": {"success": right, "response": "a" if right else "b"},
                    "context": {"contextActivities": {"grouping": [{"id": CLASS}]}},
                    "timestamp": "2025-10-20T02:00:00.000Z",
                }
            )  # fmt: skip
    return statements


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("LRS_")}
    data = tmp_path_factory.mktemp("web")
    app = create_app(load_settings(data=str(data), processors=False))
    store = app.state.store
    demo_province(store)
    made = {
        "admin": create_credential(store, "Quản trị", ["all", "admin"], role="admin"),
        "school": create_credential(store, "Giáo viên 10A1", ["statements/read"], role="school"),
        "other_school": create_credential(
            store, "Trường khác", ["statements/read"], org="truong-khac", role="school"
        ),
        "auditor": create_credential(store, "Kiểm toán viên", ["auditor"]),
        "platform": create_credential(store, "Nền tảng", ["statements/write"]),
    }
    members = list((get_class(store, CLASS) or {})["members"])
    admin = made["admin"].credential
    refused = store_all(store, _quiz(members), authority_for(admin, "http://localhost"), admin.key)
    assert not refused, refused
    catch_up(store, reducers(store))
    opendata.forget()
    try:
        yield Seeded(app, {r: (m.credential.key, m.secret) for r, m in made.items()}, members)
    finally:
        store.close()
        os.environ.update(saved)


def sign_in(client: TestClient, key: str, secret: str) -> Any:
    page = client.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    return client.post(
        "/signin", data={"key": key, "secret": secret, "csrf": token.group(1), "next": "/"},
        follow_redirects=False,
    )  # fmt: skip


@pytest.fixture
def browse(seeded: Seeded) -> Iterator[Any]:
    """A client per role, signed in: `browse("school")`."""
    clients: list[TestClient] = []

    def make(role: str | None) -> TestClient:
        client = TestClient(seeded.app, raise_server_exceptions=False, base_url="http://127.0.0.1")
        clients.append(client)
        if role is not None:
            answer = sign_in(client, *seeded.secrets[role])
            assert answer.status_code == 303, answer.text
        return client

    yield make
    for client in clients:
        client.close()
