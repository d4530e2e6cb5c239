"""`lrs` itself as real processes for integration and fault tests (the servers they talk to
are in tests/servers/).

Every process is started on a free loopback port, stopped by its PID (never by name), and
can be killed hard (SIGKILL) to simulate a crash.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.servers.process import free_port, kill_child, stop_child


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll until `check()` is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the thing polled is not up yet
            last_error = exc
        time.sleep(every)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what} (last error: {last_error})"
    )


class Managed:
    """A child process with a log file, stopped by PID."""

    def __init__(self, name: str, log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def _spawn(self, command: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.log_path, "ab")
        # in the test's directory: a relative default (./lrs-data) stays out of the checkout
        self.popen = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.log_path.parent
        )
        log.close()

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        stop_child(self.popen)
        self.popen = None

    def kill(self) -> None:
        """A crash: SIGKILL, no cleanup."""
        kill_child(self.popen)
        self.popen = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class LRSProcess(Managed):
    """`lrs serve` or `lrs process` as its own process, configured through LRS_* variables."""

    def __init__(self, name: str, log_dir: Path, settings: dict[str, str]) -> None:
        super().__init__(name, log_dir)
        self.settings = settings
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}
        env.update({f"LRS_{k.upper()}": v for k, v in self.settings.items()})
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def serve(self) -> LRSProcess:
        command = [sys.executable, "-m", "lrs.cli", "serve", "--port", str(self.port)]
        self._spawn(command + ["--log-level", "warning"], self._env())
        wait_until(lambda: self._answers("/health"), 20, f"{self.name} to answer")
        return self

    def process(self) -> LRSProcess:
        self._spawn([sys.executable, "-m", "lrs.cli", "process"], self._env())
        return self

    def credential(self, scopes: tuple[str, ...] = ("all",)) -> tuple[str, str]:
        command = [sys.executable, "-m", "lrs.cli", "credentials", "create", "--init", "--name", "tests"]
        for scope in scopes:
            command += ["--scope", scope]
        out = subprocess.run(
            command + ["--json"], env=self._env(), check=True, capture_output=True, text=True
        ).stdout
        created = json.loads(out)
        return created["key"], created["secret"]

    def _answers(self, path: str) -> bool:
        with urllib.request.urlopen(self.url + path, timeout=1) as response:
            return bool(response.status == 200)


def kafka_settings(bootstrap: str, prefix: str, **extra: str) -> dict[str, str]:
    """Settings for `lrs serve` / `lrs process` on a Kafka broker, in a test's own topics."""
    return {
        "bus": f"kafka://{bootstrap}",
        "kafka_topic_prefix": prefix,
        "kafka_session_timeout": "6",
        "kafka_partitions": "3",
        **extra,
    }
