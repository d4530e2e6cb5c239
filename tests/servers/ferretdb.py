"""FerretDB 1.x for tests: a second MongoDB-wire stand-in, built from its Go module, on SQLite.

No MongoDB server installs here (SERVICES.md), so the contract suite also runs `MongoStore` on
FerretDB to see which of the adapter's MongoDB features a second, independent implementation
lacks (tests/servers/STANDINS.md). `ferretdb_binary()` builds it once into a cache outside the
checkout; a `FerretDBServer` is a `MongoServer` (same start, ping, stop and kill by PID) that
runs FerretDB with the SQLite backend in its own directory.

Why not plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb@VERSION`: the binary it
makes panics at start ("Invalid build/version/version.txt file content"), because the module
zip lacks the generated build/version/version.txt (FerretDB issue #2982). So the module's
source is copied from the module cache, given that file, and built with `go build`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.servers.mongo import MongoServer
from tests.servers.process import ServerUnavailable

FERRETDB_VERSION = "v1.24.2"  # the newest v1 the Go module proxy serves
MODULE = "github.com/FerretDB/FerretDB"
GO_NEEDED = "Go 1.24 or newer (FerretDB v1.24's go.mod)"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lrs-tests" / f"ferretdb-{FERRETDB_VERSION}"


def _go() -> str:
    """`go` on PATH, else the official tarball's place (this machine has it there)."""
    found = shutil.which("go")
    if found is None and os.access("/usr/local/go/bin/go", os.X_OK):
        found = "/usr/local/go/bin/go"
    if found is None:
        raise ServerUnavailable(
            f"FerretDB for the tests is built from its Go module and needs {GO_NEEDED} on PATH "
            "(or in /usr/local/go); install Go, or run ./scripts/test --no-servers"
        )
    return found


def _run(command: list[str], cwd: Path | None, what: str) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServerUnavailable(
            f"{what} failed (exit {done.returncode}; needs {GO_NEEDED} and the Go module "
            f"proxy):\n{done.stdout[-4000:]}{done.stderr[-4000:]}"
        )
    return done.stdout


def ferretdb_binary() -> Path:
    """The FerretDB binary, built the first time (minutes: see STANDINS.md for the timings).

    A file lock makes concurrent callers (pytest-xdist workers, `scripts/test-servers up`)
    build it once; the others wait and reuse it.
    """
    directory = cache_dir()
    binary = directory / "ferretdb"
    if binary.exists():
        return binary
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            _build(_go(), directory, binary)
    return binary


def _build(go: str, directory: Path, binary: Path) -> None:
    module = json.loads(
        _run([go, "mod", "download", "-json", f"{MODULE}@{FERRETDB_VERSION}"], None,
             f"downloading {MODULE}@{FERRETDB_VERSION}")  # fmt: skip
    )
    source = directory / "src"
    shutil.rmtree(source, ignore_errors=True)
    # The module cache is read-only; the copy must take the generated version file.
    shutil.copytree(module["Dir"], source, copy_function=shutil.copyfile)
    for folder, _, _ in os.walk(source):
        os.chmod(folder, 0o755)
    (source / "build" / "version" / "version.txt").write_text(FERRETDB_VERSION + "\n")
    partial = directory / "ferretdb.partial"
    try:
        _run([go, "build", "-o", str(partial), "./cmd/ferretdb"], source,
             f"building FerretDB {FERRETDB_VERSION}")  # fmt: skip
        version = _run([str(partial), "--version"], None, "the built ferretdb --version")
        if f"version: {FERRETDB_VERSION}" not in version:
            raise ServerUnavailable(f"the built FerretDB reports another version:\n{version}")
        partial.rename(binary)
    finally:
        shutil.rmtree(source, ignore_errors=True)
        partial.unlink(missing_ok=True)


class FerretDBServer(MongoServer):
    """`with FerretDBServer(path) as server:` ... `server.url("db")`; `restart()`, `kill()`.

    SQLite backend, one database file per MongoDB database under `storage_path`; no
    telemetry, no debug HTTP listener (it would take a fixed port), and no replica set: FerretDB
    1.x has no transactions to offer one for (STANDINS.md).
    """

    name = "ferretdb"

    def __init__(self, storage_path: Path, *, port: int | None = None, timeout: float = 30) -> None:
        super().__init__(storage_path, port=port, timeout=timeout, sync_on_commit=False)

    def _command(self) -> list[str]:
        state = self.storage_path.parent / f"{self.storage_path.name}-ferretdb-state"
        state.mkdir(exist_ok=True)
        return [
            str(ferretdb_binary()),
            "--handler=sqlite",
            f"--sqlite-url=file:{self.storage_path}/",
            f"--listen-addr=127.0.0.1:{self.port}",
            f"--state-dir={state}",
            "--telemetry=disable",
            "--debug-addr=-",
            "--log-level=warn",
        ]
