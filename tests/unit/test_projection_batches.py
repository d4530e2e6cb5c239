"""How the processors cut and decode a batch (consumers/reducers/base.py): pure functions."""

from __future__ import annotations

import tracemalloc

import orjson

from consumers.reducers.base import Change, changes_for, changes_of_records, key_parts
from consumers.reducers.profiles import REDUCER
from lrs.domain.records import Contribution, Retraction
from lrs.memory import kept_bytes


def c(statement_id: str, key: str) -> Contribution:
    return Contribution(statement_id, key, {"n": statement_id})


def test_key_parts_hold_at_most_n_keys_each_key_in_one_part_in_log_order() -> None:
    changes: list[Change] = [
        c("1", "a"), c("2", "b"), Retraction("1"), c("3", "a"), c("4", "c"),
        c("5", "d"), c("6", "b"), Retraction("9"), c("7", "e"),
    ]  # fmt: skip
    parts = key_parts(changes, 2)
    assert [[getattr(x, "key", None) for x in part] for part in parts] == [
        ["a", "b", "a", "b"],
        ["c", "d"],
        ["e", None, None],  # the retractions, in log order, in the last part
    ]
    flat = [x for part in parts for x in part]
    assert sorted(map(repr, flat)) == sorted(map(repr, changes))  # nothing lost or repeated


def test_key_parts_of_an_empty_batch_is_one_empty_part() -> None:
    assert key_parts([], 100) == [[]]  # so that the offset still moves
    assert key_parts([Retraction("x")], 100) == [[Retraction("x")]]


def statement(n: int) -> dict[str, object]:
    return {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "actor": {"mbox": f"mailto:l{n % 3}@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": f"http://example.org/a/{n}"},
        "timestamp": "2026-01-01T00:00:00.000Z",
        "stored": "2026-01-01T00:00:00.000Z",
    }


def test_changes_of_records_match_changes_for_and_skip_what_is_not_json() -> None:
    statements = [statement(n) for n in range(6)]
    records = [orjson.dumps(s) for s in statements]
    (from_records,) = changes_of_records([REDUCER], [*records[:3], b"{not json", *records[3:]])
    assert from_records == changes_for(REDUCER, statements)
    both = changes_of_records([REDUCER, REDUCER], records)
    assert both[0] == both[1] == from_records


def test_kept_bytes_are_equal_and_sized_to_fit() -> None:
    value = {"verb": "http://adlnet.gov/expapi/verbs/attempted", "scores": list(range(40))}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [kept_bytes(orjson.dumps(value)) for _ in range(1000)]
        per_item = (tracemalloc.get_traced_memory()[0] - before) / 1000
    finally:
        tracemalloc.stop()
    assert kept[0] == orjson.dumps(value)
    assert per_item < len(kept[0]) + 100, per_item  # orjson's own output may hold 4 KiB each
