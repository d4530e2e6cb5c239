"""Recomputing competency status after a rule change made over the API, in the background.

Rules apply to statements as they are processed; evidence folded under the old rules is
recomputed by replaying the log into the competencies projection (the caller passes that
replay, `Replay`: the HTTP app composes it from the processors, as `lrs alignments import`
does). One replay runs at a time per process; changes made
while one runs ask for one more, so the last change always wins. Reads during a replay
see the status filling up again.

A replay redoes the whole competencies projection, not only the statements the change
affects: replacing one statement's contributions needs a store operation the ports do
not offer yet (see the issue note).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from lrs.storage.base import Store

log = logging.getLogger(__name__)

# Replays the whole log into an empty competencies projection of the store.
Replay = Callable[[Store], object]

_lock = threading.Lock()
_state = {"running": False, "again": False, "done": 0}


def rebuild_competencies_later(store: Store, replay: Replay) -> str:
    """Start a replay (or ask the running one to go again); returns what happened."""
    with _lock:
        if _state["running"]:
            _state["again"] = True
            return "queued"
        _state["running"] = True
    threading.Thread(
        target=_run, args=(store, replay), daemon=True, name="competencies-rebuild"
    ).start()
    return "started"


def _run(store: Store, replay: Replay) -> None:
    while True:
        try:
            replay(store)
        except Exception:  # the next change or `lrs rebuild competencies` retries
            log.exception("rebuilding competencies after a rule change failed")
        with _lock:
            _state["done"] += 1
            if not _state["again"]:
                _state["running"] = False
                return
            _state["again"] = False


def wait_for_rebuilds(timeout: float = 30.0) -> bool:
    """Block until no replay runs (tests, and a clean shutdown); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _lock:
            if not _state["running"]:
                return True
        time.sleep(0.02)
    return False
