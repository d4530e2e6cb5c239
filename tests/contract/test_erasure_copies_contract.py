"""Erasure reaches the stores beside the statements on every adapter: forwarding's dead
letters (copies of statements) and the stored competency aggregate rows (filed per person,
folded into group counts)."""

from __future__ import annotations

from typing import Any

import orjson

from lrs.domain.forwarding import DeadLetter, Destination, ForwardRule, Match
from lrs.ops.erasure import erase_keys
from lrs.ports import Store
from lrs.xapi.redaction import ERASED_AGENT, erasure_keys
from tests.contract.helpers import key, save, statement

FRAMEWORK = "https://example.org/frameworks/f1"
CELL = "s|1.1|achieved"


def _rule(rule_id: str) -> ForwardRule:
    return ForwardRule(
        id=rule_id,
        name="to the district",
        match=Match(),
        destination=Destination("xapi", "http://lrs.test/xapi", "s3cret-password", "user"),
        batch=50,
        max_attempts=3,
        created="2026-01-01T00:00:00.000Z",
    )


def _dead(store: Store, rule_id: str, offsets: list[int]) -> None:
    """Dead letters as the forwarder keeps them: the log records' bytes."""
    store.save_forward_rule(_rule(rule_id))
    records = {r.offset: r for r in store.read_log(0, 100)}
    store.dead_letter(
        rule_id,
        [
            DeadLetter(
                rule_id,
                offset,
                orjson.loads(records[offset].value)["id"],
                records[offset].value,
                3,
                "HTTP 500",
                "2026-01-01T00:00:00.000Z",
            )
            for offset in offsets
        ],
        max(offsets),
    )


def _row(commune: str, cells: list[str], history: list[list[Any]]) -> dict[str, Any]:
    return {"places": {"commune": [commune], "class": ["c1"]}, "cells": cells, "history": history}


def test_erasure_removes_dead_letters_and_aggregate_rows(store: Store) -> None:
    e_own = statement("e")
    about_e = {**statement("b", "mentored"), "object": {"objectType": "Agent", "mbox": "mailto:e@example.org"}}
    b_plain = statement("b")
    save(store, e_own, about_e, b_plain)
    o = [r.offset for r in store.read_log(0, 100)]
    _dead(store, "r1", o)
    _dead(store, "r2", o[:1])
    b_bytes = store.get_statement(b_plain["id"], voided=False)
    store.mark_dead_letters_for_replay("r1", [o[1]])
    store.link_keys("person-e", [key("e")])
    store.put_aggregate_rows(
        FRAMEWORK,
        {
            "person-e": _row("w1", [CELL], [["2026-01-02", CELL, 1]]),
            key("u"): _row("w1", [CELL], []),  # an erased key nobody is linked to
            "person-b": _row("w1", [CELL], [["2026-01-03", CELL, 1]]),
        },
    )
    store.put_aggregate_rows(FRAMEWORK + "/2", {"person-e": _row("w2", [], [])})

    report = erase_keys(store, erasure_keys([key("e"), key("u")]), [], persons=["person-e"])

    r1 = store.list_dead_letters("r1")
    assert [letter.offset for letter in r1] == o[1:]
    pseudonymised = orjson.loads(r1[0].data)
    assert pseudonymised["object"] == ERASED_AGENT and r1[0].replay  # still to be sent, redacted
    assert r1[0].data == store.get_statement(about_e["id"], voided=False)  # as stored now
    assert r1[1].data == b_bytes
    assert b"e@example.org" not in b"".join(letter.data for letter in r1)
    assert store.list_dead_letters("r2") == []
    assert store.forward_state("r1").dead == 2 and store.forward_state("r2").dead == 0

    assert store.get_aggregate_rows(FRAMEWORK, ["person-e", key("u"), "person-b"]) == {
        "person-b": _row("w1", [CELL], [["2026-01-03", CELL, 1]])
    }
    assert store.get_aggregate_rows(FRAMEWORK + "/2", ["person-e"]) == {}
    assert sorted(store.aggregate_counts(FRAMEWORK, "commune", "w1")) == [("w1", "*", 1), ("w1", CELL, 1)]
    assert sorted(store.aggregate_counts(FRAMEWORK, "class", None)) == [("c1", "*", 1), ("c1", CELL, 1)]
    # as of a date: only b's dated change is left
    assert store.aggregate_counts(FRAMEWORK, "commune", "w1", "2026-02-01") == [("w1", CELL, 1)]
    assert store.aggregate_counts(FRAMEWORK + "/2", "commune", None) == []

    counts = report.counts()
    assert (counts["dead_letters_deleted"], counts["dead_letters_pseudonymised"]) == (2, 1)
    assert counts["aggregate_rows_deleted"] == 3

    again = erase_keys(store, erasure_keys([key("e"), key("u")]), [], persons=["person-e"])
    assert set(again.counts().values()) == {0}
    assert [letter.offset for letter in store.list_dead_letters("r1")] == o[1:]
