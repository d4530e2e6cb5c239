"""The event-bus port: publish keyed records to a topic, durably.

The embedded mode needs no bus: the store's ordered statement log is the topic and
consumers keep offsets in the store. Scaled out, statements are published to Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

STATEMENTS = "xapi.statements"  # every stored statement, key = learner key
INBOUND = "xapi.inbound"  # what connectors emit, not yet validated or stored
DLQ = "xapi.dlq"  # inbound records that were refused, with the reason
TOPICS = (STATEMENTS, INBOUND, DLQ)
PROCESSORS_GROUP = "lrs-processors"  # the `lrs process` workers' consumer group (faust app id)


@dataclass(frozen=True)
class Event:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class BusUnavailable(Exception):
    """The bus did not acknowledge a publish; the caller keeps the records and retries."""


class EventBus(Protocol):
    def publish(self, topic: str, events: Sequence[Event]) -> None:
        """Return only once every event is acknowledged by the bus; else BusUnavailable."""

    def has_topic(self, topic: str) -> bool:
        """Whether the topic exists (a bus that lost its data no longer has it)."""

    def records_written(self, topic: str) -> int:
        """Records the topic has ever taken; fewer than were published means it lost data."""
        ...

    def create_topics(self) -> None:
        """Create the LRS topics that are missing."""

    def close(self) -> None: ...
