"""The forwarding port: rules, per-rule offsets and dead letters, on every adapter."""

from __future__ import annotations

import time

import orjson

from lrs.domain.forwarding import DeadLetter, Destination, ForwardRule, ForwardState, Match
from lrs.ports import Store
from tests.contract.helpers import save, statement


def _rule(rule_id: str = "r1", **changes: object) -> ForwardRule:
    rule = ForwardRule(
        id=rule_id,
        name="to the district",
        match=Match(verbs=("http://adlnet.gov/expapi/verbs/completed",), orgs=("school-a",)),
        destination=Destination("xapi", "http://lrs.test/xapi", "s3cret-password", "user"),
        batch=50,
        max_attempts=3,
        created="2026-01-01T00:00:00.000Z",
    )
    return ForwardRule(**{**rule.__dict__, **changes})  # type: ignore[arg-type]


def _letter(rule_id: str, offset: int, error: str = "HTTP 500") -> DeadLetter:
    data = orjson.dumps(statement("a"))
    return DeadLetter(rule_id, offset, f"id-{offset}", data, 3, error, "2026-01-01T00:00:00.000Z")


def test_rules_round_trip_listed_by_id_and_deleted(store: Store) -> None:
    assert store.list_forward_rules() == []
    assert store.get_forward_rule("r1") is None
    second, first = _rule("r2", paused=True), _rule("r1")
    store.save_forward_rule(second)
    store.save_forward_rule(first)
    assert store.get_forward_rule("r1") == first
    assert store.list_forward_rules() == [first, second]
    renamed = _rule("r1", name="renamed")
    store.save_forward_rule(renamed)  # replaced, not added
    assert store.list_forward_rules() == [renamed, second]
    assert store.delete_forward_rule("r1")
    assert not store.delete_forward_rule("r1")
    assert store.list_forward_rules() == [second]


def test_state_counts_deliveries_and_failures_and_only_moves_forward(store: Store) -> None:
    assert store.forward_state("r1") == ForwardState("r1")
    store.record_delivery("r1", 10, 4)
    assert store.record_failure("r1", "HTTP 503", time.time() + 5) == 1
    assert store.record_failure("r1", "timeout", time.time() + 10) == 2
    failing = store.forward_state("r1")
    assert (failing.offset, failing.delivered, failing.failed, failing.attempts) == (10, 4, 2, 2)
    assert failing.last_error == "timeout" and failing.next_attempt > time.time()
    store.record_delivery("r1", 7, 1)  # an older offset never moves it back
    done = store.forward_state("r1")
    assert (done.offset, done.delivered, done.failed, done.attempts) == (10, 5, 2, 0)
    assert store.forward_state("r2").offset == 0  # rules are independent


def test_rewind_moves_the_offset_back_and_clears_the_retry_schedule(store: Store) -> None:
    store.record_delivery("r1", 20, 20)
    store.record_failure("r1", "HTTP 500", time.time() + 60)
    store.rewind_forwarding("r1", 5)
    state = store.forward_state("r1")
    assert (state.offset, state.attempts, state.delivered) == (5, 0, 20)


def test_dead_letters_move_the_offset_past_them_and_replay(store: Store) -> None:
    store.record_failure("r1", "HTTP 500", time.time() + 60)
    store.dead_letter("r1", [_letter("r1", 3), _letter("r1", 4)], 6)
    state = store.forward_state("r1")
    assert (state.offset, state.dead, state.attempts) == (6, 2, 0)
    letters = store.list_dead_letters("r1")
    assert [x.offset for x in letters] == [3, 4]
    assert (letters[0].statement_id, letters[0].attempts, letters[0].error) == ("id-3", 3, "HTTP 500")
    assert orjson.loads(letters[0].data)["actor"]["mbox"] == "mailto:a@example.org"
    assert store.list_dead_letters("r1", after=3) == letters[1:]
    assert store.list_dead_letters("r1", replay_only=True) == []
    assert store.mark_dead_letters_for_replay("r1", [4, 99]) == 1
    assert [x.offset for x in store.list_dead_letters("r1", replay_only=True)] == [4]
    assert store.mark_dead_letters_for_replay("r1", None) == 2
    # dead-lettered again (the replay failed too): kept once, no longer marked, count unchanged
    store.dead_letter("r1", [_letter("r1", 4, "HTTP 502")], 0)
    again = store.list_dead_letters("r1")
    assert [(x.offset, x.replay, x.error) for x in again] == [(3, True, "HTTP 500"), (4, False, "HTTP 502")]
    assert store.forward_state("r1").dead == 2
    store.remove_dead_letters("r1", [3])
    assert [x.offset for x in store.list_dead_letters("r1")] == [4]
    assert store.forward_state("r1").dead == 1
    assert store.forward_state("r1").offset == 6


def test_deleting_a_rule_forgets_its_state_and_dead_letters(store: Store) -> None:
    store.save_forward_rule(_rule("r1"))
    store.record_delivery("r1", 9, 9)
    store.dead_letter("r1", [_letter("r1", 2)], 9)
    assert store.delete_forward_rule("r1")
    assert store.forward_state("r1") == ForwardState("r1")
    assert store.list_dead_letters("r1") == []


def test_log_end_and_the_offset_before_a_time(store: Store) -> None:
    assert store.log_end() == 0
    assert store.log_offset_before("2100-01-01T00:00:00.000Z") == 0
    save(store, statement("a"))
    time.sleep(0.01)
    middle = store.read_log(0, 10)[-1]
    stored_first = orjson.loads(middle.value)["stored"]
    time.sleep(0.01)
    save(store, statement("b"), statement("c"))
    records = store.read_log(0, 10)
    assert store.log_end() == records[-1].offset
    assert store.log_offset_before(stored_first) == 0  # nothing stored before the first
    second_stored = orjson.loads(records[1].value)["stored"]
    assert store.log_offset_before(second_stored) == records[0].offset
    assert store.log_offset_before("2100-01-01T00:00:00.000Z") == records[-1].offset
