"""Statements stored per organisation, for the whole deployment (/metrics).

The store tallies its own log (lrs.ports.stored_counts): whichever process stored a
statement (an API replica, an `lrs process` worker from Kafka, `lrs connect` into the
store), it is counted once, and every replica reads the same figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lrs.ports import StoredCounts

# Log positions one tally call takes: a small GROUP BY over the seq index (SQLite ~0.1 s
# per 100,000 on this machine), so a scrape after a long pause catches up in steps.
TALLY_STEP = 100_000
# How long one read may spend catching up before it answers with what is tallied so far
# (a store that was never tallied, opened with millions of statements, catches up over a
# few scrapes, well inside Prometheus' 10 s scrape timeout).
TALLY_BUDGET = 2.0


def statements_stored(
    store: StoredCounts, org_of_key: Callable[[str], str], budget: float = TALLY_BUDGET
) -> dict[str, int]:
    """The tally brought up to date (within `budget` seconds), summed per organisation of
    the credential key that stored each statement."""
    deadline = time.monotonic() + budget
    while store.tally_stored(TALLY_STEP) and time.monotonic() < deadline:
        pass
    stored: dict[str, int] = {}
    for key, count in store.stored_counts().items():
        org = org_of_key(key)
        stored[org] = stored.get(org, 0) + count
    return stored
