"""The embedded processors alone, in this process: wall and CPU per statement, optionally profiled.

    python benchmarks/profile_processors.py [--n 100000] [--profile out.prof] [--keep DIR]

Stores N statements once with `SQLiteStore.save_statements` (the same generator, population,
seed and alignment rules as bench_pipeline.py's "embedded throughput" phase) into a cached
statements-only copy, then, for each run, copies it and loops `process_round` over every
projection in batches of the `processor_batch` setting, as the embedded child does. Prints
wall seconds, CPU seconds (this process) and CPU microseconds per statement, per round too,
so a slowdown as the states grow shows.
"""

from __future__ import annotations

import argparse
import cProfile
import shutil
import sys
import tempfile
import time
from pathlib import Path

import bench_pipeline as bp

from consumers.reducers.enabled import reducers
from consumers.runtime.local import process_round
from lrs.adapters.sqlite import SQLiteStore
from lrs.competency.registry import import_rules
from lrs.config import Settings


def pristine(n: int, seed: int, learners: int, cache: Path) -> Path:
    """A statements-only data directory for (n, seed, learners), made once."""
    where = cache / f"statements-{n}-{seed}-{learners}"
    if not (where / "lrs.db").exists():
        shutil.rmtree(where, ignore_errors=True)
        building = where.with_name(where.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        population = bp.population_for(learners)
        store = SQLiteStore(building / "lrs.db")
        import_rules(store, bp.pipeline_rules(population))
        seconds = bp.load_store(store, 0, n, population, seed)
        store.close()
        print(f"stored {n:,} statements in {seconds:.1f} s (cached in {where})")
        building.rename(where)
    return where


def written_bytes() -> int:
    """Bytes this process has written so far (Linux /proc; 0 elsewhere): WAL frames and
    checkpoints, the I/O a projection costs besides its CPU."""
    try:
        with open("/proc/self/io") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("wchar:"))
    except (OSError, StopIteration):
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--learners", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=Settings().processor_batch)
    parser.add_argument(
        "--cache", default=str(Path(tempfile.gettempdir()) / "lrs-profile-processors")
    )
    parser.add_argument("--profile", help="write cProfile stats of the processing here")
    parser.add_argument("--keep", help="process in this directory and keep it")
    args = parser.parse_args()

    source = pristine(args.n, args.seed, args.learners, Path(args.cache))
    run = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lrs-proc-run-"))
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(source, run)
    store = SQLiteStore(run / "lrs.db")
    profiler = cProfile.Profile() if args.profile else None
    try:
        all_reducers = reducers(store)
        done, rounds = 0, []
        cpu0, t0, io0 = time.process_time(), time.perf_counter(), written_bytes()
        if profiler:
            profiler.enable()
        while True:
            c, t = time.process_time(), time.perf_counter()
            read = process_round(store, all_reducers, args.batch)
            if not read:
                break
            statements = read // len(all_reducers)
            done += statements
            rounds.append((statements, time.perf_counter() - t, time.process_time() - c))
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        written = written_bytes() - io0
    finally:
        store.close()
        if not args.keep:
            shutil.rmtree(run, ignore_errors=True)
    print("round  statements  wall s  cpu s  cpu us/statement")
    for i, (statements, w, c) in enumerate(rounds, 1):
        print(f"{i:5d}  {statements:10,d}  {w:6.2f}  {c:5.2f}  {c / statements * 1e6:8.0f}")
    print(
        f"{done:,} statements, every projection: wall {wall:.2f} s = {done / wall:,.0f}/s;"
        f" CPU {cpu:.2f} s = {cpu / done * 1e6:.0f} us/statement ({done / cpu:,.0f}/s per CPU second);"
        f" wrote {written / 1e6:,.0f} MB = {written / done / 1e3:.1f} kB/statement"
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
