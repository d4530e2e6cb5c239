"""Freed heap memory goes back to the OS after a processor's large round (lrs/memory.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# In a fresh interpreter, so other tests' heap does not blur the figures: 8 KiB chunks
# (served from glibc's heap, below the mmap threshold), every 16th kept alive, so the freed
# 15 of 16 sit between live chunks where only malloc_trim can hand them back.
CHILD = """
import sys
from lrs.memory import release_free_memory
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
chunks = [bytearray(8192) for _ in range(20_000)]
kept = chunks[::16]
del chunks
before = rss()
released = release_free_memory()
print(before, rss(), released)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's (Linux)")
def test_freed_chunks_between_live_ones_are_returned() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], check=True, capture_output=True, text=True, timeout=60
    ).stdout.split()
    before, after, released = int(out[0]), int(out[1]), out[2] == "True"
    if not released:
        pytest.skip("this C library has no malloc_trim (not glibc)")
    assert before - after >= 100, (before, after)  # ~150 MiB were freed between live chunks

