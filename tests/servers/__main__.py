"""`python -m tests.servers kafka start DIR` / `... kafka stop DIR`: the broker a test run shares.
`python -m tests.servers ferretdb build`: build FerretDB into its cache now (scripts/test-servers
up does, so that no test waits minutes for the first build).

`start` prints the bootstrap address (also kept in DIR/bootstrap) once the broker answers and
leaves it running; `stop` ends it by the PID kept in DIR/broker.pid. ./scripts/test does both
around pytest and exports TEST_KAFKA_BOOTSTRAP, so every pytest-xdist worker uses one broker.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

from tests.servers.ferretdb import FERRETDB_VERSION, ferretdb_binary
from tests.servers.kafka import KafkaBroker
from tests.servers.process import ServerUnavailable


def start(directory: Path) -> int:
    stop(directory)  # a broker left by an interrupted run
    shutil.rmtree(directory / "broker", ignore_errors=True)  # each run starts on an empty log
    broker = KafkaBroker(directory / "broker")
    began = time.monotonic()
    try:
        broker.start()
    except ServerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    assert broker.process is not None
    (directory / "broker.pid").write_text(str(broker.process.pid))
    (directory / "bootstrap").write_text(broker.bootstrap)
    print(broker.bootstrap)
    print(f"Apache Kafka answered at {broker.bootstrap} after {time.monotonic() - began:.1f}s",
          file=sys.stderr)  # fmt: skip
    return 0


def stop(directory: Path) -> int:
    pid_file = directory / "broker.pid"
    if not pid_file.exists():
        return 0
    pid = int(pid_file.read_text())
    pid_file.unlink()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return 0
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return 0
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return 0


def build_ferretdb() -> int:
    began = time.monotonic()
    try:
        binary = ferretdb_binary()
    except ServerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(binary)
    print(f"FerretDB {FERRETDB_VERSION} ready after {time.monotonic() - began:.1f}s",
          file=sys.stderr)  # fmt: skip
    return 0


def main(argv: list[str]) -> int:
    if argv == ["ferretdb", "build"]:
        return build_ferretdb()
    if len(argv) != 3 or argv[0] != "kafka" or argv[1] not in ("start", "stop"):
        print(
            "usage: python -m tests.servers kafka start|stop DIR | ferretdb build",
            file=sys.stderr,
        )
        return 2
    directory = Path(argv[2]).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return start(directory) if argv[1] == "start" else stop(directory)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
