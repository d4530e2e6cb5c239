"""`lrs connect SOURCE`: the options every connector shares and the run with its report.

Kept beside the connectors (lrs/cli.py only delegates here) so that what a run counts and
reports is defined once, for every source:

- a table per kind of record (a Moodle event name): read, stored, already stored, unmapped,
  excluded by a policy, refused;
- every refusal and exclusion, one JSON line each, in a report file (never cut short);
- the last line, the same for every source:
  "read N, stored M, already stored D, unmapped U, refused R";
- exit 0 when nothing was refused (unmapped and excluded records are choices, not errors),
  3 when a record or statement was refused, 1 when the destination failed, 2 for bad options.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from connectors import base
from connectors.sinks import HTTPSink, KafkaSink, PrintSink, SinkRefused, StoreSink
from lrs.domain.times import format_stored
from lrs.ports import Store
from lrs.storage import open_store
from lrs.xapi.errors import XAPIError
from lrs.xapi.time import parse_timestamp

# Refusals shown on standard error; the report file has every one.
SHOWN = 20
# The widest kind column (Open edX event names can be whole URLs); longer ones are cut.
KIND_WIDTH = 60


def add_arguments(source: argparse.ArgumentParser) -> None:
    """The options of `lrs connect SOURCE` that are not the source's own."""
    source.add_argument(
        "--to",
        default="store",
        help="store (default: the embedded or configured store), kafka://host:port "
        "(xapi.inbound) or an xAPI base URL",
    )
    source.add_argument("--key", help="for --to URL: Basic auth key")
    source.add_argument("--secret", help="for --to URL: Basic auth secret")
    source.add_argument(
        "--dry-run", action="store_true",
        help="print statements as JSON lines, validated as a real run validates them",
    )
    source.add_argument(
        "--since",
        help="only records and statements at or after this time (ISO 8601); sources that "
        "can (a Moodle database) narrow the read itself",
    )
    source.add_argument("--checkpoint", help="checkpoint file (default DATA/checkpoints.json)")
    source.add_argument("--no-checkpoint", action="store_true", help="read from the start")
    source.add_argument("--batch", type=int, default=500, help="statements per delivery")
    source.add_argument(
        "--report",
        help="where to write every refused and excluded record, one JSON line each "
        "(default DATA/reports/connect-<source>-<UTC time>.jsonl)",
    )


def parse_since(text: str | None) -> datetime | None:
    """`--since` as an aware UTC datetime (an xAPI timestamp, as the LRS reads them)."""
    if text is None:
        return None
    return parse_timestamp(text, "2.0.0", "--since").astimezone(UTC)


def connect(module: ModuleType, args: argparse.Namespace, data: Path, store_url: str,
            public_url: str, kafka_prefix: str) -> int:
    """Run one connector as `lrs connect` does and print its report; the exit status."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    try:
        args.since_time = parse_since(args.since)
    except XAPIError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    since = format_stored(args.since_time) if args.since_time else None
    reader, mapping = module.build(args)

    def keep(statement: dict[str, Any]) -> bool:
        if since is None:
            return True
        timestamp = statement.get("timestamp")
        return not isinstance(timestamp, str) or timestamp >= since

    sink: Any
    if args.dry_run:
        sink = PrintSink()
    elif args.to == "store":
        sink = StoreSink(open_store(store_url), reader.name, public_url)
    elif args.to.startswith("kafka://"):
        sink = KafkaSink(args.to.removeprefix("kafka://"), reader.name, kafka_prefix)
    elif args.to.startswith(("http://", "https://")):
        if not (args.key and args.secret):
            print("error: sending to an LRS over HTTP needs --key and --secret", file=sys.stderr)
            return 2
        sink = HTTPSink(args.to, args.key, args.secret)
    else:
        print("error: --to is store, kafka://host:port or an xAPI base URL", file=sys.stderr)
        return 2
    checkpoints = None
    if not args.dry_run and not args.no_checkpoint:
        checkpoints = base.Checkpoints(Path(args.checkpoint or data / "checkpoints.json"))
    total = None if args.dry_run else reader.size()
    columns = [
        TextColumn(f"{reader.name}"),
        BarColumn(),
        TextColumn("{task.completed:,} records"),
        TextColumn("{task.fields[rate]}/s"),
        TimeRemainingColumn(),
    ]
    from rich.console import Console

    summary = base.Summary()
    report = Path(args.report) if args.report else data / "reports" / report_name(reader.name)
    try:
        with Progress(
            *columns,
            disable=args.dry_run or not sys.stderr.isatty(),
            transient=False,
            console=Console(stderr=True),
        ) as progress:
            task = progress.add_task(reader.name, total=total, rate="-")

            def advance(n: int) -> None:
                progress.advance(task, n)
                speed = progress.tasks[0].speed
                progress.update(task, rate=f"{speed:,.0f}" if speed else "-")

            base.run(
                reader, mapping, sink, checkpoints=checkpoints, batch=args.batch,
                progress=advance, keep=keep, summary=summary,
            )
    except SinkRefused as exc:
        _record(sink, reader.name, "failed", summary, store_url)
        print_report(summary, report, checkpoint=checkpoints is not None, dry_run=args.dry_run)
        print(
            f"error: {exc}\nthe checkpoint stays before the failed batch: run again to resume",
            file=sys.stderr,
        )
        return 1
    else:
        _record(sink, reader.name, "ok" if summary.ok else "refused", summary, store_url)
    finally:
        sink.close()
    print_report(summary, report, checkpoint=checkpoints is not None, dry_run=args.dry_run)
    return 0 if summary.ok else 3


def _record(sink: Any, source: str, outcome: str, summary: base.Summary, store_url: str) -> None:
    """Count the run where the operator sees it (/metrics, the operations page; the rule
    is lrs.ops.connector_runs'): a run into the store counts there; a run to Kafka sends
    its summary after its statements, for the worker to count; a run to another LRS, or to
    a broker that failed, counts in the local store if there is one (LRS_STORE, or the data
    directory's), else says that it is counted nowhere. A dry run stores nothing and counts
    nothing. A count that fails is a warning: the statements are delivered already."""
    if isinstance(sink, PrintSink):
        return
    from lrs.ops.connector_runs import RunSummary, record_summary

    counts = {"read": summary.read, "stored": summary.stored, "already": summary.already,
              "refused": len(summary.skipped)}
    run = RunSummary(source, outcome, counts, uuid.uuid4().hex)
    try:
        if isinstance(sink, StoreSink):
            record_summary(sink.store, run)
            return
        if isinstance(sink, KafkaSink) and outcome != "failed":
            try:
                sink.send_run(run)
                return
            except SinkRefused as exc:
                print(f"warning: the run's summary did not reach Kafka: {exc}", file=sys.stderr)
        store = _local_store(store_url)
        if store is None:
            print(
                "note: this run is counted in no LRS's /metrics: there is no local store "
                "(set LRS_STORE, or --data a directory that holds one)",
                file=sys.stderr,
            )
            return
        try:
            record_summary(store, run)
        finally:
            store.close()
        print("the run is counted in the local store's /metrics", file=sys.stderr)
    except Exception as exc:  # the statements are delivered; a lost run count is no reason to fail
        print(f"warning: the run was not counted: {exc}", file=sys.stderr)


def _local_store(store_url: str) -> Store | None:
    """The configured store, if there is one: a MongoDB URL, or an embedded data directory
    that holds a store already (none is made for a run that stores nothing here)."""
    if store_url.startswith("sqlite://") and not Path(store_url.removeprefix("sqlite://")).exists():
        return None
    return open_store(store_url)


def report_name(source: str) -> str:
    """A file name for one run's report: the source, made safe, and the time."""
    safe = re.sub(r"[^A-Za-z0-9.-]+", "_", source).strip("_")[:80]
    return f"connect-{safe}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.jsonl"


def fit(text: str, width: int) -> str:
    """`text` within `width` characters: its start and end kept, "..." between."""
    if len(text) <= width:
        return text
    head = (width - 3) // 2
    return text[:head] + "..." + text[len(text) - (width - 3 - head):]


def print_report(
    summary: base.Summary, report: Path, *, checkpoint: bool, dry_run: bool = False
) -> None:
    """The per-kind table and the last line on stderr; refusals and exclusions in `report`."""
    out = sys.stderr
    listed = [("refused", s) for s in summary.skipped] + [
        ("excluded", s) for s in summary.excluded
    ]
    if listed:
        report.parent.mkdir(parents=True, exist_ok=True)
        with open(report, "w", encoding="utf-8") as handle:
            for outcome, item in listed:
                line = {"outcome": outcome, "record": item.label, "kind": item.group,
                        "reason": item.reason}
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    width = min(max([len(g) for g in summary.groups] + [4]), KIND_WIDTH)
    print(
        f"{'kind':<{width}}  {'read':>7} {'stored':>7} {'already':>7} {'unmapped':>8} "
        f"{'excluded':>8} {'refused':>7}",
        file=out,
    )
    for group, t in sorted(summary.groups.items()):
        print(
            f"{fit(group, width):<{width}}  {t.read:>7,} {t.stored:>7,} {t.already:>7,} {t.unmapped:>8,} "
            f"{t.excluded:>8,} {t.refused:>7,}",
            file=out,
        )
    for item in summary.skipped[:SHOWN]:
        print(f"refused {item.label}: {item.reason}", file=out)
    if len(summary.skipped) > SHOWN:
        print(f"... and {len(summary.skipped) - SHOWN:,} more refused", file=out)
    if listed:
        print(f"every refused and excluded record: {report}", file=out)
    if summary.excluded:
        print(f"excluded by policy: {len(summary.excluded):,} records", file=out)
    if checkpoint and summary.checkpoint is not None:
        print(f"checkpoint {summary.checkpoint}", file=out)
    print(summary.line() + (" (a dry run: nothing stored)" if dry_run else ""), file=out)
