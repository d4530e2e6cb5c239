"""Recomputing competency status after a rule change made over the API, in the background.

Rules apply to statements as they are processed; evidence folded under the old rules is
recomputed by replaying the log into the competencies projection (`consumers.runner.rebuild`,
what `lrs alignments import` does). One replay runs at a time per process; changes made
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
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_state = {"running": False, "again": False, "done": 0}


def rebuild_competencies_later(store: Any) -> str:
    """Start a replay (or ask the running one to go again); returns what happened."""
    with _lock:
        if _state["running"]:
            _state["again"] = True
            return "queued"
        _state["running"] = True
    threading.Thread(target=_run, args=(store,), daemon=True, name="competencies-rebuild").start()
    return "started"


def _run(store: Any) -> None:
    from consumers.competencies import NAME
    from consumers.registry import reducers
    from consumers.runner import rebuild

    while True:
        try:
            reducer = next(r for r in reducers(store) if r.name == NAME)
            rebuild(store, reducer)
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
