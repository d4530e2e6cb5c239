"""Schemathesis against the query API's own OpenAPI document (issue 6, point 6b).

The document served at /api/v1/openapi.json drives the generator; the app runs in-process
(ASGI) over a store seeded with learners, a person and folded profiles, and every request
carries a valid admin credential, so generated requests reach the handlers instead of
bouncing off authentication. Each operation is fuzzed with data that fits the schema and
data that does not, and with the seeded learner and person put into the path now and then.
Checks: never a 5xx; where the document describes the answer (status and media type), the
answer matches it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from starlette.testclient import TestClient

from consumers.reducers.enabled import reducers
from consumers.runtime.local import rebuild
from lrs.api.app import create_app
from lrs.api.v1.openapi import DOCUMENT
from lrs.auth import create_credential
from lrs.config import load_settings
from tests.conftest import basic_auth
from tests.fuzz.conftest import Cases, examples

METHODS = ("get", "put", "post", "delete", "patch")
OPERATIONS = [
    (path, method.upper())
    for path, item in DOCUMENT["paths"].items()
    for method in item
    if method in METHODS
]
LEARNERS = ["mbox:mailto:ann@example.org", "account:https://lms.example.org|42"]
PERSON = "p-001"
KNOWN = {
    "learner": st.sampled_from(LEARNERS),
    "key": st.sampled_from(LEARNERS),
    "person": st.just(PERSON),
    "framework": st.sampled_from(["digcomp-2.2", "https://example.org/none"]),
    "group": st.just("http://example.org/course/1"),
}
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _statement(actor: dict[str, Any], verb: str, score: float) -> dict[str, Any]:
    return {
        "actor": actor,
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}"},
        "object": {"id": "http://example.org/course/1/quiz"},
        "result": {"score": {"scaled": score}, "success": score >= 0.5, "completion": True},
        "context": {"contextActivities": {"grouping": [{"id": "http://example.org/course/1"}]}},
    }


@pytest.fixture(scope="module")
def query_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    """The app over a seeded store, its schema as the app serves it, and admin headers."""
    with pytest.MonkeyPatch.context() as patch:
        import os

        for name in [k for k in os.environ if k.startswith("LRS_")]:
            patch.delenv(name)
        data: Path = tmp_path_factory.mktemp("fuzz-query-api")
        app = create_app(load_settings(data=str(data), processors=False))
    store = app.state.store
    new = create_credential(store, "fuzz", ["all", "admin"])
    headers = {
        "Authorization": basic_auth(new.credential.key, new.secret),
        "X-Experience-API-Version": "1.0.3",
    }
    ann = {"mbox": "mailto:ann@example.org"}
    bao = {"account": {"homePage": "https://lms.example.org", "name": "42"}}
    with TestClient(app, headers=headers) as client:  # no processors: folded below
        batch = [_statement(ann, "passed", 0.9), _statement(bao, "failed", 0.2)]
        assert client.post("/xapi/statements", json=batch).status_code == 200
    for reducer in reducers(store):
        rebuild(store, reducer)
    store.link_keys(PERSON, LEARNERS)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    try:
        yield schema, headers
    finally:
        store.close()


def _strategy(operation: Any) -> st.SearchStrategy[Any]:
    names = {p.name for p in operation.path_parameters}
    known = {name: KNOWN[name] for name in names if name in KNOWN}
    choices = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    if known:
        choices.append(
            st.fixed_dictionaries(known).flatmap(
                lambda values: operation.as_strategy(GenerationMode.POSITIVE, path_parameters=values)
            )
        )
    return st.one_of(choices)


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_the_query_api_answers_as_documented(
    query_api: tuple[Any, dict[str, str]], path: str, method: str, fuzz_cases: Cases
) -> None:
    schema, headers = query_api
    operation = schema[path][method]

    @settings(max_examples=examples(15))
    @given(case=_strategy(operation))
    def run(case: Any) -> None:
        fuzz_cases()
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS)

    run()
