"""The outbox relay's decision to republish the whole log (the bus is a stand-in here; the
real broker cases are in tests/integration/test_kafka_pipeline.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from lrs.adapters.sqlite import SQLiteStore
from lrs.events.base import BusUnavailable, Event
from lrs.outbox import OutboxRelay

AUTHORITY = {"objectType": "Agent", "account": {"homePage": "http://lrs.test", "name": "k1"}}


class Broker:
    """Keeps what it is sent, and can lose it all, as a broker with lost storage does."""

    def __init__(self) -> None:
        self.records: list[Event] = []
        self.topic = True

    def publish(self, topic: str, events: Sequence[Event]) -> None:
        self.topic = True  # a producer's request makes a missing topic again
        self.records += events

    def has_topic(self, topic: str) -> bool:
        return self.topic

    def records_written(self, topic: str) -> int:
        return len(self.records)

    def create_topics(self) -> None:
        self.topic = True

    def lose_everything(self, topic_comes_back: bool) -> None:
        self.records = []
        self.topic = topic_comes_back

    def close(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "lrs.db", synchronous="OFF")
    statements = [
        {
            "id": str(uuid.uuid4()),
            "actor": {"mbox": f"mailto:l{n}@example.org"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "object": {"id": "http://example.org/a"},
        }
        for n in range(5)
    ]
    store.save_statements(
        statements, authority=AUTHORITY, credential="k1", version="1.0.3", attachments=[]
    )
    yield store
    store.close()


@pytest.mark.parametrize("topic_comes_back", [False, True])
def test_a_broker_that_lost_its_data_gets_the_whole_log_again(
    store: SQLiteStore, topic_comes_back: bool
) -> None:
    broker = Broker()
    relay = OutboxRelay(store, broker)
    assert relay.step() == 5
    broker.lose_everything(topic_comes_back)
    relay.failed(BusUnavailable("broker down"), 1)  # the relay saw the outage
    while relay.step():
        pass
    assert len(broker.records) == 5


def test_a_new_broker_gets_an_unpublished_backlog_once(store: SQLiteStore) -> None:
    broker = Broker()
    broker.topic = False  # a new cluster: the relay creates the topic and walks the log
    relay = OutboxRelay(store, broker)
    while relay.step():
        pass
    assert len(broker.records) == 5  # the walk marks what it sent: the outbox sends nothing more
    assert store.unpublished(10) == []


def test_no_republishing_while_the_broker_keeps_its_records(store: SQLiteStore) -> None:
    broker = Broker()
    relay = OutboxRelay(store, broker)
    relay.step()
    relay.failed(BusUnavailable("a blip"), 1)
    while relay.step():
        pass
    assert len(broker.records) == 5


def test_a_broker_that_lost_its_disk_between_two_publishes_gets_the_log_again(
    store: SQLiteStore,
) -> None:
    """No publish failed: the broker lost its log and came back between two rounds."""
    broker = Broker()
    relay = OutboxRelay(store, broker, check_every=0)
    relay.step()
    broker.lose_everything(topic_comes_back=True)
    while relay.step():
        pass
    assert len(broker.records) == 5


def test_one_relay_per_store_publishes_and_another_takes_over_when_it_stops(
    store: SQLiteStore,
) -> None:
    """Every API process and worker runs a relay; without the lease each published (and
    marked) every statement."""
    broker = Broker()
    first, second = OutboxRelay(store, broker), OutboxRelay(store, broker)
    assert second.step() == 0 or first.step() == 0  # whichever asked first leads
    leader, standby = (first, second) if first.leading else (second, first)
    while leader.step():
        pass
    assert standby.step() == 0
    assert len(broker.records) == 5
    store.save_statements(
        [{"actor": {"mbox": "mailto:x@example.org"},
          "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
          "object": {"id": "http://example.org/b"}}],
        authority=AUTHORITY, credential="k1", version="1.0.3", attachments=[],
    )  # fmt: skip
    leader.stop()  # gives the lease up
    standby._lease_check_at = 0  # its next look at the lease (once a second) comes now
    assert standby.step() == 1
    assert len(broker.records) == 6
