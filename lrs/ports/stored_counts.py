"""The stored-counts port: how many statements each credential key has stored, ever, for
/metrics (`lrs_statements_stored_total`).

Counted from the store's own log, not by the processes that store: every writer (API
replicas, `lrs process` workers, `lrs connect` into the store) is counted the same way, the
figure survives restarts and is the same whichever replica answers, and the write path pays
nothing for it. The tally is brought up to date when it is read (`tally_stored`), from the
statements settled in the log since its mark.
"""

from __future__ import annotations

from typing import Protocol


class StoredCounts(Protocol):
    def tally_stored(self, limit: int) -> int:
        """Add to the tally the statements settled in the log after its mark, taking at most
        `limit` log positions; move the mark past them. Returns how far the mark moved (0:
        the tally is up to date, or another process moved it meanwhile).

        Any number of processes may call it at once: the counts and the mark move together
        only if the mark is still where this call read it, so no statement is counted twice
        (a call that lost the race adds nothing). A statement erased before
        the tally reached it is not counted."""
        ...

    def stored_counts(self) -> dict[str, int]:
        """Statements tallied so far, by the credential key that stored them."""
        ...

    def tallied_through(self) -> int:
        """The tally's mark: the log position it has counted through (0 before the first)."""
        ...
