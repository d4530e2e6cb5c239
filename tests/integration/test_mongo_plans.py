"""Every filter the scaled-out write path sends is answered from an index.

The commands are not listed by hand: pymongo's command monitoring records what `MongoStore`
really sends while the API stores batches (new statements, a StatementRef, a voiding, a
repeated batch), the outbox relay publishes them and the worker folds them into every
projection; then each distinct filter shape is explained on the server and must not be a
collection scan. A new query that scans shows up here without anyone listing it.

Updates and deletes are explained as a `find` with their filter: MongoDB plans an update's
filter like a find's, and SecantusDB's `explain` of an `update` command ignores the filter
(it reports a scan even for `{_id: x}`). FerretDB cannot run `MongoStore` at all (no
partial indexes, no transactions: tests/servers/STANDINS.md), so this runs on SecantusDB.
The read path (`query_statements`, `statement_history`) is not covered: SecantusDB plans a
seq range beside another condition as a scan (STANDINS.md), MongoDB 7 does not.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymongo import MongoClient, monitoring

from consumers.reducers.base import changes_of_records
from consumers.reducers.enabled import reducers
from consumers.runtime.local import apply_in_parts
from lrs.adapters.mongodb import MongoStore
from lrs.adapters.mongodb.base import IN_CHUNK
from lrs.events.base import Event
from lrs.outbox import OutboxRelay
from tests.servers import MongoServer

AUTHORITY = {"objectType": "Agent", "account": {"homePage": "http://lrs.test", "name": "k1"}}
VERBS = "http://adlnet.gov/expapi/verbs/"

# Filters that scan on purpose, each with why that is fine.
MAY_SCAN = {
    ("writes", "{}"): "the batches in flight (`_settled`): a handful of documents at any time",
    # claim_lease: `_id` and an `$or` (SecantusDB scans a top-level `$or`; MongoDB uses
    # `_id`); one document per consumer and lease, so a few in all
    ("offsets", '{"_id":"str","$or":[{"owner":"str"}]}'): "offsets: a few documents at most",
}


class Recorder(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append((event.database_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def filters(command: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(collection, filter, sort) of each query a command carries."""
    name = next(iter(command))
    collection = command[name]
    if name == "find":
        yield collection, command.get("filter", {}), command.get("sort")
    elif name == "update":
        for update in command["updates"]:
            yield collection, update["q"], None
    elif name == "delete":
        for delete in command["deletes"]:
            yield collection, delete["q"], None
    elif name == "findAndModify":
        yield collection, command.get("query", {}), command.get("sort")
    elif name == "aggregate":
        first = command["pipeline"][0] if command["pipeline"] else {}
        yield collection, first.get("$match", {}), None


def shape(value: Any) -> Any:
    """The filter with its values blanked: one explain per shape."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def statement(learner: str, verb: str = "completed", **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": f"mailto:{learner}@example.org", "name": learner.upper()},
        "verb": {"id": VERBS + verb},
        "object": {
            "id": f"http://example.org/course/1/act/{learner}",
            "definition": {"name": {"en": "An activity"}},
        },
        "result": {"completion": True, "score": {"scaled": 0.9}},
        **extra,
    }


class KeptEvents:
    def __init__(self) -> None:
        self.records: list[Event] = []

    def publish(self, topic: str, events: Any) -> None:
        self.records.extend(events)

    def has_topic(self, topic: str) -> bool:
        return True

    def records_written(self, topic: str) -> int:
        return len(self.records)

    def create_topics(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MongoServer]:
    with MongoServer(tmp_path / "secantus") as running:
        yield running


def test_the_write_path_relay_and_worker_send_no_filter_that_scans(server: MongoServer) -> None:
    recorder = Recorder()
    url = server.url("plans")
    store = MongoStore(url, client_options={"event_listeners": [recorder]})
    try:
        first = [statement(f"p{n}") for n in range(20)]
        target = first[0]["id"]
        later = [
            statement("p1", object={"objectType": "StatementRef", "id": first[1]["id"]}),
            statement("p2", object={"objectType": "StatementRef", "id": str(uuid.uuid4())}),
            statement("teacher", "voided", object={"objectType": "StatementRef", "id": target}),
        ]
        for batch in (first, later, first):  # the last one repeats a stored batch
            store.save_statements(
                batch, authority=AUTHORITY, credential="k1", version="1.0.3", attachments=[]
            )
        bus = KeptEvents()
        relay = OutboxRelay(store, bus)
        while relay.step():
            pass
        relay.check_log()
        assert len(bus.records) == len(first) + len(later)
        projections = reducers(store)
        values = [event.value for event in bus.records]
        for _ in range(2):  # the second time, everything is recorded already
            for reducer, changes in zip(
                projections, changes_of_records(projections, values), strict=True
            ):
                apply_in_parts(store, reducer, changes)
        # The Kafka worker's competency refresh (refresh_changes) reads each person's
        # evidence so; no rules are loaded here, so it is asked directly.
        store.get_contributions("competencies", ["f|mailto:p1@example.org", "g|p1"])
        sent = list(recorder.commands)
    finally:
        store.close()

    client: MongoClient[dict[str, Any]] = MongoClient(url)
    db = client.get_default_database()
    seen: dict[str, tuple[str, dict[str, Any], Any]] = {}
    for _database, command in sent:
        for collection, selector, sort in filters(command):
            key = f"{collection} {orjson.dumps(shape(selector)).decode()}"
            seen.setdefault(key, (collection, selector, sort))
    scans = []
    try:
        for key, (collection, selector, sort) in sorted(seen.items()):
            if (collection, orjson.dumps(shape(selector)).decode()) in MAY_SCAN:
                continue
            find: dict[str, Any] = {"find": collection, "filter": selector}
            if sort:
                find["sort"] = sort
            plan = db.command("explain", find, verbosity="queryPlanner")
            stages = re.findall(r"'stage': '(\w+)'", str(plan["queryPlanner"]["winningPlan"]))
            if "COLLSCAN" in stages or not stages:
                scans.append(f"{key}: {stages}")
    finally:
        client.close()
    assert len(seen) >= 15, sorted(seen)  # the exercise reached the statements, relay, worker
    assert not scans, "\n".join(scans)


def test_worker_batches_go_in_commands_of_in_chunk_documents(server: MongoServer) -> None:
    """SecantusDB runs no other client's transaction statement (nor retryable write) while one
    runs, so a worker's batch of state upserts (or contributions) in one command held the
    API's batches back for as long as the whole batch took (benchmarks/PIPELINE.md); in
    commands of IN_CHUNK documents the API's statements get in between. All of them still
    commit together."""
    recorder = Recorder()
    url = server.url("chunks")
    store = MongoStore(url, client_options={"event_listeners": [recorder]})
    try:
        learners = 2 * IN_CHUNK + 5
        store.save_statements(
            [statement(f"c{n}") for n in range(learners)],
            authority=AUTHORITY, credential="k1", version="1.0.3", attachments=[],
        )  # fmt: skip
        bus = KeptEvents()
        relay = OutboxRelay(store, bus)
        while relay.step():
            pass
        profiles = next(r for r in reducers(store) if r.name == "profiles")
        (changes,) = changes_of_records([profiles], [event.value for event in bus.records])
        recorder.commands.clear()
        apply_in_parts(store, profiles, changes)
        state_writes = [
            len(command["updates"])
            for _database, command in recorder.commands
            if command.get("update") == "states"
        ]
        contribution_writes = [
            len(command["documents"])
            for _database, command in recorder.commands
            if command.get("insert") == "contributions"
        ]
        stored = store._states.count_documents({"projection": "profiles"})
        recorded = store._contributions.count_documents({"projection": "profiles"})
    finally:
        store.close()
    assert sum(state_writes) == learners == stored
    assert max(state_writes) <= IN_CHUNK, state_writes
    assert sum(contribution_writes) == learners == recorded
    assert max(contribution_writes) <= IN_CHUNK, contribution_writes
