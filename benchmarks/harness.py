"""Plumbing shared by the benchmark phases: server processes, HTTP load, measurements.

Why a separate module: the phases in bench_lrs.py should read as the experiment (what is
sent, what is measured), while the mechanics that make the numbers trustworthy live here:
- servers run as real child processes, in their own session (Ctrl-C reaches only us, and
  we stop them by PID in `finally`), bound to 127.0.0.1 on a free port;
- request bodies are serialised before the clock starts, so the client measures the server;
- every phase records the CPU seconds of the client process and of the server process, so
  the report can show which side was saturated instead of guessing.
"""

from __future__ import annotations

import base64
import http.client
import math
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlsplit
from urllib.request import urlopen

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
XAPI_VERSION = "1.0.3"


def free_port() -> int:
    """A free TCP port on the loopback interface (nothing here listens anywhere else)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def basic_auth(user: str, password: str) -> str:
    """The Authorization header, computed once rather than per request by the client."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# processes -----------------------------------------------------------------------------------
def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak resident set since start) of a process, in KiB."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
    return found


def descendants(pid: int) -> list[int]:
    """The process's children, grandchildren, ... (children of any of its threads)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except FileNotFoundError:
                continue
            found += children
            pending += children
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its descendants (`lrs serve` folds in a child process)."""
    total = 0.0
    for member in [pid, *descendants(pid)]:
        try:
            total += proc_cpu_seconds(member)
        except FileNotFoundError:
            pass
    return total


def tree_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM summed over a process and its descendants (the peak: an upper bound)."""
    total = {"VmRSS": 0, "VmHWM": 0}
    for member in [pid, *descendants(pid)]:
        try:
            for name, value in proc_memory_kib(member).items():
                total[name] += value
        except FileNotFoundError:
            pass
    return total


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, iowait) CPU seconds of the whole machine since boot, from /proc/stat.

    Busy minus our client's and server's CPU is what other processes took during a phase:
    on a shared 2-core machine that, not the LRS, can explain a slow phase.
    """
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    user, nice, system, _idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS, iowait / CLOCK_TICKS


class Meter:
    """CPU used by the client, the server and everything else over one interval."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.client0 = time.process_time()
        self.server0 = tree_cpu_seconds(server_pid)
        self.busy0, self.iowait0 = machine_cpu_seconds()
        self.t0 = time.perf_counter()

    def read(self) -> dict[str, float]:
        """Average cores used since the start: client, server, others; iowait in cores too."""
        seconds = max(1e-9, time.perf_counter() - self.t0)
        client = time.process_time() - self.client0
        server = tree_cpu_seconds(self.server_pid) - self.server0
        busy, iowait = machine_cpu_seconds()
        others = max(0.0, (busy - self.busy0) - client - server)
        return {
            "seconds": seconds,
            "client": client / seconds,
            "server": server / seconds,
            "others": others / seconds,
            "iowait": (iowait - self.iowait0) / seconds,
        }


@dataclass
class Server:
    """A server child process that we started, and how to reach it."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str  # ends with the xAPI root, e.g. http://127.0.0.1:PORT/xapi
    authorization: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid)

    def memory_kib(self) -> dict[str, int]:
        return tree_memory_kib(self.pid)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (uvicorn shuts down cleanly), then SIGKILL if it lingers; by PID only."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


def start_server(
    name: str,
    command: Sequence[str],
    *,
    base_url: str,
    ready_path: str,
    authorization: str,
    log_path: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Server:
    """Start a server and wait until `ready_path` answers; the caller must `stop()` it."""
    log = open(log_path, "wb")
    process = subprocess.Popen(
        list(command),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=env,
        start_new_session=True,  # Ctrl-C goes to the benchmark only, which stops us in order
    )
    log.close()
    server = Server(name, process, base_url, authorization, log_path)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with status {process.returncode}; log: {log_path}\n"
                    + log_path.read_text(errors="replace")[-2000:]
                )
            try:
                with urlopen(base_url.rsplit("/", 1)[0] + ready_path, timeout=1) as answer:
                    if answer.status < 500:
                        return server
            except (URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer within {timeout:.0f}s; log: {log_path}")
            time.sleep(0.1)
    except BaseException:
        server.stop()
        raise


# HTTP load -----------------------------------------------------------------------------------
@dataclass
class PhaseResult:
    """What one load phase did and cost, on both sides of the connection."""

    statements: int = 0
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # per request, seconds
    client_cpu: float = 0.0  # CPU seconds used by this (client) process during the phase
    server_cpu: float = 0.0  # CPU seconds used by the server process during the phase
    others_load: float = 0.0  # cores used by every other process on the machine, on average
    iowait_load: float = 0.0  # cores idle waiting for I/O, on average

    @property
    def rate(self) -> float:
        return self.statements / self.seconds if self.seconds else 0.0

    @property
    def client_load(self) -> float:
        """Client CPU as a fraction of one core: near 1.0 would mean the client limits."""
        return self.client_cpu / self.seconds if self.seconds else 0.0

    @property
    def server_load(self) -> float:
        return self.server_cpu / self.seconds if self.seconds else 0.0


class Connection:
    """One keep-alive HTTP/1.1 connection to a server (stdlib http.client).

    Why not httpx: measured here, httpx's sync client spends ~1,300 us of CPU per small
    POST and http.client ~390 us. On a 2-core machine the client's CPU is taken from the
    server, so the leaner client disturbs the measurement least.
    """

    def __init__(self, server: Server, timeout: float = 300.0) -> None:
        parts = urlsplit(server.base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.root = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = {
            "Authorization": server.authorization,
            "X-Experience-API-Version": XAPI_VERSION,
        }
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Send one request and read the whole answer; reconnect once if the server closed."""
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, self.root + path, body, headers)
                response = self._conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Poster:
    """POSTs statement batches over several keep-alive connections, one per worker thread.

    Threads block in the socket without holding the GIL, so a handful of them keep the
    server busy while the client itself stays light (its CPU is measured per phase).
    """

    def __init__(self, server: Server, connections: int) -> None:
        self.server = server
        self.connections = connections
        self._local = threading.local()
        self._all: list[Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = Connection(self.server)
            with self._lock:
                self._all.append(conn)
        return conn

    def _post(self, body: bytes) -> tuple[int, float, str]:
        started = time.perf_counter()
        status, answer = self._connection().request("POST", "/statements", body)
        elapsed = time.perf_counter() - started
        detail = "" if status < 300 else answer[:300].decode(errors="replace")
        return status, elapsed, detail

    def run(
        self,
        bodies: Iterable[tuple[bytes, int]],
        *,
        on_done: Callable[[int], None] | None = None,
    ) -> PhaseResult:
        """Send every (body, statement count) with `connections` requests in flight.

        `bodies` may be a generator: at most 2 x connections bodies exist at once, so a
        million statements never sit in memory together. `on_done` runs in this thread.
        """
        result = PhaseResult()
        in_flight: dict[Future[tuple[int, float, str]], int] = {}

        def collect(done: Iterable[Future[tuple[int, float, str]]]) -> None:
            for future in done:
                count = in_flight.pop(future)
                try:
                    status, elapsed, detail = future.result()
                except OSError as exc:
                    status, elapsed, detail = 0, 0.0, repr(exc)
                result.requests += 1
                if 200 <= status < 300:
                    result.statements += count
                    result.latencies.append(elapsed)
                    if on_done is not None:
                        on_done(count)
                else:
                    result.errors += 1
                    if len(result.error_samples) < 3:
                        result.error_samples.append(f"HTTP {status}: {detail}")

        meter = Meter(self.server.pid)
        cpu0, server0, t0 = time.process_time(), self.server.cpu_seconds(), time.perf_counter()
        with ThreadPoolExecutor(self.connections, thread_name_prefix="poster") as pool:
            for body, count in bodies:
                while len(in_flight) >= 2 * self.connections:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    collect(done)
                in_flight[pool.submit(self._post, body)] = count
            while in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                collect(done)
        result.seconds = time.perf_counter() - t0
        result.client_cpu = time.process_time() - cpu0
        result.server_cpu = self.server.cpu_seconds() - server0
        measured = meter.read()
        result.others_load, result.iowait_load = measured["others"], measured["iowait"]
        return result

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


# statistics ----------------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of an unsorted sequence."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]
