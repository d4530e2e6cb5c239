"""Connector throughput: records/s for each connector on N records (default 1,000,000),
with `--dry-run` (read + map + print) and into the embedded store (read + map + validate +
store), through the real `lrs connect` command.

Inputs are generated from the public fixtures in ../shared/fixtures (Open edX events,
Caliper events, Moodle log rows) and from the project's statement generator, varied per
record (learner, ids, timestamps) so that every record is distinct.

    python benchmarks/bench_connectors.py [--records N] [--only openedx,caliper] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO.parent / "shared" / "fixtures"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import statements as generator  # noqa: E402

console = Console(stderr=True)
START = datetime(2026, 9, 1, tzinfo=UTC)


def _moment(i: int) -> datetime:
    return START + timedelta(seconds=i * 7)


def xapi_lines(count: int, path: Path) -> list[str]:
    population = generator.Population.for_statements(count)
    with open(path, "w") as out:
        for statement in generator.statements(0, count, population):
            out.write(json.dumps(statement) + "\n")
    return ["xapi", "--input", str(path)]


def openedx_lines(count: int, path: Path) -> list[str]:
    folder = FIXTURES / "openedx" / "input"
    templates = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    rng = random.Random(1)
    with open(path, "w") as out:
        for i in range(count):
            event = json.loads(json.dumps(rng.choice(templates)))
            event["time"] = _moment(i).isoformat()
            context = event.setdefault("context", {})
            context["user_id"] = 1000 + i % 20_000
            event["username"] = f"learner{i % 20_000}"
            out.write(json.dumps(event) + "\n")
    return ["openedx", "--input", str(path), "--lms-url", "https://lms.example.org"]


def caliper_lines(count: int, path: Path) -> list[str]:
    folder = FIXTURES / "openedx" / "caliper-expected"
    templates = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    rng = random.Random(2)
    with open(path, "w") as out:
        for i in range(count):
            event = json.loads(json.dumps(rng.choice(templates)))
            event["id"] = f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"
            event["eventTime"] = _moment(i).isoformat().replace("+00:00", "Z")
            actor = event.get("actor")
            if isinstance(actor, dict) and isinstance(actor.get("id"), str):
                actor["id"] = actor["id"].rsplit("/", 1)[0] + f"/learner{i % 20_000}"
            out.write(json.dumps(event) + "\n")
    return ["caliper", "--input", str(path), "--sensor", "https://lms.example.org"]


def moodle_csv(count: int, path: Path) -> list[str]:
    """Rows shaped like logstore_standard_log, from the fixture events (CSV export reader)."""
    events = []
    for case in sorted((FIXTURES / "moodle").iterdir()):
        event_file = case / "event.json"
        if case.name != "common" and event_file.exists():
            events.append(json.loads(event_file.read_text()))
    common = json.loads((FIXTURES / "moodle" / "common" / "event.json").read_text())
    rows = [{**common, **e} for e in events]
    columns = sorted({k for row in rows for k in row})
    rng = random.Random(3)
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        for i in range(count):
            row = dict(rng.choice(rows))
            row["id"] = i + 1
            row["userid"] = 2 + i % 20_000
            row["timecreated"] = int(_moment(i).timestamp())
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
            )
    return ["moodle", "--csv", str(path), "--app-url", "http://www.example.org"]


GENERATORS: dict[str, Callable[[int, Path], list[str]]] = {
    "xapi": xapi_lines,
    "openedx": openedx_lines,
    "caliper": caliper_lines,
    "moodle": moodle_csv,
}


@dataclass
class Result:
    connector: str
    mode: str
    records: int
    seconds: float
    exit_status: int
    summary: str

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def run_connect(args: list[str], data: Path, dry_run: bool) -> tuple[float, int, str]:
    command = [sys.executable, "-m", "lrs.cli", "connect", *args, "--data", str(data)]
    if dry_run:
        command.append("--dry-run")
    started = time.perf_counter()
    with open(os.devnull, "w") as sink:
        done = subprocess.run(command, stdout=sink, stderr=subprocess.PIPE, text=True, cwd=REPO)
    seconds = time.perf_counter() - started
    summary = next(
        (line for line in reversed(done.stderr.splitlines()) if " records," in line),
        done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "",
    )
    return seconds, done.returncode, summary


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 records")
    parser.add_argument("--only", help="comma-separated connectors (default: all available)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    count = 20_000 if args.quick else args.records
    from connectors import available

    present = available()
    names = [n for n in GENERATORS if n in present]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    work = Path(tempfile.mkdtemp(prefix="lrs-bench-connectors-"))
    results: list[Result] = []
    console.print(f"{count:,} records per connector; connectors: {', '.join(names)}")
    with Progress(console=console) as progress:
        task = progress.add_task("generating and running", total=len(names) * 3)
        for name in names:
            path = work / f"{name}.input"
            connect_args = GENERATORS[name](count, path)
            progress.advance(task)
            for mode in ("dry-run", "embedded store"):
                data = work / f"{name}-{mode.replace(' ', '-')}"
                seconds, status, summary = run_connect(connect_args, data, mode == "dry-run")
                results.append(Result(name, mode, count, seconds, status, summary))
                progress.advance(task)
            path.unlink()
    table = Table(title=f"Connector throughput, {count:,} records each (lrs connect, one process)")
    for column in ("connector", "mode", "records/s", "seconds", "exit", "lrs connect said"):
        table.add_column(column)
    for r in results:
        table.add_row(
            r.connector,
            r.mode,
            f"{r.rate:,.0f}",
            f"{r.seconds:,.1f}",
            str(r.exit_status),
            r.summary[-90:],
        )
    Console().print(table)
    Console().print(
        f"machine: {os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        "exit 3 = some records skipped (reported by lrs connect)"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps([r.__dict__ | {"rate": r.rate} for r in results], indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
