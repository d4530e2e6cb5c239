"""Real database servers for tests: SecantusDB, a MongoDB-wire server (test-only, GPL).

A `MongoServer` is a child process on a free loopback port with its data in a directory,
so it can be stopped and started again on the same data (restart and fault tests), or killed
hard to simulate a crash. It is always stopped by its own PID, never by name.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from tests.servers.process import free_port, kill_child, stop_child


class MongoServer:
    """`with MongoServer(path) as server:` ... `server.url("db")`; `restart()`, `kill()`."""

    name: str = "secantus"  # names its log file and its errors

    def __init__(
        self,
        storage_path: Path,
        *,
        port: int | None = None,
        timeout: float = 30,
        sync_on_commit: bool = True,
    ) -> None:
        """`sync_on_commit`: SecantusDB ignores `j: true` on commitTransaction (it honours it
        on single writes), so without this flag a batch acknowledged as journaled can be lost
        to a kill -9, which MongoDB would not do. Keep it on wherever a test kills the server.
        """
        self.sync_on_commit = sync_on_commit
        self.storage_path = Path(storage_path)
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.timeout = timeout
        self.log_path = self.storage_path.parent / f"{self.storage_path.name}-{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        """The server's command line; a subclass runs another MongoDB-wire server."""
        return [
            sys.executable, "-m", "secantus",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--storage-path", str(self.storage_path),
            "--log-level", "WARNING",
            *(["--sync-on-commit"] if self.sync_on_commit else []),
        ]  # fmt: skip

    def url(self, database: str) -> str:
        return f"mongodb://127.0.0.1:{self.port}/{database}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the process and wait until it answers a ping."""
        if self.running:
            return
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self._command(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + self.timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n"
                    f"{self.log_path.read_text()}"
                )
            if self._answers():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not answer in {self.timeout}s")
            time.sleep(0.05)

    def _answers(self) -> bool:
        client: MongoClient[dict[str, object]] = MongoClient(
            self.url("admin"), directConnection=True, serverSelectionTimeoutMS=300
        )
        try:
            client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), escalating to SIGKILL after 10 s."""
        process, self.process = self.process, None
        stop_child(process)

    def kill(self) -> None:
        """A crash: SIGKILL, no chance to flush anything."""
        process, self.process = self.process, None
        kill_child(process)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> MongoServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
