"""Kafka adapter of the event bus: kafka-python's idempotent producer, acks from all replicas."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from lrs.events.base import TOPICS, BusUnavailable, Event

log = logging.getLogger("lrs.events.kafka")


class KafkaBus:
    """Topics are named by the port's names (`xapi.statements`, ...) behind `prefix`."""

    def __init__(
        self, bootstrap: str, *, timeout: float = 10.0, partitions: int = 6, prefix: str = ""
    ) -> None:
        self.bootstrap = bootstrap
        self.timeout = timeout
        self.partitions = partitions
        self.prefix = prefix
        self._producer: KafkaProducer | None = None

    def _connect(self) -> KafkaProducer:
        if self._producer is None:
            try:
                self._producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap.split(","),
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=5,
                    retries=5,
                    request_timeout_ms=int(self.timeout * 1000),
                    max_block_ms=int(self.timeout * 1000),
                )
            except KafkaError as exc:
                raise BusUnavailable(f"cannot reach Kafka at {self.bootstrap}: {exc}") from exc
        return self._producer

    def publish(self, topic: str, events: Sequence[Event]) -> None:
        producer = self._connect()
        try:
            futures = [
                producer.send(self.prefix + topic, key=e.key, value=e.value, headers=e.headers or None)
                for e in events
            ]
            producer.flush(timeout=self.timeout)
            for future in futures:
                future.get(timeout=self.timeout)
        except KafkaError as exc:
            # A broken producer may hold stale state about the cluster: start afresh next time.
            self._reset()
            raise BusUnavailable(f"Kafka did not acknowledge {len(events)} records: {exc}") from exc

    def _reset(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=1)
            except Exception:  # closing a broken producer can fail in many ways; nothing to do
                log.debug("closing a failed producer", exc_info=True)

    def has_topic(self, topic: str) -> bool:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap.split(","),
                request_timeout_ms=int(self.timeout * 1000),
            )
        except KafkaError as exc:
            raise BusUnavailable(f"cannot reach Kafka at {self.bootstrap}: {exc}") from exc
        try:
            return self.prefix + topic in admin.list_topics()
        except KafkaError as exc:
            raise BusUnavailable(f"cannot list Kafka topics: {exc}") from exc
        finally:
            admin.close()

    def records_written(self, topic: str) -> int:
        """How many records the topic has ever taken (the sum of its partitions' end offsets).

        Retention never lowers it; only a broker that lost its data does.
        """
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap.split(","),
                request_timeout_ms=int(self.timeout * 1000) + 1000,
                bootstrap_timeout_ms=int(self.timeout * 1000),
                enable_auto_commit=False,  # it only reads end offsets (and would warn every check)
            )
        except KafkaError as exc:
            raise BusUnavailable(f"cannot reach Kafka at {self.bootstrap}: {exc}") from exc
        try:
            topic = self.prefix + topic
            consumer.topics()  # fetches the cluster's metadata, which the next line reads
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                raise BusUnavailable(f"Kafka does not list the partitions of {topic} yet")
            ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            return sum(ends.values())
        except KafkaError as exc:
            raise BusUnavailable(f"cannot read the end offsets of {topic}: {exc}") from exc
        finally:
            consumer.close()

    def create_topics(self) -> None:
        try:
            ensure_topics(self.bootstrap, self.partitions, prefix=self.prefix)
        except KafkaError as exc:
            raise BusUnavailable(f"cannot create Kafka topics: {exc}") from exc

    def close(self) -> None:
        self._reset()


def ensure_topics(
    bootstrap: str, partitions: int = 6, replication: int = 1, *, prefix: str = ""
) -> None:
    """Create the LRS topics if they are missing (deployments may pre-create them)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        for topic in TOPICS:
            try:
                admin.create_topics([NewTopic(prefix + topic, partitions, replication)])
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
