"""Handing memory freed after a large batch back to the operating system.

A processor folds thousands of statements per round: their parsed JSON, contributions and
states are freed when the round ends, but glibc keeps the freed chunks in its heap, spread
between live ones, so the process's resident size ratchets up with every round whose
allocations land differently. `malloc_trim(0)` returns every free page (not only the top
of the heap), which keeps a long-running processor's memory flat (about halves it:
benchmarks/MEASUREMENTS.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from typing import Any

from lrs.background import BackgroundLoop

_trim: Any = None


def _load_trim() -> Any:
    global _trim
    if _trim is None:
        _trim = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _trim = libc.malloc_trim  # glibc only; musl has none
            except (OSError, AttributeError):
                _trim = False
    return _trim


def release_free_memory() -> bool:
    """Return freed heap pages to the OS; False where the C library cannot (not glibc)."""
    trim = _load_trim()
    if not trim:
        return False
    trim(0)
    return True


def kept_bytes(data: bytes) -> bytes:
    """`data` in a buffer of its own size: for orjson output that is kept a while.

    orjson (3.12 on) returns bytes whose buffer is rounded up and never shrunk: at least
    4 KiB for a 400-byte profile contribution, 16 KiB for a 1.5 KB statement. Thousands of
    them held at once (a processor's batch of states and contributions, the writer's rows
    for a request of 1,000 statements, the definitions cache) cost ten times their size;
    the copy costs about a microsecond. Bytes used at once and dropped need none.
    """
    return memoryview(data).tobytes()


def resident_mib() -> float | None:
    """This process's resident set in MiB (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class MemoryReleaser(BackgroundLoop):
    """`lrs serve`'s periodic `release_free_memory`: request threads each get a glibc arena,
    and the bodies they parse (up to megabytes for a batch of 1,000) leave them fragmented.
    A trim takes milliseconds; every `every` seconds it is noise."""

    name = "lrs-memory"

    def __init__(self, every: float = 30.0) -> None:
        super().__init__(idle=every)

    def step(self) -> int:
        release_free_memory()
        return 0  # then wait `every` seconds
