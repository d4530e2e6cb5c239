"""The scaled-out pipeline on real processes: `lrs serve` and `lrs process` (faust) talking
the Kafka protocol to a real broker, with crashes and a broker restart in the middle."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaConsumer

from consumers.reducers.base import changes_for, replay
from consumers.reducers.competencies import CompetencyReducer, state_key
from consumers.reducers.profiles import REDUCER
from lrs.competency.registry import import_rules, rulesets
from lrs.storage.base import StateQuery
from lrs.storage.sqlite import SQLiteStore
from tests.processes import LRSProcess, TansuBroker, wait_until

VERSION = {"X-Experience-API-Version": "1.0.3"}
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def statement(learner: int, n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"account": {"homePage": "https://lms.example.org", "name": str(learner)}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/" + ("passed" if n % 3 else "attempted")},
        "object": {"id": f"https://lms.example.org/quiz/{n % 5}"},
        "result": {"score": {"raw": n % 10, "min": 0, "max": 10}, "duration": "PT1M"},
        "context": {"contextActivities": {"parent": [{"id": "https://lms.example.org/c/1"}]}},
    }


def voiding(target: str) -> dict[str, Any]:
    return {
        "actor": {"mbox": "mailto:teacher@example.org"},
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": target},
    }


def post(api: LRSProcess, auth: tuple[str, str], statements: list[dict[str, Any]]) -> list[str]:
    response = httpx.post(
        api.url + "/xapi/statements", json=statements, auth=auth, headers=VERSION, timeout=30
    )
    assert response.status_code == 200, response.text
    return list(response.json())


def consumed_ids(bootstrap: str, want: set[str], timeout: float) -> set[str]:
    consumer = KafkaConsumer(
        "xapi.statements",
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        consumer_timeout_ms=int(timeout * 1000),
    )
    seen: set[str] = set()
    try:
        for message in consumer:
            seen.add(orjson.loads(message.value)["id"])
            if want <= seen:
                break
    finally:
        consumer.close()
    return seen


DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
RULES = {
    "id": "quizzes",
    "framework": DIGCOMP,
    "rules": [
        {
            "id": "search",
            "competence": f"{DIGCOMP}/competence/1.1",
            "level": "3",
            "match": {"activity_prefix": "https://lms.example.org/quiz/"},
            "when": {"success": True},
        },
        {
            "id": "safety",
            "competence": f"{DIGCOMP}/competence/4.2",
            "level": "2",
            "match": {"activity_prefix": "https://lms.example.org/quiz/"},
            "distinct_activities": 2,
        },
    ],
}


def read_topic(bootstrap: str, at_least: int, within: float = 90.0) -> list[bytes]:
    """Every record of xapi.statements from offset zero, in partition order.

    Read again until it holds `at_least`: a broker restarted empty gets the log back from
    the outbox relays' next check (every few seconds), not at once.
    """
    deadline = time.monotonic() + within
    while True:
        consumer = KafkaConsumer(
            "xapi.statements",
            bootstrap_servers=bootstrap,
            group_id=f"replay-{uuid.uuid4()}",
            auto_offset_reset="earliest",
            session_timeout_ms=6000,
            consumer_timeout_ms=8000,
        )
        values: list[bytes] = []
        try:
            for message in consumer:
                values.append(message.value)
        finally:
            consumer.close()
        if len(values) >= at_least or time.monotonic() > deadline:
            break
    assert len(values) >= at_least, f"the topic holds {len(values)} of {at_least} statements"
    return values


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    broker = TansuBroker(tmp_path)
    yield broker
    broker.stop()


def settings(tmp_path: Path, broker: TansuBroker) -> dict[str, str]:
    return {
        "data": str(tmp_path / "data"),
        "bus": f"kafka://{broker.bootstrap}",
        "kafka_session_timeout": "6",
        "kafka_partitions": "3",
    }


def test_acknowledged_statements_reach_kafka_across_an_outage_and_an_api_crash(
    tmp_path: Path, broker: TansuBroker
) -> None:
    api = LRSProcess("api", tmp_path, settings(tmp_path, broker))
    auth = api.credential()
    try:
        api.serve()
        # The broker is down: the API still acknowledges, the outbox keeps the statements.
        first = post(api, auth, [statement(i, i) for i in range(20)])
        # A crash after acknowledging, before anything could be published.
        api.kill()
        broker.start()
        api.serve()
        second = post(api, auth, [statement(i, 100 + i) for i in range(20)])
        want = set(first) | set(second)
        assert consumed_ids(broker.bootstrap, want, timeout=30) >= want
    finally:
        api.stop()


def test_profiles_are_exact_after_processor_crash_and_broker_restart(
    tmp_path: Path, broker: TansuBroker
) -> None:
    broker.start()
    config = settings(tmp_path, broker)
    api = LRSProcess("api", tmp_path, config)
    auth = api.credential()
    worker = LRSProcess("worker", tmp_path, config)
    store = SQLiteStore(tmp_path / "data" / "lrs.db")

    # Competency evidence too: quizzes 0-2 show DigComp 1.1 at level 3 (a pass), 4.2 at 2.
    import_rules(store, RULES)
    competencies = CompetencyReducer(rulesets(store))

    def caught_up() -> bool:
        statements = [orjson.loads(r.value) for r in store.read_log(0, 100_000)]
        for reducer in (REDUCER, competencies):
            live = dict(store.list_states(reducer.name, StateQuery(limit=1000)))
            if live != replay(reducer, statements):
                return False
        return True

    try:
        api.serve()
        worker.process()
        batch = [statement(i % 10, i) for i in range(60)]
        ids = post(api, auth, batch)
        wait_until(
            lambda: store.get_state(REDUCER.name, "account:https://lms.example.org|0"),
            60,
            "the first profiles",
        )
        worker.kill()  # mid-stream: some batches applied, offsets maybe not committed
        post(api, auth, [statement(i % 10, 100 + i) for i in range(60)])
        post(api, auth, [voiding(ids[0]), voiding(ids[7])])
        post(api, auth, batch[:10])  # re-sent by a client: stored once, counted once
        worker.process()
        wait_until(caught_up, 90, "profiles to match a replay of the log")

        broker.stop()  # memory storage: the restarted broker has no topics, no offsets
        post(api, auth, [statement(i % 10, 200 + i) for i in range(30)])
        broker.start()
        wait_until(caught_up, 120, "profiles to match a replay after the broker restart")
        learner = store.get_state(REDUCER.name, "account:https://lms.example.org|3")
        assert learner is not None and learner["statements"] == 6 + 6 + 3
        status = store.get_state(
            competencies.name, state_key(DIGCOMP, "account:https://lms.example.org|3")
        )
        assert status is not None
        assert status["competences"][f"{DIGCOMP}/competence/1.1"]["state"] == "achieved"

        # Replaying the topic from offset zero into empty storage gives the same profiles.
        fresh = SQLiteStore(tmp_path / "replay.db")
        try:
            records = read_topic(broker.bootstrap, len(store.read_log(0, 100_000)))
            for start in range(0, len(records), 25):
                chunk = [orjson.loads(v) for v in records[start : start + 25]]
                fresh.apply_changes(REDUCER, changes_for(REDUCER, chunk))
            query = StateQuery(limit=1000)
            assert fresh.list_states(REDUCER.name, query) == store.list_states(REDUCER.name, query)
        finally:
            fresh.close()
    finally:
        worker.stop()
        api.stop()
        store.close()


def test_two_workers_share_the_partitions_and_a_killed_one_loses_nothing(
    tmp_path: Path, broker: TansuBroker
) -> None:
    """Batches are acked only once applied: a rebalance (a second worker joins, then one is
    killed mid-stream) neither loses a statement nor counts one twice."""
    broker.start()
    config = settings(tmp_path, broker)
    api = LRSProcess("api", tmp_path, config)
    auth = api.credential()
    first = LRSProcess("worker-1", tmp_path, config)
    second = LRSProcess("worker-2", tmp_path, config)
    store = SQLiteStore(tmp_path / "data" / "lrs.db")

    def caught_up() -> bool:
        statements = [orjson.loads(r.value) for r in store.read_log(0, 100_000)]
        live = dict(store.list_states(REDUCER.name, StateQuery(limit=1000)))
        return live == replay(REDUCER, statements)

    try:
        api.serve()
        first.process()
        post(api, auth, [statement(i % 12, i) for i in range(60)])
        wait_until(caught_up, 90, "the first worker to fold the first statements")
        second.process()  # the group rebalances: the partitions are split
        for round_ in range(4):
            post(api, auth, [statement(i % 12, 100 * (round_ + 1) + i) for i in range(40)])
        first.kill()  # mid-stream, perhaps mid-batch: the second takes every partition over
        post(api, auth, [statement(i % 12, 900 + i) for i in range(40)])
        wait_until(caught_up, 120, "profiles to match a replay of the log")
        learner = store.get_state(REDUCER.name, "account:https://lms.example.org|5")
        assert learner is not None and learner["statements"] == 5 + 4 * 3 + 3
    finally:
        second.stop()
        first.stop()
        api.stop()
        store.close()
