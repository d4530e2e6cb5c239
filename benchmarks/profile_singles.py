"""Single-statement POSTs straight into the ASGI app, in this process: CPU per request.

    python benchmarks/profile_singles.py [--n 3000] [--connections 16] [--profile out.prof]

What `lrs serve` does for POST /xapi/statements with one statement, without uvicorn and the
socket: the middlewares, authentication, parsing, validation, the thread hop and the group
commit, `synchronous=FULL`, on the statements bench_lrs.py posts. `--connections` requests are
in flight at once, as from that many keep-alive connections. Prints CPU per request of the
whole process (every thread) and the statement writer's groups: how many requests share a
commit, and the writer's CPU and wall time per group (the serial part of the request).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import statements as gen

from lrs.adapters.sqlite.base import PendingWrite
from lrs.adapters.sqlite.statements import SQLiteStatements
from lrs.api.app import create_app
from lrs.auth import create_credential
from lrs.config import load_settings

Message = dict[str, Any]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3000, help="requests timed (after 200 warm-up)")
    parser.add_argument("--connections", type=int, default=16, help="requests in flight at once")
    parser.add_argument("--profile", help="write a cProfile of the event-loop thread here")
    args = parser.parse_args()

    groups: list[tuple[int, float, float]] = []
    commit_group = SQLiteStatements._commit_group

    def timed_group(self: SQLiteStatements, group: list[PendingWrite]) -> None:
        cpu, wall = time.thread_time(), time.perf_counter()
        commit_group(self, group)
        groups.append((len(group), time.thread_time() - cpu, time.perf_counter() - wall))

    SQLiteStatements._commit_group = timed_group  # type: ignore[method-assign]
    data = Path(tempfile.mkdtemp(prefix="lrs-profile-singles-"))
    app = create_app(load_settings(data=str(data), processors=False))
    store = app.state.store
    new = create_credential(store, "bench", ["all"])
    auth = b"Basic " + base64.b64encode(f"{new.credential.key}:{new.secret}".encode())
    population = gen.Population.for_statements(1_000_000)
    bodies = [gen.batch_body(i, 1, population, 1) for i in range(args.n + 200)]

    async def post(body: bytes) -> None:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/xapi/statements", "raw_path": b"/xapi/statements",
            "root_path": "", "query_string": b"", "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 5555),
            "headers": [
                (b"host", b"127.0.0.1"), (b"authorization", auth),
                (b"x-experience-api-version", b"1.0.3"), (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }  # fmt: skip
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError("unreachable")

        status: list[int] = []

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        if status != [200]:
            raise SystemExit(f"POST answered {status}")

    async def run(batch: list[bytes]) -> None:
        queue = list(batch)

        async def connection() -> None:
            while queue:
                await post(queue.pop())

        await asyncio.gather(*(connection() for _ in range(args.connections)))

    async def measure() -> None:
        await run(bodies[:200])
        groups.clear()
        profiler = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        await run(bodies[200:])
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{args.n:,} single-statement POSTs, {args.connections} in flight: "
              f"{args.n / wall:,.0f}/s wall, {cpu / args.n * 1e6:,.0f} us CPU per request")  # fmt: skip
        size = sum(g[0] for g in groups) / len(groups)
        print(f"writer: {len(groups)} commits of {size:.1f} requests on average, "
              f"{sum(g[1] for g in groups) / len(groups) * 1e6:,.0f} us CPU and "
              f"{sum(g[2] for g in groups) / len(groups) * 1e6:,.0f} us wall per commit")  # fmt: skip

    try:
        asyncio.run(measure())
    finally:
        store.close()
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
