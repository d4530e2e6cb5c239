"""Kafka adapter of the event bus: kafka-python's idempotent producer, acks from all replicas."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kafka import KafkaConsumer, KafkaProducer, OffsetSpec, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from lrs.background import BackgroundLoop
from lrs.events.base import INBOUND, PROCESSORS_GROUP, STATEMENTS, TOPICS, BusUnavailable, Event

log = logging.getLogger("lrs.events.kafka")
# kafka-python 3 logs every connection it opens at INFO (some 15 lines for each admin client
# the relay's and the lag logger's checks make, every few seconds): its warnings are what an
# operator needs from it.
logging.getLogger("kafka").setLevel(logging.WARNING)


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
                    # A missing topic is an outage, not something to make with the broker's
                    # defaults (one partition): the relay then creates the LRS topics and
                    # republishes the log (lrs/outbox.py).
                    allow_auto_create_topics=False,
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

    def consumer_lag(self, group: str = PROCESSORS_GROUP) -> dict[str, dict[int, int]]:
        """Records the processors' consumer group has yet to commit, per topic and partition.

        The broker's end offset less the group's committed offset; a partition the group never
        committed counts from the start of its log. Topics by the port's names (no prefix).
        """
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap.split(","),
                request_timeout_ms=int(self.timeout * 1000),
                bootstrap_timeout_ms=int(self.timeout * 1000),
            )
        except KafkaError as exc:
            raise BusUnavailable(f"cannot reach Kafka at {self.bootstrap}: {exc}") from exc
        try:
            names = {self.prefix + t: t for t in (STATEMENTS, INBOUND)}
            described = admin.describe_topics(list(names))
            partitions = [
                TopicPartition(topic["name"], p["partition_index"])
                for topic in described
                if topic["error_code"] == 0
                for p in topic["partitions"]
            ]
            if not partitions:
                return {}
            ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
            starts = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in partitions})
            committed = admin.list_group_offsets({self.prefix + group: partitions})
            done = committed.get(self.prefix + group, {})
            lag: dict[str, dict[int, int]] = {}
            for tp in partitions:
                mark = done[tp].offset if tp in done and done[tp].offset >= 0 else -1
                base = mark if mark >= 0 else starts[tp].offset
                lag.setdefault(names[tp.topic], {})[tp.partition] = max(0, ends[tp].offset - base)
            return lag
        except KafkaError as exc:
            raise BusUnavailable(f"cannot read the consumer lag of {group}: {exc}") from exc
        finally:
            admin.close()

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


class LagLogger(BackgroundLoop):
    """Logs the processors' consumer lag, as the broker reports it, every `every` seconds."""

    name = "lrs-kafka-lag"

    def __init__(self, bus: KafkaBus, every: float = 30.0) -> None:
        super().__init__(idle=every)
        self.bus = bus

    def step(self) -> int:
        lag = self.bus.consumer_lag()
        log.info(
            "consumer lag (records not yet committed by the processors): %s",
            "; ".join(
                f"{topic} {sum(parts.values())} ("
                + ", ".join(f"p{p} {n}" for p, n in sorted(parts.items()))
                + ")"
                for topic, parts in sorted(lag.items())
            )
            or "no topics yet",
        )
        return 0

    def failed(self, exc: Exception, attempt: int) -> float:
        log.warning("cannot read the consumer lag: %s", exc)
        return self.idle
