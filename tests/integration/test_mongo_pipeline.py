"""Scaled out for real: `lrs serve` and `lrs process` on a MongoDB-wire server and a Kafka
broker, with the database restarted and crashed in the middle of ingest."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from consumers.reducers.base import replay
from consumers.reducers.profiles import REDUCER
from lrs.adapters.mongodb import MongoStore
from lrs.domain.records import StateQuery
from tests.processes import LRSProcess, kafka_settings, wait_until
from tests.servers import MongoServer

VERSION = {"X-Experience-API-Version": "1.0.3"}


def statement(learner: int, n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"account": {"homePage": "https://lms.example.org", "name": str(learner)}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": f"https://lms.example.org/unit/{n % 4}"},
        "result": {"duration": "PT2M"},
    }


def post_until_acknowledged(
    client: httpx.Client, batch: list[dict[str, Any]], deadline: float = 60
) -> tuple[list[str], int]:
    """What a well-behaved client does: retry on 503 (and on a dropped connection)."""
    refusals = 0
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        try:
            response = client.post("/xapi/statements", json=batch)
        except httpx.TransportError:
            refusals += 1
            time.sleep(0.5)
            continue
        if response.status_code == 200:
            return list(response.json()), refusals
        assert response.status_code == 503, response.text  # never a 500 for an outage
        assert response.json()["error"]["code"] == "unavailable"
        refusals += 1
        time.sleep(0.5)
    raise AssertionError("the LRS never acknowledged the batch")


@pytest.fixture
def mongo(tmp_path: Path) -> Iterator[MongoServer]:
    with MongoServer(tmp_path / "mongo") as server:
        yield server


def test_database_restart_and_crash_lose_nothing_and_count_everything_once(
    tmp_path: Path, mongo: MongoServer, kafka_bootstrap: str, kafka_prefix: str
) -> None:
    config = kafka_settings(kafka_bootstrap, kafka_prefix, store=mongo.url("lrs"))
    api = LRSProcess("api", tmp_path, config)
    auth = api.credential()
    worker = LRSProcess("worker", tmp_path, config)
    acknowledged: list[str] = []
    try:
        api.serve()
        worker.process()
        with httpx.Client(base_url=api.url, auth=auth, headers=VERSION, timeout=30) as client:
            for round_ in range(3):
                ids, _ = post_until_acknowledged(
                    client, [statement(i % 6, round_ * 10 + i) for i in range(10)]
                )
                acknowledged += ids
            mongo.stop()  # a clean restart, in the middle of ingest
            refused_while_down = 0
            batch = [statement(i % 6, 100 + i) for i in range(10)]
            response = client.post("/xapi/statements", json=batch)
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"]
            refused_while_down += 1
            mongo.start()
            ids, _ = post_until_acknowledged(client, batch)
            acknowledged += ids
            for round_ in range(2):
                ids, _ = post_until_acknowledged(
                    client, [statement(i % 6, 200 + round_ * 10 + i) for i in range(10)]
                )
                acknowledged += ids
            mongo.kill()  # a crash: acknowledged (journaled) writes must survive it
            mongo.start()
            ids, _ = post_until_acknowledged(client, [statement(i % 6, 300 + i) for i in range(10)])
            acknowledged += ids
            assert refused_while_down == 1

        store = MongoStore(mongo.url("lrs"))
        try:
            for sid in acknowledged:  # stored, exactly once (the id is the key)
                assert store.get_statement(sid, voided=False) is not None, sid
            log = [orjson.loads(r.value) for r in store.read_log(0, 10_000)]
            assert sorted(s["id"] for s in log) == sorted(acknowledged)

            def counted_once() -> bool:
                live = dict(store.list_states(REDUCER.name, StateQuery(limit=100)))
                return live == replay(REDUCER, log)

            wait_until(counted_once, 120, "profiles to count every statement once")
            total = sum(
                s["statements"] for _, s in store.list_states(REDUCER.name, StateQuery(limit=100))
            )
            assert total == len(acknowledged) == 70
        finally:
            store.close()
    finally:
        worker.stop()
        api.stop()
