"""Shared fixtures: a real `lrs serve` process, an in-process client, and the test servers.

Tests that use a server fixture (`kafka_bootstrap`, `kafka_broker`, `postgresql_url`,
`mysql_url`, `ferretdb_server`) are marked `servers`: `./scripts/test --no-servers` (pytest -m "not servers")
runs everything else on a machine without Java or the database servers. A server that is
needed and missing fails the test with what to do; it is never skipped.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from starlette.testclient import TestClient

from lrs.api.app import create_app
from lrs.auth import create_credential
from lrs.config import load_settings
from tests.servers import FerretDBServer, KafkaBroker, ServerUnavailable, sql_url

REPO_ROOT = Path(__file__).resolve().parent.parent
XAPI_VERSION = "1.0.3"


def basic_auth(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def _clean_env() -> dict[str, str]:
    """The environment without LRS_* settings, which would override --data (LRS_STORE)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli_create_credential(data_dir: Path, name: str, scopes: list[str]) -> tuple[str, str]:
    command = [
        sys.executable, "-m", "lrs.cli", "credentials", "create",
        "--data", str(data_dir), "--init", "--name", name, "--json",
    ]
    for scope in scopes:
        command += ["--scope", scope]
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=_clean_env(), capture_output=True, text=True, timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"lrs credentials create failed: {done.stderr}")
    created = json.loads(done.stdout)
    return str(created["key"]), str(created["secret"])


@dataclass(frozen=True)
class LiveLRS:
    endpoint: str  # the xAPI base URL, ending in /xapi/
    key: str
    secret: str
    data_dir: Path

    @property
    def root(self) -> str:
        return self.endpoint.removesuffix("/xapi/")

    def create_credential(self, scopes: list[str], name: str = "extra") -> tuple[str, str]:
        """A new (key, secret), made the way an operator makes one: with the CLI."""
        return _cli_create_credential(self.data_dir, name, scopes)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def live_lrs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveLRS]:
    data_dir = tmp_path_factory.mktemp("live-lrs")
    key, secret = _cli_create_credential(data_dir, "tests", ["all"])
    port = _free_port()
    log_path = data_dir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "lrs.cli", "serve",
                "--data", str(data_dir), "--port", str(port), "--log-level", "warning",
            ],
            cwd=REPO_ROOT,
            env=_clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        endpoint = f"http://127.0.0.1:{port}/xapi/"
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"lrs serve exited early:\n{log_path.read_text()}")
            try:
                if httpx.get(endpoint + "about", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"lrs serve did not answer in 30s:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield LiveLRS(endpoint, key, secret, data_dir)
    finally:
        _stop(process)


@dataclass(frozen=True)
class APIClient:
    """The in-process client, and what a test needs to make other credentials."""

    http: TestClient
    key: str
    secret: str

    def credential(self, scopes: list[str], name: str = "other") -> tuple[str, str]:
        new = create_credential(self.http.app.state.store, name, scopes)  # type: ignore[attr-defined]
        return new.credential.key, new.secret


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[APIClient]:
    for name in [k for k in os.environ if k.startswith("LRS_")]:
        monkeypatch.delenv(name)
    # No lifespan runs without `with TestClient(...)`, so no processors either: say so.
    app = create_app(load_settings(data=str(tmp_path), processors=False))
    store = app.state.store
    new = create_credential(store, "tests", ["all"])
    http = TestClient(
        app,
        headers={
            "Authorization": basic_auth(new.credential.key, new.secret),
            "X-Experience-API-Version": XAPI_VERSION,
        },
        raise_server_exceptions=False,
    )
    try:
        yield APIClient(http, new.credential.key, new.secret)
    finally:
        http.close()
        store.close()


@pytest.fixture
def client(api: APIClient) -> TestClient:
    """Authenticated with an `all` credential, sending X-Experience-API-Version 1.0.3."""
    return api.http


SERVER_FIXTURES = frozenset(
    {"kafka_bootstrap", "kafka_broker", "postgresql_url", "mysql_url", "ferretdb_server"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


_Server = TypeVar("_Server", KafkaBroker, FerretDBServer)


@contextmanager
def _running(server: _Server) -> Iterator[_Server]:
    """Started, and stopped by its PID afterwards; one that cannot be installed or started
    fails the test with what to do (never a skip)."""
    try:
        server.start()
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Apache Kafka broker of the whole run (./scripts/test starts one and exports
    TEST_KAFKA_BOOTSTRAP); a plain `pytest` starts one for its session. Tests share it and
    keep apart through their own topics (`kafka_prefix`)."""
    shared = os.environ.get("TEST_KAFKA_BOOTSTRAP")
    if shared:
        yield shared
        return
    with _running(KafkaBroker(tmp_path_factory.mktemp("kafka"))) as broker:
        yield broker.bootstrap


@pytest.fixture
def kafka_prefix() -> str:
    """A test's own topic and consumer-group prefix on the shared broker."""
    return f"t{uuid.uuid4().hex[:12]}."


@pytest.fixture
def kafka_broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A broker of this test alone, its log on disk, for crash and restart tests."""
    with _running(KafkaBroker(tmp_path / "kafka")) as broker:
        yield broker


@pytest.fixture(scope="session")
def postgresql_url() -> str:
    try:
        return sql_url("postgresql")
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def mysql_url() -> str:
    try:
        return sql_url("mysql")
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def ferretdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerretDBServer]:
    """One FerretDB (SQLite backend) per test process: the second MongoDB-wire stand-in.
    Needs Go to build it the first time (`scripts/test-servers up` builds it beforehand)."""
    with _running(FerretDBServer(tmp_path_factory.mktemp("ferretdb") / "data")) as server:
        yield server


# What a run must not leave in the working directory (faust's default datadir was
# "<prefix>lrs-processors-data" there; the LRS's default data directory is ./lrs-data).
_LEFT_IN_CWD = ("*lrs-processors-data", "lrs-data")
_in_cwd_before: set[Path] = set()


def _left_in_cwd() -> set[Path]:
    return {path for pattern in _LEFT_IN_CWD for path in Path.cwd().glob(pattern)}


def pytest_sessionstart(session: pytest.Session) -> None:
    _in_cwd_before.update(_left_in_cwd())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fails the run (on the controller, after every xdist worker) if it left data
    directories in the working directory: every test keeps its data under tmp_path."""
    if hasattr(session.config, "workerinput"):
        return
    left = sorted(_left_in_cwd() - _in_cwd_before)
    if left:
        names = ", ".join(path.name for path in left[:5])
        writer = session.config.get_terminal_writer()
        writer.line()
        writer.line(
            f"FAILED: the run left {len(left)} data directories in {Path.cwd()}: {names}",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
