"""The peer: Ralph (openfun/ralph, PyPI `ralph-malph`), a Python LRS, run beside ours.

Why measure it in the same run: a figure quoted from elsewhere was taken on another day,
under other load; measured here, both LRSs see the same machine, the same statements and
the same client, so the comparison means something.

What is installed, and why (checked against ralph-malph 5.1.0's metadata):
- the extras are `cli` (the `ralph` command, bcrypt) and `lrs` (FastAPI, uvicorn); there is
  no `backend-lrs` server extra: `backend-lrs` is the client for forwarding *to* an LRS;
- `requests` is added because ralph.api imports it (OIDC auth) but no server extra pulls it;
- everything goes into its own virtualenv in a cache folder outside the repository
  (default ~/.cache/lrs-bench/ralph-venv), so nothing of Ralph is ever committed here.

How it is run, and why not `ralph runserver`:
- `ralph runserver -b fs` starts uvicorn with `reload=True` (a file watcher and a worker
  subprocess) and debug logging; we start the same ASGI app, `ralph.api:app`, in one
  uvicorn process with access logs off, exactly as `lrs serve` runs: like against like;
- its filesystem LRS backend writes with the CREATE operation type, so in 5.1.0 every POST
  after the first fails with HTTP 500 ("fs_lrs.jsonl already exists"); the launcher sets
  the backend's default operation to APPEND, the only way it can store a second batch.
  Nothing else of Ralph is changed. Ralph checks every POSTed id against the whole file
  (`query_statements_by_ids` reads it all), which is its design, and is measured as such.
- credentials come from `ralph auth ... -w`, which writes a bcrypt entry to RALPH_AUTH_FILE.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from harness import Server, basic_auth, free_port, start_server

RALPH_VERSION = "5.1.0"
# backend-mongo: motor and pymongo, for its async MongoDB LRS backend (bench_scaled.py)
RALPH_REQUIREMENTS = (f"ralph-malph[cli,lrs,backend-mongo]=={RALPH_VERSION}", "requests")

# Run by Ralph's own interpreter (its venv), never imported here.
LAUNCHER = """
import sys

import uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend

# ralph-malph 5.1.0: the FS LRS backend defaults to CREATE, which refuses an existing file,
# so only the first POST would ever be stored. Append, as a file-backed LRS has to.
FSLRSBackend.default_operation_type = BaseOperationType.APPEND
uvicorn.run(
    "ralph.api:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False
)
"""


# Ralph's async MongoDB backend as it ships: nothing patched.
MONGO_LAUNCHER = """
import sys

import uvicorn

uvicorn.run(
    "ralph.api:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False
)
"""


class PeerUnavailable(Exception):
    """Ralph could not be installed or started; the benchmark reports why and goes on."""


def ensure_installed(cache_dir: Path, log: Path) -> Path:
    """Ralph's virtualenv, created once per version; returns its python."""
    venv = cache_dir / "ralph-venv"
    python = venv / "bin" / "python"
    marker = venv / f".installed-{RALPH_VERSION}-mongo"
    if marker.exists() and python.exists():
        return python
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "--quiet", *RALPH_REQUIREMENTS],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, timeout=600)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise PeerUnavailable(f"{' '.join(step[:4])}... failed: {exc}") from exc
            if done.returncode != 0:
                raise PeerUnavailable(
                    f"`{' '.join(step[2:])}` exited with {done.returncode}; see {log}"
                )
    marker.touch()
    return python


def start(python: Path, workdir: Path) -> Server:
    """Create credentials and start Ralph with its filesystem backend on a free port."""
    data = workdir / "ralph-data"
    data.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "RALPH_APP_DIR": str(workdir),
        "RALPH_AUTH_FILE": str(workdir / "ralph-auth.json"),
        "RALPH_RUNSERVER_BACKEND": "fs",
        "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(data),
    }
    return _start(python, workdir, env, LAUNCHER)


def start_mongo(python: Path, workdir: Path, url: str, database: str, collection: str) -> Server:
    """Ralph with its async MongoDB backend (`async_mongo`) on `url`'s server, in
    `database`.`collection`; it creates no index there (the caller may)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "RALPH_APP_DIR": str(workdir),
        "RALPH_AUTH_FILE": str(workdir / "ralph-auth.json"),
        "RALPH_RUNSERVER_BACKEND": "async_mongo",
        "RALPH_BACKENDS__LRS__MONGO__CONNECTION_URI": url,
        "RALPH_BACKENDS__LRS__MONGO__DEFAULT_DATABASE": database,
        "RALPH_BACKENDS__LRS__MONGO__DEFAULT_COLLECTION": collection,
    }
    return _start(python, workdir, env, MONGO_LAUNCHER)


def _start(python: Path, workdir: Path, env: dict[str, str], launcher: str) -> Server:
    password = secrets.token_urlsafe(24)
    ralph = python.parent / "ralph"
    created = subprocess.run(
        [str(ralph), "auth", "-u", "bench", "-p", password, "-s", "all",
         "-M", "mailto:bench@example.org", "-w"],
        capture_output=True, text=True, env=env, cwd=workdir, timeout=120,
    )  # fmt: skip
    if created.returncode != 0:
        raise PeerUnavailable(f"`ralph auth` failed: {created.stderr.strip()[-500:]}")
    port = free_port()
    try:
        return start_server(
            "Ralph",
            [str(python), "-c", launcher, str(port)],
            base_url=f"http://127.0.0.1:{port}/xAPI",
            ready_path="/__heartbeat__",
            authorization=basic_auth("bench", password),
            log_path=workdir / "ralph.log",
            cwd=workdir,  # Ralph reads a .env from its working directory: give it an empty one
            env=env,
        )
    except RuntimeError as exc:
        raise PeerUnavailable(str(exc)) from exc
