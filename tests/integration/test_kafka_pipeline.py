"""The scaled-out pipeline on real processes: `lrs serve` and `lrs process` (faust) on Apache
Kafka, with the API, a worker and the broker itself (kill -9, its log on disk) crashing
while statements flow."""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient

from consumers.reducers.base import changes_for, replay
from consumers.reducers.competencies import CompetencyReducer, state_key
from consumers.reducers.profiles import REDUCER
from lrs.adapters.sqlite import SQLiteStore
from lrs.competency.registry import import_rules, rulesets
from lrs.domain.records import StateQuery
from lrs.events.base import STATEMENTS
from tests.processes import LRSProcess, kafka_settings, wait_until
from tests.servers import KafkaBroker
from tests.servers.kafka import kafka_classpath

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


def consumed_ids(bootstrap: str, topic: str, want: set[str], timeout: float) -> set[str]:
    consumer = KafkaConsumer(
        topic,
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


def read_topic(bootstrap: str, topic: str, at_least: int, within: float = 90.0) -> list[bytes]:
    """Every record of the statements topic from offset zero, in partition order.

    Read again until it holds `at_least`: the relays publish what the broker missed while it
    was down once it is back, not at once.
    """
    deadline = time.monotonic() + within
    while True:
        consumer = KafkaConsumer(
            topic,
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


class Poster(threading.Thread):
    """A client posting small batches until stopped, keeping the ids acknowledged: the
    statements that flow while workers join, die and the broker crashes."""

    def __init__(self, api: LRSProcess, auth: tuple[str, str], start: int) -> None:
        super().__init__(daemon=True)
        self.api, self.auth, self.n = api, auth, start
        self.acknowledged: list[str] = []
        self.error: BaseException | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                batch = [statement(k % 12, k) for k in range(self.n, self.n + 10)]
                self.acknowledged += post(self.api, self.auth, batch)
                self.n += 10
                time.sleep(0.05)
        except BaseException as exc:  # reported by stop(), in the test's thread
            self.error = exc

    def stop(self) -> list[str]:
        self.halt.set()
        self.join(timeout=60)
        if self.error is not None:
            raise self.error
        return self.acknowledged


def producer_ids(broker: KafkaBroker, topic: str) -> set[str]:
    """The producer ids in the broker's own log segments of `topic` (-1: not idempotent)."""
    segments = sorted(str(p) for p in (broker.directory / "log").glob(f"{topic}-*/*.log"))
    dumped = subprocess.run(
        ["java", "-cp", kafka_classpath(), "kafka.tools.DumpLogSegments", "--files",
         ",".join(segments)],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    return set(re.findall(r"producerId: (-?\d+)", dumped))


def transactions(bootstrap: str, prefix: str) -> set[str]:
    """The states of the broker's transactions whose transactional id starts with `prefix`."""
    admin = KafkaAdminClient(bootstrap_servers=[bootstrap])
    try:
        listings = [t for per_broker in admin.list_transactions().values() for t in per_broker]
        return {t.state.value for t in listings if t.transactional_id.startswith(prefix)}
    finally:
        admin.close()


def group_members(bootstrap: str, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=[bootstrap])
    try:
        return len(admin.describe_groups([group])[group]["members"])
    finally:
        admin.close()


def test_acknowledged_statements_reach_kafka_across_an_outage_and_an_api_crash(
    tmp_path: Path, kafka_broker: KafkaBroker, kafka_prefix: str
) -> None:
    kafka_broker.stop()  # down before the API starts
    config = kafka_settings(kafka_broker.bootstrap, kafka_prefix, data=str(tmp_path / "data"))
    api = LRSProcess("api", tmp_path, config)
    auth = api.credential()
    try:
        api.serve()
        # The broker is down: the API still acknowledges, the outbox keeps the statements.
        first = post(api, auth, [statement(i, i) for i in range(20)])
        # A crash after acknowledging, before anything could be published.
        api.kill()
        kafka_broker.start()
        api.serve()
        second = post(api, auth, [statement(i, 100 + i) for i in range(20)])
        want = set(first) | set(second)
        topic = kafka_prefix + STATEMENTS
        assert consumed_ids(kafka_broker.bootstrap, topic, want, timeout=60) >= want
    finally:
        api.stop()


def test_a_broker_killed_mid_stream_loses_nothing_acknowledged_and_counts_nothing_twice(
    tmp_path: Path, kafka_broker: KafkaBroker, kafka_prefix: str
) -> None:
    """kill -9 of the broker (its log on disk) and of a worker while statements flow: every
    acknowledged statement reaches the topic and the profiles and competency status, once."""
    config = kafka_settings(kafka_broker.bootstrap, kafka_prefix, data=str(tmp_path / "data"))
    api = LRSProcess("api", tmp_path, config)
    auth = api.credential()
    worker = LRSProcess("worker", tmp_path, config)
    store = SQLiteStore(tmp_path / "data" / "lrs.db")
    topic = kafka_prefix + STATEMENTS

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
            90,
            "the first profiles",
        )
        worker.kill()  # mid-stream: some batches applied, offsets maybe not committed
        post(api, auth, [statement(i % 10, 100 + i) for i in range(60)])
        post(api, auth, [voiding(ids[0]), voiding(ids[7])])
        post(api, auth, batch[:10])  # re-sent by a client: stored once, counted once
        worker.process()
        wait_until(caught_up, 120, "profiles to match a replay of the log")

        poster = Poster(api, auth, 1000)
        poster.start()
        time.sleep(1.5)
        kafka_broker.kill()  # kill -9 mid-stream: the API keeps acknowledging (outbox)
        time.sleep(2)
        kafka_broker.start()  # the same log directory and ports
        time.sleep(2)
        flowing = poster.stop()
        assert len(flowing) >= 30, "statements were acknowledged while the broker was down"
        wait_until(caught_up, 180, "profiles to match a replay after the broker crash")

        logged = [orjson.loads(r.value) for r in store.read_log(0, 100_000)]
        assert {s["id"] for s in logged} >= set(ids) | set(flowing)
        records = read_topic(kafka_broker.bootstrap, topic, len(logged))
        assert {orjson.loads(v)["id"] for v in records} == {s["id"] for s in logged}
        learner = store.get_state(REDUCER.name, "account:https://lms.example.org|3")
        assert learner is not None
        assert learner["statements"] == sum(
            1 for s in replay_input(logged) if s["actor"]["account"]["name"] == "3"
        )
        status = store.get_state(
            competencies.name, state_key(DIGCOMP, "account:https://lms.example.org|3")
        )
        assert status is not None
        assert status["competences"][f"{DIGCOMP}/competence/1.1"]["state"] == "achieved"

        # Replaying the topic from offset zero into empty storage gives the same profiles.
        fresh = SQLiteStore(tmp_path / "replay.db")
        try:
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
    # The relay's producer is idempotent: every batch on the broker's disk has a producer id.
    kafka_broker.stop()
    producers = producer_ids(kafka_broker, topic)
    assert producers and "-1" not in producers


def test_a_broker_that_lost_its_disk_gets_the_whole_log_again(
    tmp_path: Path, kafka_broker: KafkaBroker, kafka_prefix: str
) -> None:
    """The topic and the group's offsets are gone: the outbox relay notices and republishes
    the store's log, and the worker, restarted (its positions name the lost log: what an
    operator does after such a loss), replays it from offset zero without counting twice."""
    config = kafka_settings(kafka_broker.bootstrap, kafka_prefix, data=str(tmp_path / "data"))
    api = LRSProcess("api", tmp_path, config)
    auth = api.credential()
    worker = LRSProcess("worker", tmp_path, config)
    store = SQLiteStore(tmp_path / "data" / "lrs.db")

    def caught_up() -> bool:
        statements = [orjson.loads(r.value) for r in store.read_log(0, 100_000)]
        live = dict(store.list_states(REDUCER.name, StateQuery(limit=1000)))
        return live == replay(REDUCER, statements)

    try:
        api.serve()
        worker.process()
        first = post(api, auth, [statement(i % 10, i) for i in range(40)])
        wait_until(caught_up, 90, "the worker to fold the first statements")
        kafka_broker.lose_disk()
        kafka_broker.start()
        second = post(api, auth, [statement(i % 10, 100 + i) for i in range(40)])
        topic = kafka_prefix + STATEMENTS
        records = read_topic(kafka_broker.bootstrap, topic, len(first) + len(second), 120)
        assert {orjson.loads(v)["id"] for v in records} >= set(first) | set(second)
        worker.stop()
        worker.process()
        wait_until(caught_up, 120, "profiles to match a replay after the broker lost its disk")
        learner = store.get_state(REDUCER.name, "account:https://lms.example.org|4")
        assert learner is not None and learner["statements"] == 8
    finally:
        worker.stop()
        api.stop()
        store.close()


def replay_input(logged: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The statements a profile counts: neither voided nor voiding ones."""
    voided = {s["object"]["id"] for s in logged if s["verb"]["id"] == VOIDED}
    return [s for s in logged if s["verb"]["id"] != VOIDED and s["id"] not in voided]


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_two_workers_share_the_partitions_and_a_killed_one_loses_nothing(
    tmp_path: Path, kafka_bootstrap: str, kafka_prefix: str, guarantee: str
) -> None:
    """Batches are acked only once applied: rebalances while statements flow (a second worker
    joins, then one is killed mid-stream) neither lose a statement nor count one twice, with
    either of faust's processing guarantees."""
    config = kafka_settings(
        kafka_bootstrap, kafka_prefix, data=str(tmp_path / "data"),
        kafka_processing_guarantee=guarantee,
    )  # fmt: skip
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
        poster = Poster(api, auth, 100)
        poster.start()
        second.process()  # the group rebalances while statements flow
        group = kafka_prefix + "lrs-processors"
        wait_until(lambda: group_members(kafka_bootstrap, group) == 2, 60,
                   "the second worker to join the group")  # fmt: skip
        time.sleep(2)
        first.kill()  # mid-stream, perhaps mid-batch: the second takes every partition over
        time.sleep(2)
        flowing = poster.stop()
        wait_until(caught_up, 120, "profiles to match a replay of the log")
        learner = store.get_state(REDUCER.name, "account:https://lms.example.org|5")
        assert learner is not None
        assert learner["statements"] == 5 + sum(
            1 for n in range(100, 100 + len(flowing)) if n % 12 == 5
        )
        # exactly_once: the workers commit their offsets in Kafka transactions (faust commits
        # every few seconds); at_least_once: no transactional producer at all.
        group = kafka_prefix + "lrs-processors"
        if guarantee == "exactly_once":
            wait_until(lambda: "CompleteCommit" in transactions(kafka_bootstrap, group), 60,
                       "a committed transaction of the workers")  # fmt: skip
        else:
            assert transactions(kafka_bootstrap, group) == set()
    finally:
        second.stop()
        first.stop()
        api.stop()
        store.close()


def statements_lag(api: LRSProcess) -> int | None:
    """The statements topic's consumer lag summed over partitions, from the API's /metrics."""
    text = httpx.get(api.url + "/metrics", timeout=30).text
    if "lrs_kafka_up 1" not in text:
        return None
    found = re.findall(r'lrs_kafka_consumer_lag\{topic="xapi.statements",partition="\d+"\} (\d+)', text)
    return sum(int(n) for n in found) if len(found) == 3 else None


def test_consumer_lag_from_the_broker_is_in_metrics_and_the_worker_log(
    tmp_path: Path, kafka_bootstrap: str, kafka_prefix: str
) -> None:
    config = kafka_settings(
        kafka_bootstrap, kafka_prefix, data=str(tmp_path / "data"), kafka_lag_log_interval="1"
    )
    api = LRSProcess("api", tmp_path, config)
    auth = api.credential()
    worker = LRSProcess("worker", tmp_path, config)
    try:
        api.serve()
        post(api, auth, [statement(i, i) for i in range(30)])
        # No worker yet: all 30 published statements wait, uncommitted by the group.
        wait_until(lambda: statements_lag(api) == 30, 60, "a lag of 30 in /metrics")
        worker.process()
        wait_until(lambda: statements_lag(api) == 0, 90, "the worker to commit every record")
        wait_until(
            lambda: re.search(r"consumer lag .*xapi\.statements 0 \(p0 0, p1 0, p2 0\)", worker.log()),
            30,
            "the worker to log its lag",
        )
    finally:
        worker.stop()
        api.stop()
