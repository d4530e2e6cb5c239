"""The event-bus port (`base`) and its adapters; `open_bus(url)` picks one."""

from __future__ import annotations

from lrs.events.base import EventBus


def open_bus(url: str, partitions: int = 6, topic_prefix: str = "") -> EventBus | None:
    """`kafka://host:port[,host:port]` or `local` (None: the store's own log is the bus)."""
    if url == "local":
        return None
    if url.startswith("kafka://"):
        from lrs.events.kafka import KafkaBus

        return KafkaBus(url.removeprefix("kafka://"), partitions=partitions, prefix=topic_prefix)
    raise ValueError(f"unknown bus {url!r}: use local or kafka://host:port")


__all__ = ["EventBus", "open_bus"]
