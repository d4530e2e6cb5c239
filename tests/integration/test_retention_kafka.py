"""Retention scheduled by the scaled-out processors: an `lrs process` worker on Apache Kafka
applies the policies on its own (issue 18, point 2, "runs scheduled by the processors" in
both modes; the embedded child is tested in tests/api/test_retention_api.py).

A statement is stored "40 days ago" (the SQLite adapter's clock set back while it is
stored) and one today; the worker, started with a half-second retention interval, removes
the old one only, and the run is an access-log entry whose chain still verifies.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import lrs.adapters.sqlite.base as sqlite_base
from lrs.api.app import create_app
from lrs.auth import create_credential
from lrs.config import load_settings
from lrs.domain.records import AccessEntry, AccessQuery
from lrs.ops import retention
from lrs.ops.audit import verify
from lrs.storage import open_store
from tests.api.test_retention_api import VERSION, _Past, _statement
from tests.conftest import basic_auth
from tests.processes import LRSProcess, kafka_settings, wait_until


def test_an_lrs_process_worker_applies_the_policies_on_its_own(
    tmp_path: Path, kafka_bootstrap: str, kafka_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("LRS_")]:
        monkeypatch.delenv(name)
    data = tmp_path / "data"
    app = create_app(load_settings(data=str(data), processors=False))
    store = app.state.store
    made = create_credential(store, "platform", ["all"], "org-a")
    headers = {**VERSION, "Authorization": basic_auth(made.credential.key, made.secret)}
    old, recent = _statement("lan"), _statement("minh")
    with TestClient(app) as client:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sqlite_base, "datetime", _Past)
            assert client.post("/xapi/statements", json=[old], headers=headers).status_code == 200
        assert client.post("/xapi/statements", json=[recent], headers=headers).status_code == 200
        policy = {"org": "org-a", "data_class": "statements", "days": 30}
        retention.put_policy(store, retention.check_policy(policy, 365), made.credential)

    config = kafka_settings(kafka_bootstrap, kafka_prefix, data=str(data), retention_interval="0.5")
    worker = LRSProcess("worker", tmp_path, config)
    reader = open_store(f"sqlite:///{data / 'lrs.db'}")
    try:
        worker.process()
        wait_until(
            lambda: reader.get_statement(old["id"], voided=False) is None,
            90,
            "the worker's scheduled retention run to remove the 40-day-old statement",
        )
        assert reader.get_statement(recent["id"], voided=False) is not None

        def runs() -> list[AccessEntry]:
            return [e for e in reader.read_access(AccessQuery()) if e.what == "retention/run"]

        # the run removes the statement first and writes its access-log entry after
        wait_until(lambda: bool(runs()), 30, "the retention run's access-log entry")
        assert runs()[0].credential == "lrs-retention"
        assert verify(reader)[1] is None
    finally:
        worker.stop()
        reader.close()
