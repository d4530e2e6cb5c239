"""Forwarding on real processes: `lrs serve` (embedded: the processors' child process runs
the forwarder) sends to a second `lrs serve` over xAPI and to a webhook receiver on
loopback, while statements flow, the receiver goes down and comes back, and the child is
killed (SIGKILL) mid-run. Nothing stored is lost; repeats are harmless (same ids)."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from lrs.adapters.sqlite import SQLiteStore
from tests.forwarding.receiver import WebhookReceiver
from tests.processes import LRSProcess, kafka_settings, wait_until

VERSION = {"X-Experience-API-Version": "1.0.3"}
SECRET = "whsec_processes-0123456789abcdef"


def statement(n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"account": {"homePage": "https://lms.example.org", "name": str(n % 9)}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/" + ("passed" if n % 3 else "attempted")},
        "object": {"id": f"https://lms.example.org/quiz/{n % 5}"},
    }


class Poster(threading.Thread):
    """Posts statements to the source LRS in small batches until stopped."""

    def __init__(self, api: LRSProcess, auth: tuple[str, str]) -> None:
        super().__init__(daemon=True)
        self.api, self.auth = api, auth
        self.n = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            batch = [statement(self.n + i) for i in range(10)]
            response = httpx.post(
                self.api.url + "/xapi/statements", json=batch, auth=self.auth,
                headers=VERSION, timeout=30,
            )  # fmt: skip
            assert response.status_code == 200, response.text
            self.n += 10
            time.sleep(0.05)

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


def admin_post(api: LRSProcess, auth: tuple[str, str], path: str, body: Any) -> Any:
    response = httpx.post(api.url + path, json=body, auth=auth, timeout=30)
    assert response.status_code in (200, 201), response.text
    return response.json()


def log_ids(path: Path) -> list[str]:
    store = SQLiteStore(path)
    try:
        return [orjson.loads(r.value)["id"] for r in store.read_log(0, 1_000_000)]
    finally:
        store.close()


def first_occurrences(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def processors_child(parent: int) -> int:
    """The pid of `lrs serve`'s processors' process (a multiprocessing spawn child)."""
    children: list[str] = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        children += (task / "children").read_text().split()
    for pid in children:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"multiprocessing" in command and b"resource_tracker" not in command:
            return int(pid)
    raise AssertionError(f"no processors' process under {parent}: {children}")


def forward_metric(api: LRSProcess, name: str, rule: str) -> int | None:
    text = httpx.get(api.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + "{") and f'rule="{rule}"' in line:
            return int(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the child in /proc")
def test_embedded_forwarding_survives_receiver_downtime_and_a_killed_forwarder(
    tmp_path: Path,
) -> None:
    target = LRSProcess("target", tmp_path, {"data": str(tmp_path / "target")})
    source = LRSProcess("source", tmp_path, {"data": str(tmp_path / "source")})
    receiver = WebhookReceiver(SECRET).start()
    poster: Poster | None = None
    try:
        target.serve()
        source.serve()
        target_auth = target.credential()
        writer = source.credential()
        admin = source.credential(("all", "admin"))
        to_lrs = admin_post(source, admin, "/api/v1/forwarding/rules", {
            "name": "to the target LRS",
            "destination": {"kind": "xapi", "url": target.url + "/xapi",
                            "username": target_auth[0], "password": target_auth[1]},
            "batch": 25,
        })  # fmt: skip
        to_hook = admin_post(source, admin, "/api/v1/forwarding/rules", {
            "name": "to the webhook",
            "match": {"verbs": ["http://adlnet.gov/expapi/verbs/passed"]},
            "destination": {"kind": "webhook", "url": receiver.url, "secret": SECRET},
            "batch": 25,
        })  # fmt: skip
        assert to_lrs["destination"]["secret"] == "…" + target_auth[1][-4:]  # never in full
        poster = Poster(source, writer)
        poster.start()
        time.sleep(2)
        receiver.stop()  # the webhook receiver is down while statements keep coming
        time.sleep(3)
        os.kill(processors_child(source.popen.pid), signal.SIGKILL)  # type: ignore[union-attr]
        time.sleep(2)
        receiver.start()
        time.sleep(2)
        poster.stop()
        stored = log_ids(tmp_path / "source" / "lrs.db")
        assert len(stored) == poster.n
        source_store = SQLiteStore(tmp_path / "source" / "lrs.db")
        try:
            values = [orjson.loads(r.value) for r in source_store.read_log(0, 1_000_000)]
        finally:
            source_store.close()
        passed_ids = [v["id"] for v in values if v["verb"]["id"].endswith("/passed")]
        wait_until(
            lambda: set(log_ids(tmp_path / "target" / "lrs.db")) == set(stored), 120,
            "every statement to reach the target LRS",
        )  # fmt: skip
        wait_until(
            lambda: set(receiver.statement_ids()) == set(passed_ids), 120,
            "every passed statement to reach the webhook",
        )  # fmt: skip
        # In order per destination: repeats (a batch sent again after the kill) come back
        # in order, so the first time each id arrives follows the source's log.
        assert first_occurrences(receiver.statement_ids()) == passed_ids
        assert first_occurrences(log_ids(tmp_path / "target" / "lrs.db")) == stored
        assert receiver.bad_signatures == 0
        wait_until(lambda: forward_metric(source, "lrs_forward_lag", to_lrs["id"]) == 0, 30,
                   "the lag in /metrics to reach 0")  # fmt: skip
        delivered = forward_metric(source, "lrs_forward_delivered_total", to_hook["id"])
        assert delivered is not None and delivered >= len(passed_ids)
        assert (forward_metric(source, "lrs_forward_failed_total", to_hook["id"]) or 0) > 0
        assert "starting a new one" in source.log()  # the killed forwarder was replaced
    finally:
        if poster is not None:
            poster.stop()
        receiver.stop()
        source.stop()
        target.stop()


@pytest.mark.servers
def test_kafka_mode_forwarding_survives_a_killed_worker(
    tmp_path: Path, kafka_bootstrap: str, kafka_prefix: str
) -> None:
    """Scaled out, the `lrs process` worker forwards (reading the store's log, whose order
    is total, not the partitioned topic); a worker killed mid-run is replaced by another
    that resumes from the rule's committed offset."""
    config = kafka_settings(kafka_bootstrap, kafka_prefix, data=str(tmp_path / "data"))
    api = LRSProcess("api", tmp_path, config)
    first = LRSProcess("worker-1", tmp_path, config)
    second = LRSProcess("worker-2", tmp_path, config)
    receiver = WebhookReceiver(SECRET).start()
    poster: Poster | None = None
    try:
        api.serve()
        writer = api.credential()
        admin = api.credential(("all", "admin"))
        rule = admin_post(api, admin, "/api/v1/forwarding/rules", {
            "name": "kafka hook",
            "destination": {"kind": "webhook", "url": receiver.url, "secret": SECRET},
            "batch": 20,
        })  # fmt: skip
        first.process()
        poster = Poster(api, writer)
        poster.start()
        wait_until(lambda: len(receiver.statement_ids()) >= 20, 90, "the first deliveries")
        first.kill()  # mid-run: its lease on the rule runs out, the next worker takes over
        second.process()
        time.sleep(2)
        poster.stop()
        stored = log_ids(tmp_path / "data" / "lrs.db")
        assert len(stored) == poster.n
        wait_until(lambda: set(receiver.statement_ids()) == set(stored), 120,
                   "every statement to reach the webhook")  # fmt: skip
        assert first_occurrences(receiver.statement_ids()) == stored
        assert receiver.bad_signatures == 0
        state = httpx.get(
            api.url + f"/api/v1/forwarding/rules/{rule['id']}", auth=admin, timeout=10
        ).json()["state"]
        assert state["lag"] == 0 and state["delivered"] >= len(stored)
    finally:
        if poster is not None:
            poster.stop()
        receiver.stop()
        second.stop()
        first.stop()
        api.stop()
