"""The ingest processor on real processes: connectors' records on `xapi.inbound` are
validated and stored by an `lrs process` worker, and every refusal lands on `xapi.dlq` with
its reason and the original bytes, while the stream goes on."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer

from lrs.adapters.sqlite import SQLiteStore
from lrs.events.base import DLQ, INBOUND
from tests.processes import LRSProcess, kafka_settings, wait_until


def statement(n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"account": {"homePage": "https://sis.example.org", "name": f"s{n}"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": f"https://lms.example.org/unit/{n}"},
    }


def dead_letters(bootstrap: str, topic: str, at_least: int) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        consumer_timeout_ms=5000,
    )
    found: list[tuple[bytes, dict[str, bytes]]] = []
    try:
        for message in consumer:
            found.append((message.value, dict(message.headers)))
            if len(found) >= at_least:
                break
    finally:
        consumer.close()
    return found


def test_invalid_records_go_to_the_dlq_with_reason_and_payload_and_the_stream_goes_on(
    tmp_path: Path, kafka_bootstrap: str, kafka_prefix: str
) -> None:
    config = kafka_settings(kafka_bootstrap, kafka_prefix, data=str(tmp_path / "data"))
    worker = LRSProcess("worker", tmp_path, config)
    good = [statement(n) for n in range(6)]
    no_verb = {k: v for k, v in statement(100).items() if k != "verb"}
    bad_mbox = {**statement(101), "actor": {"mbox": "not-an-email"}}
    refused = {
        b"{not json": ("not JSON", None),
        orjson.dumps(no_verb): ("verb", "verb"),
        orjson.dumps(bad_mbox): ("mbox", "actor.mbox"),
    }
    # The refused records sit between good ones on every partition's stream.
    records = [orjson.dumps(good[0]), *list(refused)[:2], orjson.dumps(good[1])]
    records += [list(refused)[2], *(orjson.dumps(s) for s in good[2:])]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    store = None
    try:
        worker.process()
        for value in records:
            producer.send(kafka_prefix + INBOUND, value=value)
        producer.flush(timeout=30)
        store = SQLiteStore(tmp_path / "data" / "lrs.db")
        wait_until(
            lambda: all(store.get_statement(s["id"], voided=False) for s in good),
            90,
            "every valid statement to be stored",
        )
        letters = dead_letters(kafka_bootstrap, kafka_prefix + DLQ, len(refused))
        assert sorted(value for value, _ in letters) == sorted(refused)
        for value, headers in letters:
            words, field = refused[value]
            assert words in headers["reason"].decode()
            assert headers["field"].decode() == (field or "")
        assert len(store.read_log(0, 100)) == len(good)  # nothing refused was stored
    finally:
        producer.close()
        worker.stop()
        if store is not None:
            store.close()
