"""Run an `lrs` command with pymongo command monitoring that counts aborted transactions.

    python benchmarks/count_conflicts.py OUT.json serve --data ...    # = lrs serve --data ...

SecantusDB's serverStatus has no transaction counters, and the API and the worker are
processes of their own, so bench_scaled.py starts them through this: every MongoClient made
in the process gets a listener (registered before any is made) that counts each command
failing with WriteConflict (by command and collection), each abortTransaction sent (a
transaction given up, mostly to be retried by `with_transaction`), every command (so a
count of 0 aborts is seen to come from a listener that was there) and the milliseconds each
kind of command took as the client saw them (`ms <command> <collection>`, and the longest
one, `max ms ...`): where a process waits on the database. The counts are written to
OUT.json every half second and at exit, for the benchmark to read once the phase ends.
"""

from __future__ import annotations

import atexit
import json
import os
import runpy
import sys
import threading
from collections import Counter
from typing import Any

from pymongo import monitoring

WRITE_CONFLICT = 112


class ConflictCounter(monitoring.CommandListener):
    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._names: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        target = event.command.get(name)
        with self.lock:
            self._names[event.request_id] = f"{name} {target if isinstance(target, str) else '-'}"
            self.counts["commands"] += 1  # shows that the listener saw the process's traffic
            if name == "abortTransaction":
                self.counts["abortTransaction"] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        with self.lock:
            key = self._names.pop(event.request_id, None)
            if key is not None:  # client-side wall time per command: where a process waits
                self.counts[f"ms {key}"] += event.duration_micros // 1000
                self.counts[f"max ms {key}"] = max(
                    self.counts[f"max ms {key}"], event.duration_micros // 1000
                )

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        failure: Any = event.failure
        with self.lock:
            key = self._names.pop(event.request_id, "?")
            self.counts[f"ms {key}"] += event.duration_micros // 1000
            if isinstance(failure, dict) and failure.get("code") == WRITE_CONFLICT:
                self.counts[f"WriteConflict {key}"] += 1

    def write(self) -> None:
        with self.lock:
            text = json.dumps(dict(self.counts))
        with open(self.path + ".tmp", "w") as handle:
            handle.write(text)
        os.replace(self.path + ".tmp", self.path)


def main() -> None:
    out, *args = sys.argv[1:]
    counter = ConflictCounter(out)
    monitoring.register(counter)
    counter.write()
    atexit.register(counter.write)

    def every_half_second() -> None:
        while True:
            threading.Event().wait(0.5)
            counter.write()

    threading.Thread(target=every_half_second, daemon=True).start()
    sys.argv = ["lrs", *args]
    runpy.run_module("lrs.cli", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
