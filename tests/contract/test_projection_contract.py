"""The projection part of the storage contract, with the real profile reducer.

Every adapter must apply contributions exactly once however often they are delivered, let a
retraction (voiding) take back what the voided statement contributed, in whichever order the
two arrive, and give the same states when the whole log is replayed in any batch size.
"""

from __future__ import annotations

import copy
import random
import uuid
from typing import Any

import pytest

from consumers.reducers.base import changes_for, rebuild_by_folding
from consumers.reducers.profiles import REDUCER, contribution
from consumers.runtime.local import apply_in_parts
from lrs.domain.records import Contribution, StateQuery
from lrs.ports import Store
from lrs.xapi.statements import is_voiding, learner_key, statement_ref_target

PROFILES = REDUCER.name
VERBS = "http://adlnet.gov/expapi/verbs/"
VOIDED = VERBS + "voided"
ADMIN = {"objectType": "Agent", "mbox": "mailto:admin@example.org"}


def new_id(rng: random.Random | None = None) -> str:
    if rng is None:
        return str(uuid.uuid4())
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def actor(learner: str) -> dict[str, Any]:
    if learner.startswith("acct"):
        return {"account": {"homePage": "https://lms.example.org/users", "name": learner}}
    return {"mbox": f"mailto:{learner}@example.org", "name": learner.title()}


def key(learner: str) -> str:
    return learner_key({"actor": actor(learner)})


def stmt(
    learner: str = "ana",
    verb: str = "experienced",
    activity: str = "http://example.org/act/1",
    *,
    timestamp: str = "2024-03-01T10:00:00.000Z",
    score: float | None = None,
    course: str | None = None,
    sid: str | None = None,
    **result: Any,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": sid or new_id(),
        "actor": actor(learner),
        "verb": {"id": VERBS + verb},
        "object": {"objectType": "Activity", "id": activity},
        "timestamp": timestamp,
        "stored": timestamp,
    }
    if score is not None:
        result["score"] = {"scaled": score}
    if result:
        value["result"] = result
    if course is not None:
        value["context"] = {"contextActivities": {"parent": [{"id": course}]}}
    return value


def void(target: dict[str, Any], sid: str | None = None) -> dict[str, Any]:
    return {
        "id": sid or new_id(),
        "actor": ADMIN,
        "verb": {"id": VOIDED, "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target["id"]},
        "timestamp": "2024-06-01T00:00:00.000Z",
        "stored": "2024-06-01T00:00:00.000Z",
    }


def apply(store: Store, *statements: dict[str, Any]) -> None:
    store.apply_changes(REDUCER, changes_for(REDUCER, list(statements)))


def all_states(store: Store, projection: str = PROFILES) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    after: str | None = None
    while True:
        page = store.list_states(projection, StateQuery(limit=5, after=after))
        if not page:
            return states
        for k, state in page:
            assert k not in states, f"{k} listed twice"
            states[k] = state
        after = page[-1][0]


def expected_states(log: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The reference: each statement once, minus every voided one, folded per learner."""
    retracted = {statement_ref_target(s) for s in log if is_voiding(s)}
    seen: set[str] = set()
    per_key: dict[str, list[Contribution]] = {}
    for s in log:
        if is_voiding(s) or s["id"] in seen:
            continue
        seen.add(s["id"])
        if s["id"] not in retracted:
            c = contribution(s)
            per_key.setdefault(c.key, []).append(c)
    states = {k: REDUCER.rebuild(k, items) for k, items in per_key.items()}
    return {k: v for k, v in states.items() if v is not None}


# exactly once -------------------------------------------------------------------------------


def test_applying_a_batch_folds_each_statement(store: Store) -> None:
    apply(
        store,
        stmt("ana", "completed", score=0.5),
        stmt("ana", "experienced", "http://example.org/act/2"),
        stmt("bo", "passed"),
    )
    ana = store.get_state(PROFILES, key("ana"))
    assert ana is not None
    assert ana["statements"] == 2
    assert ana["verbs"] == {VERBS + "completed": 1, VERBS + "experienced": 1}
    assert ana["attempted"] == 2 and ana["completed"] == 1
    bo = store.get_state(PROFILES, key("bo"))
    assert bo is not None and bo["passed"] == 1
    assert store.get_state(PROFILES, key("cy")) is None


def test_applying_the_same_batch_twice_changes_nothing(store: Store) -> None:
    batch = [
        stmt("ana", "completed", score=0.5, duration="PT1M"),
        stmt("ana", "scored", score=0.9, timestamp="2024-03-02T00:00:00.000Z"),
        stmt("bo", "failed", course="http://example.org/course/1"),
    ]
    apply(store, *batch)
    first = all_states(store)
    assert first[key("ana")]["statements"] == 2
    apply(store, *copy.deepcopy(batch))
    assert all_states(store) == first
    assert first[key("ana")]["time_spent_seconds"] == 60.0


def test_a_statement_twice_in_one_batch_counts_once(store: Store) -> None:
    s = stmt("ana", "completed", duration="PT30S")
    apply(store, s, copy.deepcopy(s), stmt("ana", "experienced"))
    ana = store.get_state(PROFILES, key("ana"))
    assert ana is not None
    assert ana["statements"] == 2
    assert ana["verbs"][VERBS + "completed"] == 1
    assert ana["time_spent_seconds"] == 30.0


def test_a_statement_delivered_again_in_a_later_batch_is_not_double_counted(store: Store) -> None:
    a = stmt("ana", "completed", duration="PT1M", score=0.4)
    b = stmt("ana", "scored", "http://example.org/quiz", score=0.8, duration="PT2M")
    c = stmt("ana", "experienced", "http://example.org/quiz", duration="PT3M")
    apply(store, a, b)
    apply(store, b, c)  # at-least-once: b again, e.g. after a crash before the offset moved
    apply(store, a)
    ana = store.get_state(PROFILES, key("ana"))
    assert ana is not None
    assert ana["statements"] == 3
    assert ana["time_spent_seconds"] == 360.0
    assert ana["activities"]["http://example.org/quiz"]["statements"] == 2
    assert ana == expected_states([a, b, c])[key("ana")]


# retraction -----------------------------------------------------------------------------------


def test_a_retraction_takes_back_what_the_voided_statement_contributed(store: Store) -> None:
    quiz, intro = "http://example.org/quiz", "http://example.org/intro"
    best = stmt(
        "ana", "passed", quiz, score=0.9, timestamp="2024-03-03T00:00:00.000Z", duration="PT5M"
    )
    other = stmt(
        "ana", "failed", quiz, score=0.6, timestamp="2024-03-02T00:00:00.000Z", duration="PT1M"
    )
    only = stmt(
        "ana",
        "completed",
        intro,
        timestamp="2024-03-04T00:00:00.000Z",
        course="http://example.org/c1",
    )
    kept = stmt(
        "ana", "experienced", "http://example.org/video", timestamp="2024-03-01T00:00:00.000Z"
    )
    apply(store, best, other, only, kept)
    before = store.get_state(PROFILES, key("ana"))
    assert before is not None
    assert before["activities"][quiz]["best_score"] == 0.9
    assert before["activities"][quiz]["last_score"] == 0.9
    assert (before["attempted"], before["completed"], before["passed"]) == (3, 1, 1)

    apply(store, void(best), void(only))
    after = store.get_state(PROFILES, key("ana"))
    assert after is not None
    assert after["statements"] == 2
    assert after["verbs"] == {VERBS + "failed": 1, VERBS + "experienced": 1}
    assert after["activities"][quiz]["best_score"] == 0.6
    assert after["activities"][quiz]["last_score"] == 0.6
    assert after["activities"][quiz]["passed"] is False
    assert after["activities"][quiz]["statements"] == 1
    assert intro not in after["activities"]
    assert (after["attempted"], after["completed"], after["passed"], after["failed"]) == (
        2,
        0,
        0,
        1,
    )
    assert after["courses"] == []
    assert after["last_activity"] == "2024-03-02T00:00:00.000Z"
    assert after["time_spent_seconds"] == 60.0
    assert VOIDED not in after["verbs"]
    assert after == expected_states([best, other, only, kept, void(best), void(only)])[key("ana")]


def test_voiding_every_statement_of_a_learner_removes_the_profile(store: Store) -> None:
    a = stmt("ana", "completed", course="http://example.org/c1")
    b = stmt("ana", "experienced", "http://example.org/act/2")
    kept = stmt("bo", "completed", course="http://example.org/c1")
    apply(store, a, b, kept)
    apply(store, void(a))
    assert store.get_state(PROFILES, key("ana")) is not None
    apply(store, void(b))
    assert store.get_state(PROFILES, key("ana")) is None
    assert set(all_states(store)) == {key("bo")}
    listed = store.list_states(PROFILES, StateQuery(equals={"course": "http://example.org/c1"}))
    assert [k for k, _ in listed] == [key("bo")]


def test_the_voiding_statement_itself_adds_nothing(store: Store) -> None:
    a = stmt("ana")
    apply(store, a, stmt("ana", "completed"), void(a))
    ana = store.get_state(PROFILES, key("ana"))
    assert ana is not None and ana["statements"] == 1
    assert VOIDED not in ana["verbs"]
    admin_key = learner_key({"actor": ADMIN})
    assert store.get_state(PROFILES, admin_key) is None


def test_a_retraction_in_the_same_batch_after_its_target(store: Store) -> None:
    a = stmt("ana", "completed", score=1.0)
    b = stmt("ana", "experienced", score=0.2)
    apply(store, a, b, void(a))
    ana = store.get_state(PROFILES, key("ana"))
    assert ana is not None
    assert ana["statements"] == 1
    assert ana["completed"] == 0
    assert ana["activities"]["http://example.org/act/1"]["best_score"] == 0.2


@pytest.mark.parametrize("same_batch", [False, True])
def test_a_voiding_processed_before_its_target_means_the_target_never_counts(
    store: Store, same_batch: bool
) -> None:
    target = stmt("ana", "completed", score=0.9)
    other = stmt("ana", "experienced", "http://example.org/act/2")
    alone = stmt("cy", "completed")
    if same_batch:
        apply(store, void(target), void(alone), target, other, alone)
    else:
        apply(store, void(target), void(alone))
        apply(store, target, other, alone)
    ana = store.get_state(PROFILES, key("ana"))
    assert ana is not None
    assert ana["statements"] == 1
    assert set(ana["activities"]) == {"http://example.org/act/2"}
    assert ana["completed"] == 0
    assert store.get_state(PROFILES, key("cy")) is None
    # and it stays out when delivered again
    apply(store, target, alone)
    assert store.get_state(PROFILES, key("ana")) == ana
    assert store.get_state(PROFILES, key("cy")) is None


def test_a_retraction_delivered_again_changes_nothing(store: Store) -> None:
    a, b = stmt("ana", "completed"), stmt("ana", "passed")
    voiding = void(a)
    apply(store, a, b, voiding)
    once = all_states(store)
    apply(store, voiding)
    apply(store, a, voiding, b)
    assert all_states(store) == once
    assert once[key("ana")]["statements"] == 1


def test_a_retraction_of_an_unknown_statement_changes_nothing(store: Store) -> None:
    apply(store, stmt("ana"), stmt("bo"))
    before = all_states(store)
    apply(store, void(stmt("ana")))
    assert all_states(store) == before


def test_a_retraction_leaves_other_learners_alone(store: Store) -> None:
    a = stmt("ana", "completed")
    apply(store, a, stmt("bo", "completed"), stmt("acct-7", "passed"))
    others = {k: v for k, v in all_states(store).items() if k != key("ana")}
    apply(store, void(a))
    assert all_states(store) == others


# projections are separate ---------------------------------------------------------------------


class CountReducer:
    """A second projection: statements per verb id (key = verb)."""

    name = "verb-counts"

    def contributions(self, statement: dict[str, Any]) -> list[Contribution]:
        return [Contribution(statement["id"], statement["verb"]["id"], {})]

    def fold(self, state: dict[str, Any] | None, item: Contribution) -> dict[str, Any]:
        state = state if state is not None else {"count": 0}
        state["count"] += 1
        return state

    def rebuild(self, key: str, contributions: list[Contribution]) -> dict[str, Any] | None:
        return rebuild_by_folding(self, contributions)

    def index(self, state: dict[str, Any]) -> dict[str, list[Any]]:
        return {"count": [state["count"]]}


def test_projections_keep_their_contributions_apart(store: Store) -> None:
    counts = CountReducer()
    a, b = stmt("ana", "completed"), stmt("bo", "completed")
    apply(store, a, b)
    store.apply_changes(counts, changes_for(counts, [a]))
    # the same statement id is new to the other projection, and the other way round
    assert store.get_state(counts.name, VERBS + "completed") == {"count": 1}
    store.apply_changes(counts, changes_for(counts, [a, b]))
    assert store.get_state(counts.name, VERBS + "completed") == {"count": 2}
    ana = store.get_state(PROFILES, key("ana"))
    assert ana is not None and ana["statements"] == 1
    # a retraction in one projection is not one in the other
    store.apply_changes(counts, changes_for(counts, [void(a)]))
    assert store.get_state(counts.name, VERBS + "completed") == {"count": 1}
    assert store.get_state(PROFILES, key("ana")) == ana


def test_clear_projection_forgets_only_that_projection(store: Store) -> None:
    counts = CountReducer()
    a, b = stmt("ana", "completed"), stmt("bo", "completed")
    apply(store, a, b, void(b))
    store.apply_changes(counts, changes_for(counts, [a, b]))
    store.clear_projection(PROFILES)
    assert store.get_state(PROFILES, key("ana")) is None
    assert all_states(store) == {}
    assert store.get_state(counts.name, VERBS + "completed") == {"count": 2}
    # contributions and retractions are forgotten too: everything counts afresh
    apply(store, a, b)
    ana, bo = store.get_state(PROFILES, key("ana")), store.get_state(PROFILES, key("bo"))
    assert ana is not None and ana["statements"] == 1
    assert bo is not None and bo["statements"] == 1


# replay -------------------------------------------------------------------------------------

LEARNERS = ["ana", "bo", "cy", "dee", "eli", "fay", "gus", "acct-1", "acct-22", "gone"]
COURSES = ["http://example.org/course/1", "http://example.org/course/2", None]
LOG_VERBS = ["experienced", "attempted", "answered", "completed", "passed", "failed", "scored"]


def realistic_log(seed: int) -> list[dict[str, Any]]:
    """~200 statements for 10 learners, with re-sent duplicates and voidings (some early)."""
    rng = random.Random(seed)
    log: list[dict[str, Any]] = []
    originals: list[dict[str, Any]] = []
    pending_targets: list[dict[str, Any]] = []  # voided before they arrive
    gone: list[dict[str, Any]] = []
    for n in range(170):
        learner = "gone" if n % 40 == 0 else rng.choice(LEARNERS[:-1])
        offset = rng.choice(["Z", "+07:00", "-05:00"])
        day, hour = rng.randrange(1, 29), rng.randrange(0, 24)
        result: dict[str, Any] = {}
        if rng.random() < 0.4:
            result["score"] = round(rng.random(), 2)
        if rng.random() < 0.5:
            result["duration"] = (
                f"PT{rng.randrange(1, 90)}M{rng.randrange(0, 60)}.{rng.randrange(0, 100):02d}S"
            )
        if rng.random() < 0.2:
            result["success"] = rng.random() < 0.6
        s = stmt(
            learner,
            rng.choice(LOG_VERBS),
            f"http://example.org/act/{rng.randrange(8)}",
            timestamp=f"2024-03-{day:02d}T{hour:02d}:00:00{offset}",
            course=rng.choice(COURSES),
            sid=new_id(rng),
            **result,
        )
        if learner == "gone":
            gone.append(s)
        if learner != "gone" and rng.random() < 0.03:
            pending_targets.append(s)
            log.append(void(s, new_id(rng)))  # the voiding arrives first
            continue
        log.append(s)
        originals.append(s)
        if rng.random() < 0.1:  # a client re-sends a statement it already sent
            log.append(copy.deepcopy(rng.choice(originals)))
        if originals and rng.random() < 0.06:
            log.append(void(rng.choice(originals), new_id(rng)))
    for s in pending_targets:  # the early-voided statements arrive late
        log.insert(rng.randrange(len(log) // 2, len(log) + 1), s)
    for s in gone:  # one learner loses everything
        log.append(void(s, new_id(rng)))
    for _ in range(8):  # late re-sends, some of them of voided statements
        log.append(copy.deepcopy(rng.choice(originals)))
    return log


def apply_in_batches(store: Store, log: list[dict[str, Any]], size: int) -> None:
    for start in range(0, len(log), size):
        apply(store, *log[start : start + size])


def test_replay_in_any_batch_size_gives_the_same_states(store: Store) -> None:
    log = realistic_log(42)
    assert 190 <= len(log) <= 230
    voidings = [s for s in log if is_voiding(s)]
    assert len(voidings) >= 8
    expected = expected_states(log)
    keys = {key(learner) for learner in LEARNERS}
    assert set(expected) == keys - {key("gone")}
    assert any(  # some statement was voided before it was delivered
        i < j
        for i, v in enumerate(log)
        if is_voiding(v)
        for j, s in enumerate(log)
        if s["id"] == statement_ref_target(v)
    )

    # live: irregular batches, each sometimes delivered twice (a crash before the offset moved)
    rng = random.Random(7)
    start = 0
    while start < len(log):
        size = rng.randrange(1, 25)
        apply(store, *log[start : start + size])
        if rng.random() < 0.3:
            apply(store, *log[max(0, start - 5) : start + size])
        start += size
    live = {k: store.get_state(PROFILES, k) for k in keys}
    assert live[key("gone")] is None
    assert {k: v for k, v in live.items() if v is not None} == expected
    assert all_states(store) == expected

    for replay in ("all at once", "batches of 7"):
        store.clear_projection(PROFILES)
        assert all_states(store) == {}
        assert all(store.get_state(PROFILES, k) is None for k in keys)
        if replay == "all at once":
            apply(store, *log)
        else:
            apply_in_batches(store, log, 7)
        assert {k: store.get_state(PROFILES, k) for k in keys} == live, replay
        assert all_states(store) == expected, replay


@pytest.mark.parametrize("keys_per_part", [1, 3])
def test_batches_applied_a_few_keys_at_a_time_give_the_same_states(
    store: Store, keys_per_part: int
) -> None:
    """The processors apply a batch in parts of a few thousand keys (bounded memory), each
    part its own transaction, the offset with the last: the states must not differ from
    one transaction per batch, whatever the batch, voidings and redeliveries included."""
    log = realistic_log(11)
    expected = expected_states(log)
    rng = random.Random(3)
    start = 0
    while start < len(log):
        size = rng.randrange(1, 40)
        batch = log[start : start + size]
        apply_in_parts(store, REDUCER, changes_for(REDUCER, batch), keys_per_part=keys_per_part)
        if rng.random() < 0.3:  # delivered again, as after a crash between two parts
            again = log[max(0, start - 5) : start + size]
            apply_in_parts(store, REDUCER, changes_for(REDUCER, again), keys_per_part=keys_per_part)
        start += size
    assert all_states(store) == expected
    offset = ("processor:test", 42)
    apply_in_parts(store, REDUCER, [], offset, keys_per_part=keys_per_part)
    assert store.get_offset("processor:test") == 42  # an empty batch still moves the offset


# listing --------------------------------------------------------------------------------------

C1, C2 = "http://example.org/course/1", "http://example.org/course/2"


@pytest.fixture
def listed(store: Store) -> Store:
    apply(
        store,
        stmt(
            "ana", "completed", "http://example.org/a1", timestamp="2024-03-01T00:00:00Z", course=C1
        ),
        stmt(
            "ana", "completed", "http://example.org/a2", timestamp="2024-03-05T00:00:00Z", course=C2
        ),
        stmt(
            "bo", "completed", "http://example.org/a1", timestamp="2024-03-10T00:00:00Z", course=C1
        ),
        stmt(
            "cy",
            "experienced",
            "http://example.org/a1",
            timestamp="2024-02-01T00:00:00Z",
            course=C2,
        ),
        stmt("dee", "completed", "http://example.org/a1", timestamp="2024-03-20T08:00:00+07:00"),
        stmt("dee", "passed", "http://example.org/a2", timestamp="2024-01-01T00:00:00Z"),
        stmt("dee", "completed", "http://example.org/a3", timestamp="2024-01-02T00:00:00Z"),
        stmt("acct-1", "completed", "http://example.org/a1", timestamp="2024-03-04T23:59:59.999Z"),
    )
    return store


def keys_of(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [k for k, _ in rows]


def test_list_states_in_key_order(listed: Store) -> None:
    rows = listed.list_states(PROFILES, StateQuery())
    assert keys_of(rows) == sorted(key(x) for x in ("ana", "bo", "cy", "dee", "acct-1"))
    assert all(state["learner"] == k for k, state in rows)


def test_list_states_filtered_by_course(listed: Store) -> None:
    rows = listed.list_states(PROFILES, StateQuery(equals={"course": C1}))
    assert keys_of(rows) == sorted([key("ana"), key("bo")])
    rows = listed.list_states(PROFILES, StateQuery(equals={"course": C2}))
    assert keys_of(rows) == sorted([key("ana"), key("cy")])
    assert (
        listed.list_states(PROFILES, StateQuery(equals={"course": "http://example.org/none"})) == []
    )


def test_list_states_filtered_by_last_active(listed: Store) -> None:
    rows = listed.list_states(
        PROFILES, StateQuery(at_least={"last_active": "2024-03-05T00:00:00.000Z"})
    )
    # ana's last is exactly the bound; dee's 2024-03-20T08:00+07:00 is 01:00Z that day
    assert keys_of(rows) == sorted([key("ana"), key("bo"), key("dee")])
    rows = listed.list_states(
        PROFILES, StateQuery(at_least={"last_active": "2024-03-20T01:00:00.001Z"})
    )
    assert keys_of(rows) == []


def test_list_states_filtered_by_completed(listed: Store) -> None:
    rows = listed.list_states(PROFILES, StateQuery(at_least={"completed": 2}))
    assert keys_of(rows) == sorted([key("ana"), key("dee")])
    rows = listed.list_states(PROFILES, StateQuery(at_least={"completed": 1}))
    assert keys_of(rows) == sorted([key("ana"), key("bo"), key("dee"), key("acct-1")])
    assert keys_of(listed.list_states(PROFILES, StateQuery(at_least={"completed": 0}))) == keys_of(
        listed.list_states(PROFILES, StateQuery())
    )


def test_list_states_filters_combine(listed: Store) -> None:
    rows = listed.list_states(
        PROFILES,
        StateQuery(
            equals={"course": C1},
            at_least={"completed": 2, "last_active": "2024-03-01T00:00:00.000Z"},
        ),
    )
    assert keys_of(rows) == [key("ana")]


def test_list_states_pages_with_after(listed: Store) -> None:
    everything = keys_of(listed.list_states(PROFILES, StateQuery()))
    pages: list[list[str]] = []
    after: str | None = None
    while True:
        page = keys_of(listed.list_states(PROFILES, StateQuery(limit=2, after=after)))
        if not page:
            break
        assert len(page) <= 2
        pages.append(page)
        after = page[-1]
    assert [k for page in pages for k in page] == everything
    assert len(pages) == 3
    # `after` need not be a listed key, and combines with filters
    rows = listed.list_states(
        PROFILES, StateQuery(after=key("ana") + "\x00", equals={"course": C1})
    )
    assert keys_of(rows) == [key("bo")]
    rows = listed.list_states(PROFILES, StateQuery(limit=1, at_least={"completed": 1}))
    assert keys_of(rows) == [everything[0]] == [key("acct-1")]


def test_list_states_follows_retractions(listed: Store) -> None:
    a = stmt(
        "eli", "completed", "http://example.org/a9", timestamp="2024-04-01T00:00:00Z", course=C1
    )
    b = stmt("eli", "completed", "http://example.org/a8", timestamp="2024-03-01T00:00:00Z")
    apply(listed, a, b)
    query = StateQuery(equals={"course": C1}, at_least={"completed": 2})
    assert key("eli") in keys_of(listed.list_states(PROFILES, query))
    late = StateQuery(at_least={"last_active": "2024-03-31T00:00:00Z"})
    assert keys_of(listed.list_states(PROFILES, late)) == [key("eli")]
    apply(listed, void(a))
    assert key("eli") not in keys_of(listed.list_states(PROFILES, query))
    assert key("eli") not in keys_of(
        listed.list_states(PROFILES, StateQuery(equals={"course": C1}))
    )
    assert keys_of(listed.list_states(PROFILES, late)) == []
    assert key("eli") in keys_of(
        listed.list_states(PROFILES, StateQuery(at_least={"completed": 1}))
    )
