"""One way in: HTTP, the Kafka inbound topic and the connector sinks decide alike.

The same records (1.0.3 and 2.0 statements, invalid and hostile ones) go through each
entrance into a fresh store holding one statement of another organisation; what each
stored (as JSON, less the entrance's authority and the stored time), what it voided and
what it refused (id and reason) must be the same everywhere (lrs.ops.ingest).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from connectors.sinks import StoreSink
from consumers.ingest import connector_authority, connector_writer, ingest, store_all, triage
from lrs.api.app import create_app
from lrs.auth import create_credential
from lrs.config import load_settings
from lrs.domain.records import Credential
from lrs.ops.ingest import record_version
from lrs.ports import Store
from tests.conftest import basic_auth

VOIDED = "http://adlnet.gov/expapi/verbs/voided"
OTHER = "0e000000-0000-4000-8000-000000000000"  # stored by organisation "south"


def _id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _statement(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": _id(n),
        "actor": {"objectType": "Agent", "mbox": f"mailto:learner{n % 3}@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"objectType": "Activity", "id": f"http://example.org/act/{n}"},
        "timestamp": "2026-03-01T09:00:00.000Z",
        **extra,
    }


def _voiding(n: int, target: str) -> dict[str, Any]:
    return _statement(n, verb={"id": VOIDED}, object={"objectType": "StatementRef", "id": target})


RECORDS: list[dict[str, Any]] = [
    _statement(1, timestamp="2026-03-01T10:00:00+07:00"),  # 1.0.3: kept as given
    _statement(2, version="2.0.0", timestamp="2026-03-01T10:00:00.123456+07:00"),  # -> UTC
    _statement(
        3,
        version="2.0.0",
        object={
            "objectType": "SubStatement",
            "actor": {"mbox": "mailto:x@example.org"},
            "verb": {"id": "http://example.org/v"},
            "object": {"id": "http://example.org/a"},
            "timestamp": "2026-03-01T01:00:00-05:00",
        },
    ),
    {k: v for k, v in _statement(4).items() if k != "actor"},  # invalid: no actor
    _voiding(5, OTHER),  # hostile: voids another organisation's statement
    _statement(6, authority={"mbox": "mailto:admin@evil.example.org"}),  # forged authority
    _statement(  # raw attachment without its data part
        7,
        attachments=[
            {
                "usageType": "http://example.org/usage",
                "display": {"en": "file"},
                "contentType": "text/plain",
                "length": 3,
                "sha2": "a" * 64,
            }
        ],
    ),
    _statement(8, version="2.0.0", timestamp="2026-03-01T10:00:00"),  # 2.0: no offset
    _statement(9, extra_property=True),  # not an xAPI property
    _voiding(10, _id(1)),  # voids a statement of its own organisation, stored before
    _voiding(11, _id(12)),  # voids one that arrives after it
    _statement(12),
    _statement(13, object={"objectType": "StatementRef", "id": _id(2)}),  # inherits terms
]

Outcome = dict[str, tuple[str, ...]]


def _seed(store: Store) -> None:
    store.save_credential(Credential("key-south", "South", ("all",), "south"))
    store.save_statements(
        [_statement(0, id=OTHER)],
        authority={
            "objectType": "Agent",
            "name": "South",
            "account": {"homePage": "http://localhost/credentials", "name": "key-south"},
        },
        credential="key-south",
        version="1.0.3",
        attachments=[],
    )


def _read(store: Store, refused: dict[str, str]) -> Outcome:
    seen: Outcome = {}
    for record in RECORDS:
        sid = record["id"]
        if sid in refused:
            seen[sid] = ("refused", refused[sid])
            continue
        raw = store.get_statement(sid, voided=False)
        voided = raw is None
        raw = raw or store.get_statement(sid, voided=True)
        assert raw is not None, f"{sid} neither stored nor refused"
        kept = orjson.loads(raw)
        assert kept["authority"] != record.get("authority"), "a client chose its authority"
        view = {k: v for k, v in kept.items() if k not in ("authority", "stored")}
        seen[sid] = (
            "voided" if voided else "stored",
            orjson.dumps(view, option=orjson.OPT_SORT_KEYS).decode(),
        )
    return seen


def _http(tmp_path: Path) -> Outcome:
    app = create_app(load_settings(data=str(tmp_path), processors=False))
    store = app.state.store
    _seed(store)
    new = create_credential(store, "platform", ["all"])
    refused: dict[str, str] = {}
    with TestClient(app, raise_server_exceptions=False) as http:
        for record in RECORDS:
            answer = http.post(
                "/xapi/statements",
                content=orjson.dumps(record),
                headers={
                    "Authorization": basic_auth(new.credential.key, new.secret),
                    "X-Experience-API-Version": record_version(record),
                    "Content-Type": "application/json",
                },
            )
            assert answer.status_code < 500, answer.text
            if answer.status_code != 200:
                refused[record["id"]] = answer.json()["error"]["message"]
    try:
        return _read(store, refused)
    finally:
        store.close()


def _store_sink(tmp_path: Path) -> Outcome:
    store = _open(tmp_path)
    _seed(store)
    sink = StoreSink(store, "moodle")
    sink.send(RECORDS)
    try:
        return _read(store, {s.label: s.reason for s in sink.rejected})
    finally:
        store.close()


def _kafka_inbound(tmp_path: Path) -> Outcome:
    """What consumers/app.py's ingest agent calls for a batch of inbound records."""
    store = _open(tmp_path)
    _seed(store)
    valid, rejected = triage([orjson.dumps(r) for r in RECORDS])
    refused = {orjson.loads(r.payload)["id"]: r.reason for r in rejected}
    authority = connector_authority("kafka", "http://localhost")
    for statement, error in store_all(store, valid, authority, "kafka"):
        refused[statement["id"]] = error.message
    try:
        return _read(store, refused)
    finally:
        store.close()


def _ingest(tmp_path: Path) -> Outcome:
    store = _open(tmp_path)
    _seed(store)
    outcome = ingest(store, [orjson.dumps(r) for r in RECORDS], connector_writer("kafka", "x"))
    try:
        return _read(store, {r.label: r.reason for r in outcome.refused})
    finally:
        store.close()


def _open(tmp_path: Path) -> Store:
    from lrs.storage import open_store

    return open_store(f"sqlite://{tmp_path / 'lrs.db'}")


ENTRANCES: dict[str, Callable[[Path], Outcome]] = {
    "store-sink": _store_sink,
    "kafka-inbound": _kafka_inbound,
    "ingest": _ingest,
}


@pytest.fixture(scope="module")
def over_http(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    for name in [k for k in os.environ if k.startswith("LRS_")]:
        os.environ.pop(name)
    return _http(tmp_path_factory.mktemp("http"))


def test_http_refuses_the_invalid_and_hostile_and_normalises_2_0(over_http: Outcome) -> None:
    refused = {sid for sid, seen in over_http.items() if seen[0] == "refused"}
    assert refused == {_id(n) for n in (4, 5, 7, 8, 9)}
    assert over_http[_id(1)][0] == over_http[_id(12)][0] == "voided"  # either arrival order
    assert '"timestamp":"2026-03-01T10:00:00+07:00"' in over_http[_id(1)][1]  # 1.0.3: as given
    assert '"timestamp":"2026-03-01T03:00:00.123456Z"' in over_http[_id(2)][1]  # 2.0: UTC
    assert '"timestamp":"2026-03-01T06:00:00.000Z"' in over_http[_id(3)][1]


@pytest.mark.parametrize("entrance", sorted(ENTRANCES))
def test_every_entrance_stores_and_refuses_as_http_does(
    entrance: str, over_http: Outcome, tmp_path: Path
) -> None:
    assert ENTRANCES[entrance](tmp_path) == over_http
