"""The README's first command installs the bare package (`pip install -e .`, scripts/serve):
no `kafka`, `mongodb` or `moodle` extra. `lrs` must then create the first credential and
serve; only a command that needs an extra may ask for it. A clean clone's `./scripts/serve`
once died here with `ModuleNotFoundError: No module named 'kafka'` (the connectors' Kafka
sink was imported to build the CLI's parser), which the suite's full environment hides: the
extras' modules are made unimportable in the child process instead."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.processes import wait_until

ROOT = Path(__file__).resolve().parents[2]

# What the extras bring (pyproject.toml's optional dependencies), refused as if not installed.
EXTRAS = ("kafka", "faust", "mode", "aiokafka", "pymongo", "bson", "pymysql", "psycopg")

BLOCKER = f"""
import sys
class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {EXTRAS!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _NotInstalled())
from lrs.cli import main
sys.exit(main(sys.argv[1:]))
"""


def lrs(*args: str) -> list[str]:
    return [sys.executable, "-c", BLOCKER, *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_first_credential_and_serve_need_no_extra(tmp_path: Path) -> None:
    data = tmp_path / "lrs-data"
    made = subprocess.run(
        lrs("credentials", "create", "--data", str(data), "--init", "--name", "admin",
            "--scope", "all", "--scope", "admin", "--role", "admin"),
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "Traceback" not in made.stderr
    port = free_port()
    server = subprocess.Popen(
        lrs("serve", "--data", str(data), "--port", str(port)),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:

        def about() -> bool:
            if server.poll() is not None:
                raise AssertionError(f"lrs serve exited: {server.communicate()[0]}")
            try:
                return httpx.get(f"http://127.0.0.1:{port}/xapi/about").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(about, 60, "lrs serve without the extras to answer /xapi/about")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_command_that_needs_an_extra_says_which(tmp_path: Path) -> None:
    lines = tmp_path / "statements.jsonl"
    statement = {
        "actor": {"mbox": "mailto:lan@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://lms.example.org/unit/1"},
    }
    lines.write_text(json.dumps(statement) + "\n")
    done = subprocess.run(
        lrs("connect", "xapi", "--input", str(lines), "--to", "kafka://127.0.0.1:1"),
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "this command needs the `kafka` extra" in done.stderr, done.stderr
