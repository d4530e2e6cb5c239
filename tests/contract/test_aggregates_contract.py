"""Aggregates port on every adapter (issue 14, points 4 and 6): a rule change recomputes
only the learners its changed rules reach; stored aggregates are a fold of persons' row
changes and answer what computing them from the evidence answers, now and as of a date."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from bson import Binary

from consumers.reducers.competencies import CompetencyReducer
from consumers.runtime.local import catch_up
from lrs.adapters.mongodb import MongoStore
from lrs.adapters.sqlite import SQLiteStore
from lrs.competency.aggregates import (
    aggregates,
    computed_aggregates,
    maintain,
    save_organisation,
    stored_aggregates,
)
from lrs.competency.reading import as_of_bound
from lrs.competency.rebuilds import recompute
from lrs.competency.registry import find_framework, import_rules, rulesets
from lrs.ops.aggregates import row_deltas
from lrs.ports import Store
from lrs.readmodels.competencies import NAME, state_key
from lrs.rosters import class_definition, person_record, save_class, save_person
from tests.contract.helpers import key as key_of
from tests.contract.helpers import save, statement

DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
C = f"{DIGCOMP}/competence"


def rules(q1_level: str = "2", q3_activity: str = "quiz/3") -> dict[str, Any]:
    def rule(rid: str, competence: str, level: str, activity: str) -> dict[str, Any]:
        return {
            "id": rid,
            "competence": f"{C}/{competence}",
            "level": level,
            "match": {"activity": f"http://example.org/{activity}"},
        }

    return {
        "id": "school",
        "framework": DIGCOMP,
        "rules": [
            rule("q1", "1.1", q1_level, "quiz/1"),
            rule("q2", "1.2", "3", "quiz/2"),
            rule("q3", "2.1", "1", q3_activity),
        ],
    }


def completed(learner: str, activity: str, day: str) -> dict[str, Any]:
    return statement(learner, "completed", activity, timestamp=f"2025-10-{day}T03:00:00Z")


@pytest.fixture
def three(store: Store) -> CompetencyReducer:
    """a completed quiz 1 (1 October), b quiz 2 (2nd), c quiz 3 (3rd); rules v1."""
    import_rules(store, rules())
    save(
        store,
        completed("a", "quiz/1", "01"),
        completed("b", "quiz/2", "02"),
        completed("c", "quiz/3", "03"),
    )
    reducer = CompetencyReducer(lambda: rulesets(store), refresh=0.0)
    catch_up(store, [reducer])
    return reducer


def _mark(store: Store, learner: str) -> None:
    """Write a marker into a stored state behind the port's back: a state that is
    rewritten loses it, one left alone keeps it."""
    k = state_key(DIGCOMP, key_of(learner))
    state = store.get_state(NAME, k)
    assert state is not None
    marked = orjson.dumps({**state, "marker": learner})
    if isinstance(store, SQLiteStore):
        with store._projection_transaction() as conn:
            conn.execute(
                "UPDATE states SET state = ? WHERE projection = ? AND key = ?", (marked, NAME, k)
            )
    else:
        assert isinstance(store, MongoStore)
        store._states.update_one(
            {"projection": NAME, "key": k}, {"$set": {"state": Binary(marked)}}
        )


def _state(store: Store, learner: str) -> dict[str, Any] | None:
    return store.get_state(NAME, state_key(DIGCOMP, key_of(learner)))


def test_a_rule_change_recomputes_only_the_learners_it_reaches(
    store: Store, three: CompetencyReducer
) -> None:
    assert _state(store, "a")["competences"][f"{C}/1.1"]["rank"] == 2  # type: ignore[index]
    for learner in "abc":
        _mark(store, learner)
    b_before, c_before = _state(store, "b"), _state(store, "c")

    # q1 raised to level 4: only a's quiz 1 statement matches q1 (old or new)
    import_rules(store, rules(q1_level="4"))
    done = recompute(store, three, rules(), rules(q1_level="4"))
    assert (done.rules, done.scanned, done.statements) == (2, 3, 1)
    assert (done.learners, done.keys) == (1, 1)
    a = _state(store, "a")
    assert a is not None and "marker" not in a  # rebuilt
    assert a["competences"][f"{C}/1.1"]["rank"] == 4
    assert a["competences"][f"{C}/1.1"]["level"].endswith("/level/4")
    assert _state(store, "b") == b_before and _state(store, "c") == c_before  # untouched

    # q3 moved from quiz 3 to quiz 1: a gains 2.1, c loses its only evidence, b untouched
    import_rules(store, rules(q1_level="4", q3_activity="quiz/1"))
    done = recompute(
        store, three, rules(q1_level="4"), rules(q1_level="4", q3_activity="quiz/1")
    )
    assert (done.rules, done.statements, done.learners, done.keys) == (2, 2, 2, 2)
    a = _state(store, "a")
    assert a is not None and set(a["competences"]) == {f"{C}/1.1", f"{C}/2.1"}
    assert _state(store, "c") is None
    assert _state(store, "b") == b_before

    # a rule set with the same rules changes nothing and reads no statement
    same = rules(q1_level="4", q3_activity="quiz/1")
    assert recompute(store, three, same, copy.deepcopy(same)).statements == 0


def test_row_changes_fold_into_counts() -> None:
    """Worked by hand: a person in class K1 and commune X, achieved 1.1 on 1 October."""
    row = {
        "places": {"class": ["K1"], "commune": ["X"]},
        "cells": ["s|1.1|achieved", "l|1.1|2"],
        "history": [["2025-10-01", "s|1.1|achieved", 1], ["2025-10-01", "l|1.1|2", 1]],
    }
    added = row_deltas(None, row)
    assert added[("class", "K1", "", "*")] == 1
    assert added[("commune", "X", "", "s|1.1|achieved")] == 1
    assert added[("commune", "X", "2025-10-01", "l|1.1|2")] == 1
    assert ("class", "K1", "2025-10-01", "l|1.1|2") not in added  # classes keep no history
    assert len(added) == (1 + 2) + (1 + 2 + 2)
    moved = {**row, "places": {"class": ["K1"], "commune": ["Y"]}}
    delta = row_deltas(row, moved)
    assert delta[("commune", "X", "", "*")] == -1 and delta[("commune", "Y", "", "*")] == 1
    assert not any(k[0] == "class" for k in delta)  # same class: nothing moves there
    assert row_deltas(row, copy.deepcopy(row)) == {}


def test_stored_rows_and_counts_replace_and_fold(store: Store) -> None:
    row = {
        "places": {"commune": ["X"]},
        "cells": ["s|1.1|achieved"],
        "history": [["2025-10-01", "s|1.1|achieved", 1]],
    }
    assert store.put_aggregate_rows(DIGCOMP, {"p1": row, "p2": row}) == 2
    assert store.put_aggregate_rows(DIGCOMP, {"p1": row}) == 0  # the same row again: no change
    counts = sorted(store.aggregate_counts(DIGCOMP, "commune", None))
    assert counts == [("X", "*", 2), ("X", "s|1.1|achieved", 2)]
    assert store.aggregate_counts(DIGCOMP, "commune", "X", "2025-10-01") == []
    assert store.aggregate_counts(DIGCOMP, "commune", "X", "2025-10-02") == [
        ("X", "s|1.1|achieved", 2)
    ]
    assert store.put_aggregate_rows(DIGCOMP, {"p2": None}) == 1
    assert sorted(store.aggregate_counts(DIGCOMP, "commune", "X")) == [
        ("X", "*", 1),
        ("X", "s|1.1|achieved", 1),
    ]
    assert set(store.get_aggregate_rows(DIGCOMP, ["p1", "p2"])) == {"p1"}
    store.clear_aggregates(DIGCOMP)
    assert store.aggregate_counts(DIGCOMP, "commune", None) == []


def test_stored_aggregates_answer_what_the_evidence_gives(
    store: Store, three: CompetencyReducer
) -> None:
    """a and b in class K1 of school S (commune X); c has commune Y of their own and the
    target group citizens. Every dimension, now and as of 1 and 2 October, stored = computed;
    and after a rule change and a class change, still equal."""
    save_organisation(store, {"id": "S", "commune": "X"})
    save_class(store, class_definition("K1", "K1", [key_of("a"), key_of("b")], school="S"))
    save_person(store, person_record(key_of("c"), commune="Y", target_group="citizens"))
    framework = find_framework(store, DIGCOMP)
    assert framework is not None

    def check() -> None:
        maintain(store)
        for dimension in ("class", "org", "commune", "target_group"):
            for as_of in (None, "2025-10-01", "2025-10-02"):
                until = as_of_bound(as_of)
                # (a class as of a date is computed: classes keep no dated changes)
                assert aggregates(store, framework, dimension, until) == (
                    computed_aggregates(store, framework, dimension, until)
                ), (dimension, as_of)

    check()
    communes = {g["value"]: g for g in stored_aggregates(store, framework, "commune")}
    assert {v: g["persons"] for v, g in communes.items()} == {"X": 2, "Y": 1}
    x_11 = communes["X"]["competences"][0]
    assert x_11["code"] == "1.1" and x_11["states"]["achieved"] == {"count": 1, "share": 0.5}
    assert x_11["levels"]["2"] == {"count": 1, "share": 0.5}
    day1 = stored_aggregates(store, framework, "commune", as_of_bound("2025-10-01"))
    assert [g["competences"][1]["states"]["achieved"]["count"] for g in day1] == [0, 0]

    import_rules(store, rules(q1_level="4"))
    recompute(store, three, rules(), rules(q1_level="4"))
    save_class(store, class_definition("K1", "K1", [key_of("a")], school="S"))
    check()
    communes = {g["value"]: g for g in stored_aggregates(store, framework, "commune")}
    assert {v: g["persons"] for v, g in communes.items()} == {"X": 1, None: 1, "Y": 1}
    assert communes["X"]["competences"][0]["levels"]["4"]["count"] == 1


def test_rebuilding_the_aggregates_gives_the_maintained_ones(
    store: Store, three: CompetencyReducer
) -> None:
    """The fold kept up by `maintain` equals a build from nothing (`lrs rebuild aggregates`)."""
    from lrs.competency.aggregates import rebuild_aggregates

    save_class(store, class_definition("K1", "K1", [key_of("a"), key_of("b")]))
    framework = find_framework(store, "vn-decision-757-2025")
    assert framework is not None
    maintain(store)
    kept = [stored_aggregates(store, framework, d) for d in ("class", "commune")]
    assert rebuild_aggregates(store) == 3  # a, b (on the roster and with evidence), c
    assert [stored_aggregates(store, framework, d) for d in ("class", "commune")] == kept
    assert [g["persons"] for g in kept[0]] == [2, 1]  # K1, and c in no class


def test_the_kafka_workers_batches_re_place_their_persons(store: Store) -> None:
    """The worker has no log position: it hands each applied batch to `refresh_changes`.
    a's quiz counts in DigComp's aggregate; once voided (by an administrator, another
    actor), a's row goes back to not started."""
    from consumers.reducers.base import changes_for
    from lrs.competency.aggregates import refresh_changes

    import_rules(store, rules())
    reducer = CompetencyReducer(lambda: rulesets(store), refresh=0.0)
    quiz = completed("a", "quiz/1", "01")
    save(store, quiz)
    changes = changes_for(reducer, [quiz])
    store.apply_changes(reducer, changes)
    assert refresh_changes(store, changes) == 3  # a's row in each of the 3 frameworks
    framework = find_framework(store, DIGCOMP)
    assert framework is not None
    (group,) = stored_aggregates(store, framework, "target_group")
    assert group["competences"][0]["states"]["achieved"]["count"] == 1

    void = statement("admin", "voided", object={"objectType": "StatementRef", "id": quiz["id"]})
    save(store, void)
    changes = changes_for(reducer, [void])
    store.apply_changes(reducer, changes)
    refresh_changes(store, changes)
    # a has no evidence left and is on no roster: a counts nowhere any more
    assert stored_aggregates(store, framework, "target_group") == []
