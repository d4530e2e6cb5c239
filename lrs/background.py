"""A background thread that does one step of work at a time, idles when there is none,
and backs off when a step fails: the shape of the embedded runner and the outbox relay."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("lrs.background")


class BackgroundLoop:
    """Subclasses implement `step()` (how much work it did) and may override `failed()`."""

    name = "lrs-background"

    def __init__(self, *, idle: float = 0.02) -> None:
        self.idle = idle
        self.failures = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> int:
        raise NotImplementedError

    def failed(self, exc: Exception, attempt: int) -> float:
        """Log a failed step; return how long to wait before the next attempt."""
        log.exception("%s: step failed (attempt %d); retrying", self.name, attempt)
        return min(0.1 * 2.0**attempt, 5.0)

    def recovered(self, attempts: int) -> None:
        """The first step that worked after `attempts` failures."""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Work arrived: look now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                done = self.step()
            except Exception as exc:
                attempt += 1
                self.failures += 1
                self._stop.wait(self.failed(exc, attempt))
                continue
            if attempt:
                self.recovered(attempt)
                attempt = 0
            if not done:
                self._wake.wait(self.idle)
                self._wake.clear()
