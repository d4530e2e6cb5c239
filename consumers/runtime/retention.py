"""Retention runs scheduled by the processors: embedded, in the processors' child process
(consumers/runtime/local.py); scaled out, beside each `lrs process` worker. The policies,
holds and the run itself are lrs.ops.retention; this only decides when to look."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from consumers.reducers.base import Reducer
from lrs.background import BackgroundLoop
from lrs.ops.retention import run_if_due
from lrs.ports import Store

log = logging.getLogger("lrs.retention")

POLL_SECONDS = 60.0  # how often a processor looks whether a run is due


@dataclass(frozen=True)
class RetentionSchedule:
    """What a processor needs to know to schedule runs (picklable: it crosses into the
    embedded processors' child process)."""

    interval: float  # seconds between runs; 0: never (only `lrs retention run`)
    access_log_min_days: int


class RetentionLoop(BackgroundLoop):
    name = "lrs-retention"

    def __init__(
        self, store: Store, reducers: Sequence[Reducer], schedule: RetentionSchedule
    ) -> None:
        super().__init__(idle=min(POLL_SECONDS, schedule.interval or POLL_SECONDS))
        self.store = store
        self.reducers = list(reducers)
        self.schedule = schedule

    def step(self) -> int:
        done = run_if_due(
            self.store,
            list(self.reducers),
            interval=self.schedule.interval,
            access_log_min_days=self.schedule.access_log_min_days,
        )
        if done is not None:
            log.info("retention run: %s", done.as_dict())
        return 0  # then wait `idle` seconds before looking again

    def wake(self) -> None:
        """Stored statements do not make a run due: only time does."""
