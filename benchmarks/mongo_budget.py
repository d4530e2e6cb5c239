"""What one stored statement costs the MongoDB database, command by command.

    python benchmarks/mongo_budget.py [--statements 3000] [--batch 100] [--worker-batch 1000]

Starts SecantusDB (the tests' MongoDB-wire server) and drives the scaled-out path's three
parts in this process, through the code they run in production, with pymongo command
monitoring (`pymongo.monitoring.CommandListener`) on:

- **API**: `MongoStore.save_statements` in batches of `--batch` (what `POST /statements`
  calls);
- **relay**: `OutboxRelay.step()` after each API batch, publishing to a bus that only keeps
  the records (the relay's store work: lease, unpublished, mark_published);
- **worker**: every enabled projection over the published records, each time
  `--worker-batch` of them are waiting, as the faust agent does (`changes_of_records` +
  `apply_in_parts`);
- **tally**: what /metrics pays to count the statements stored per organisation
  (`tally_stored`, lrs.ops.stored_counts), here all of them at once, after the rest.

It prints, per part, each (command, collection): commands and documents per statement
(documents: inserted, updates/deletes sent, or documents returned), the wall time of the
part and the CPU seconds per 1,000 statements of this process and of the database server.
The budget is a count, so it does not depend on the machine; the times do.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import statements as gen  # noqa: E402
from harness import proc_cpu_seconds  # noqa: E402
from pymongo import monitoring  # noqa: E402

from consumers.reducers.base import changes_of_records  # noqa: E402
from consumers.reducers.enabled import reducers  # noqa: E402
from consumers.runtime.local import apply_in_parts  # noqa: E402
from lrs.adapters.mongodb import MongoStore  # noqa: E402
from lrs.events.base import Event  # noqa: E402
from lrs.ops.stored_counts import TALLY_STEP  # noqa: E402
from lrs.outbox import OutboxRelay  # noqa: E402
from tests.servers import MongoServer  # noqa: E402

AUTHORITY = {"objectType": "Agent", "account": {"homePage": "http://127.0.0.1", "name": "bench"}}
WRITE_DOCS = {"insert": "documents", "update": "updates", "delete": "deletes"}


class Budget(monitoring.CommandListener):
    """Counts commands and documents by (command, collection) while `part` is set."""

    def __init__(self) -> None:
        self.part: str | None = None
        self.commands: dict[str, Counter[tuple[str, str]]] = {}
        self.documents: dict[str, Counter[tuple[str, str]]] = {}
        self._names: dict[int, tuple[str, str]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.part is None:
            return
        name = event.command_name
        collection = event.command.get(name)
        target = collection if isinstance(collection, str) else "-"
        if name == "getMore":
            target = str(event.command.get("collection", "-"))
        key = (name, target)
        self._names[event.request_id] = key
        self.commands.setdefault(self.part, Counter())[key] += 1
        field = WRITE_DOCS.get(name)
        if field is not None:
            self.documents.setdefault(self.part, Counter())[key] += len(
                event.command.get(field, [])
            )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        key = self._names.pop(event.request_id, None)
        if key is None or self.part is None:
            return
        cursor = event.reply.get("cursor")
        if isinstance(cursor, dict):
            batch = cursor.get("firstBatch", cursor.get("nextBatch", []))
            self.documents.setdefault(self.part, Counter())[key] += len(batch)
        elif key[0] == "findAndModify":
            self.documents.setdefault(self.part, Counter())[key] += 1

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._names.pop(event.request_id, None)


class CountingBus:
    """An event bus that keeps the records it is given (the relay's side of Kafka)."""

    def __init__(self) -> None:
        self.records: list[Event] = []

    def publish(self, topic: str, events: Sequence[Event]) -> None:
        self.records.extend(events)

    def has_topic(self, topic: str) -> bool:
        return True

    def records_written(self, topic: str) -> int:
        return len(self.records)

    def create_topics(self) -> None:
        pass

    def close(self) -> None:
        pass


def report(budget: Budget, part: str, n: int, seconds: float, cpu: dict[str, float]) -> None:
    commands = budget.commands.get(part, Counter())
    documents = budget.documents.get(part, Counter())
    total = sum(commands.values())
    print(f"\n{part}: {n:,} statements in {seconds:.2f} s = {n / seconds:,.0f}/s; "
          f"{total / n:.3f} commands per statement; CPU-s per 1,000 statements: "
          + ", ".join(f"{k} {v * 1000 / n:.3f}" for k, v in cpu.items()))  # fmt: skip
    print(f"  {'command':<18} {'collection':<20} {'per statement':>14} {'documents/st.':>14}")
    for key, count in sorted(commands.items(), key=lambda item: -item[1]):
        print(f"  {key[0]:<18} {key[1]:<20} {count / n:>14.3f} {documents[key] / n:>14.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--statements", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100, help="statements per API batch")
    parser.add_argument("--worker-batch", type=int, default=1000, help="records per worker batch")
    parser.add_argument("--learners", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    n = args.statements
    population = gen.Population(learners=args.learners, courses=max(10, args.learners // 150))
    budget = Budget()
    monitoring.register(budget)
    with tempfile.TemporaryDirectory(prefix="lrs-mongo-budget-") as tmp:
        server = MongoServer(Path(tmp) / "secantus", sync_on_commit=False)
        server.start()
        try:
            assert server.process is not None
            db_pid = server.process.pid
            store = MongoStore(server.url("budget"))
            me = os.getpid()

            def cpu() -> dict[str, float]:
                return {"client": proc_cpu_seconds(me), "database": proc_cpu_seconds(db_pid)}

            def delta(before: dict[str, float]) -> dict[str, float]:
                return {k: v - before[k] for k, v in cpu().items()}

            batches = [
                [
                    gen.make_statement(i, population, args.seed)
                    for i in range(s, min(s + args.batch, n))
                ]
                for s in range(0, n, args.batch)
            ]
            bus = CountingBus()
            relay = OutboxRelay(store, bus)
            projections = reducers(store)
            seconds: Counter[str] = Counter()
            cpu_used: dict[str, Counter[str]] = {
                part: Counter() for part in ("API", "relay", "worker", "tally")
            }

            def run(part: str, work: Callable[[], object]) -> None:
                budget.part, began, c0 = part, time.perf_counter(), cpu()
                work()
                seconds[part] += time.perf_counter() - began
                cpu_used[part].update(delta(c0))
                budget.part = None

            def relay_all() -> None:
                while relay.step():
                    pass

            folded = 0

            def fold() -> None:
                nonlocal folded
                values = [event.value for event in bus.records[folded:]]
                folded = len(bus.records)
                changes = changes_of_records(projections, values)
                for reducer, part in zip(projections, changes, strict=True):
                    apply_in_parts(store, reducer, part)

            # As the three run side by side: the relay publishes what each batch stored,
            # the worker folds what was published in batches of --worker-batch.
            for batch in batches:
                run(
                    "API",
                    lambda batch=batch: store.save_statements(  # type: ignore[misc]
                        batch,
                        authority=AUTHORITY,
                        credential="bench",
                        version="1.0.3",
                        attachments=[],
                    ),
                )
                run("relay", relay_all)
                if len(bus.records) - folded >= args.worker_batch:
                    run("worker", fold)
            run("relay", relay_all)
            run("worker", fold)
            assert len(bus.records) == n, f"the relay published {len(bus.records)} of {n}"

            def tally_all() -> None:
                while store.tally_stored(TALLY_STEP):
                    pass

            run("tally", tally_all)  # what /metrics pays, once per statement, when it is read
            assert store.stored_counts() == {"bench": n}
            for part in ("API", "relay", "worker", "tally"):
                report(budget, part, n, seconds[part], dict(cpu_used[part]))
            budget.part = None
            store.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
