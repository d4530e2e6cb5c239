"""The log port: the embedded event log, the outbox and consumer offsets, on every adapter."""

from __future__ import annotations

import time

import orjson

from consumers.reducers.profiles import REDUCER
from lrs.ops.erasure import erase_keys
from lrs.ports import Store
from lrs.xapi.redaction import erasure_keys
from tests.contract.helpers import key, save, statement


def test_log_lists_every_stored_statement_in_order_once(store: Store) -> None:
    first, second, third = statement("a"), statement("b"), statement("c")
    save(store, first, second)
    save(store, first)  # re-sent: not a new event
    save(store, third)
    records = store.read_log(0, 10)
    assert [orjson.loads(r.value)["id"] for r in records] == [
        first["id"],
        second["id"],
        third["id"],
    ]
    assert [r.key for r in records] == [key("a"), key("b"), key("c")]
    assert store.read_log(records[0].offset, 1) == [records[1]]


def test_outbox_returns_what_is_not_yet_published(store: Store) -> None:
    save(store, statement("a"), statement("b"))
    pending = store.unpublished(10)
    assert len(pending) == 2
    store.mark_published(pending[:1])
    assert store.unpublished(10) == pending[1:]
    save(store, statement("c"))
    store.mark_published(store.unpublished(10))
    assert store.unpublished(10) == []


def test_consumer_offsets_only_move_forward(store: Store) -> None:
    assert store.get_offset("profiles") == 0
    store.set_offset("profiles", 5)
    store.set_offset("profiles", 3)
    assert store.get_offset("profiles") == 5
    assert store.get_offset("other") == 0


def test_a_lease_has_one_owner_until_it_runs_out_or_is_given_up(store: Store) -> None:
    assert store.claim_lease("outbox-relay", "a", 30)
    assert not store.claim_lease("outbox-relay", "b", 30)  # held by a
    assert store.claim_lease("outbox-relay", "a", 30)  # a renews
    assert store.claim_lease("other", "b", 30)  # leases are independent
    assert store.claim_lease("outbox-relay", "a", 0)  # a gives it up
    assert store.claim_lease("outbox-relay", "b", 0.3)
    assert not store.claim_lease("outbox-relay", "a", 30)
    time.sleep(0.4)  # b's lease ran out
    assert store.claim_lease("outbox-relay", "a", 30)


def test_reset_published_republishes_everything(store: Store) -> None:
    save(store, statement("a"), statement("b"))
    store.mark_published(store.unpublished(10))
    assert store.published_count() == 2
    store.reset_published()
    assert store.published_count() == 0
    assert len(store.unpublished(10)) == 2


def test_backlogs_count_what_is_left_to_read_and_to_publish(store: Store) -> None:
    assert store.count_after(0) == 0 and store.unpublished_count() == 0
    save(store, statement("a"), statement("b"), statement("c"))
    records = store.read_log(0, 10)
    assert store.count_after(0) == 3
    assert store.count_after(records[0].offset) == 2
    assert store.count_after(records[-1].offset) == 0
    assert store.unpublished_count() == 3
    store.mark_published(store.unpublished(2))
    assert store.unpublished_count() == 1


def test_erasing_the_newest_statements_never_makes_a_later_statement_reuse_their_log_position(
    store: Store,
) -> None:
    """Every consumer (processors, outbox relay, forwarding, the stored tally) has passed the
    positions it read: a later statement that took an erased one's would never reach them."""
    save(store, statement("a"))
    save(store, statement("b"))
    handed = [r.offset for r in store.read_log(0, 10)]
    erase_keys(store, erasure_keys([key("b")]), [REDUCER])
    assert [r.offset for r in store.read_log(0, 10)] == handed[:1]
    for learner in ("c", "d"):
        save(store, statement(learner))
        newest = store.read_log(0, 10)[-1]
        assert orjson.loads(newest.value)["actor"]["name"] == learner.upper()
        assert newest.offset > max(handed)
        handed.append(newest.offset)
    # the two newest at once (d, then c's only other copy): the next is still past them all
    erase_keys(store, erasure_keys([key("c"), key("d")]), [REDUCER])
    save(store, statement("e"))
    offsets = [r.offset for r in store.read_log(0, 10)]
    assert offsets == sorted(offsets) and offsets[-1] > max(handed)
