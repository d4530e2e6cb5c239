"""/metrics of a scaled-out deployment on real processes (issue 17, point 4): statements an
`lrs process` worker stored from Kafka count in `lrs_statements_stored_total` beside those
the API stored, a `lrs connect --to kafka://` run appears in `lrs_connector_runs_total`
(its summary is no dead letter), and a fresh API process reads the same figures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from lrs.adapters.sqlite import SQLiteStore
from tests.integration.test_kafka_ingest import statement
from tests.processes import LRSProcess, kafka_settings, wait_until

ROOT = Path(__file__).resolve().parents[2]


def figure(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = (
        r"(?m)^"
        + re.escape(name)
        + (r"\{" + re.escape(wanted) + r"\}" if labels else "")
        + r" (\S+)$"
    )
    found = re.search(pattern, text)
    return float(found.group(1)) if found else None


def metrics(api: LRSProcess) -> str:
    return httpx.get(api.url + "/metrics", timeout=30).text


def connect(
    lines: Path, tmp_path: Path, bootstrap: str, prefix: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}
    env["LRS_KAFKA_TOPIC_PREFIX"] = prefix
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "lrs.cli",
            "connect",
            "xapi",
            "--input",
            str(lines),
            "--to",
            f"kafka://{bootstrap}",
            "--no-checkpoint",
            "--data",
            str(tmp_path / "connector"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env=env,
    )


def test_the_worker_s_statements_and_the_kafka_connector_run_are_in_metrics(
    tmp_path: Path, kafka_bootstrap: str, kafka_prefix: str
) -> None:
    config = kafka_settings(kafka_bootstrap, kafka_prefix, data=str(tmp_path / "data"))
    api = LRSProcess("api", tmp_path, config)
    auth = api.credential()
    worker = LRSProcess("worker", tmp_path, config)
    sent = [statement(n) for n in range(5)]
    lines = tmp_path / "in.jsonl"
    lines.write_text("".join(json.dumps(s) + "\n" for s in sent))
    store = None
    try:
        api.serve()
        worker.process()
        posted = [statement(100 + n) for n in range(2)]
        response = httpx.post(
            api.url + "/xapi/statements",
            json=posted,
            auth=auth,
            headers={"X-Experience-API-Version": "1.0.3"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        done = connect(lines, tmp_path, kafka_bootstrap, kafka_prefix)
        assert done.returncode == 0, done.stderr
        assert "read 5, stored 5" in done.stderr
        store = SQLiteStore(tmp_path / "data" / "lrs.db")
        wait_until(
            lambda: all(store.get_statement(s["id"], voided=False) for s in sent),
            90,
            "the worker to store what the connector sent",
        )
        # 2 through the API, 5 by the worker from Kafka; the credential has no organisation
        wait_until(
            lambda: figure(metrics(api), "lrs_statements_stored_total", org="default") == 7,
            30,
            "/metrics to count the worker's statements",
        )
        ran = r'lrs_connector_runs_total\{source="([^"]+)",outcome="ok"\} 1$'
        source = wait_until(
            lambda: re.search(ran, metrics(api), re.MULTILINE),
            60,
            "the worker to record the connector's run",
        )
        text = metrics(api)
        assert (
            figure(text, "lrs_connector_runs_total", source=source.group(1), outcome="failed") == 0
        )
        assert figure(text, "lrs_dead_letters_total") == 0  # the run's summary is no statement
        # Run again: the same deterministic ids, stored once; one more run counted.
        again = connect(lines, tmp_path, kafka_bootstrap, kafka_prefix)
        assert again.returncode == 0, again.stderr
        wait_until(
            lambda: (
                figure(
                    metrics(api), "lrs_connector_runs_total", source=source.group(1), outcome="ok"
                )
                == 2
            ),
            60,
            "the second run to be counted",
        )
        # A fresh API process (a restart, or another replica) reads the same figures.
        api.stop()
        api.serve()
        text = metrics(api)
        assert figure(text, "lrs_statements_stored_total", org="default") == 7
        assert figure(text, "lrs_connector_runs_total", source=source.group(1), outcome="ok") == 2
        assert figure(text, "lrs_dead_letters_total") == 0
    finally:
        if store is not None:
            store.close()
        worker.stop()
        api.stop()
