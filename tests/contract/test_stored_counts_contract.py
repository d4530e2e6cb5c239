"""The stored-counts port: statements stored per credential key, tallied from the log
(`lrs_statements_stored_total`), on every adapter."""

from __future__ import annotations

import threading
import uuid

from lrs.ports import Store
from tests.contract.helpers import save, statement


def test_the_tally_counts_each_new_statement_once_by_the_key_that_stored_it(store: Store) -> None:
    assert store.stored_counts() == {} and store.tallied_through() == 0
    assert store.tally_stored(1000) == 0  # nothing stored: nothing to move past
    first = statement("a")
    save(store, first, statement("b"))
    save(store, first)  # re-sent: stored once
    save(store, statement("c"), credential="source:moodle.example.org")  # a dot in the key
    assert store.tally_stored(1000) > 0
    assert store.stored_counts() == {"k1": 2, "source:moodle.example.org": 1}
    assert store.tally_stored(1000) == 0  # up to date: counting again adds nothing
    assert store.stored_counts() == {"k1": 2, "source:moodle.example.org": 1}
    save(store, statement("d"), credential="source:moodle.example.org")
    store.tally_stored(1000)
    assert store.stored_counts() == {"k1": 2, "source:moodle.example.org": 2}


def test_a_voiding_statement_counts_and_its_absent_target_does_not(store: Store) -> None:
    """A statement that voids one not stored yet leaves a placeholder on some adapters
    (MongoDB): a placeholder is no statement."""
    absent = str(uuid.uuid4())
    save(store, statement("a", verb="voided", object={"objectType": "StatementRef", "id": absent}))
    store.tally_stored(1000)
    assert store.stored_counts() == {"k1": 1}


def test_the_tally_takes_at_most_limit_log_positions_a_call(store: Store) -> None:
    for learner in "abcde":
        save(store, statement(learner))
    moved = store.tally_stored(2)
    assert moved == 2 and store.tallied_through() > 0
    assert sum(store.stored_counts().values()) <= 2
    while store.tally_stored(2):
        pass
    assert store.stored_counts() == {"k1": 5}


def test_concurrent_tallies_never_count_a_statement_twice(store: Store) -> None:
    for n in range(40):
        save(store, statement(f"p{n}"), credential=f"k{n % 3}")
    errors: list[BaseException] = []

    def tally() -> None:
        try:
            for _ in range(200):  # a call that lost the race returns 0; keep going a while
                store.tally_stored(1)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=tally) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    while store.tally_stored(1000):
        pass
    assert store.stored_counts() == {"k0": 14, "k1": 13, "k2": 13}
