"""The storage contract for organisations and learner history: every adapter alike.

`statement_history` is the complete record (voided and voiding statements included, with
the storing credential); `credentials`/`exclude_credentials` on both statement reads are
how an organisation sees only its own statements; `list_credentials` says which
credential keys make up which organisation.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from lrs.domain.records import Credential, HistoryQuery, StatementQuery
from lrs.domain.times import format_stored
from lrs.ports import Store
from lrs.xapi.agent_keys import agent_key

VOIDED = "http://adlnet.gov/expapi/verbs/voided"
COURSE = "http://example.org/course/1"


def authority(credential: str) -> dict[str, Any]:
    return {"objectType": "Agent", "account": {"homePage": "http://lrs.test", "name": credential}}


def statement(learner: str = "a", verb: str = "completed", activity: str = "act/1", **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": f"mailto:{learner}@example.org"},
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}"},
        "object": {"id": f"http://example.org/{activity}"},
        **extra,
    }


def in_course(course: str, group: str = "parent") -> dict[str, Any]:
    return {"context": {"contextActivities": {group: [{"id": course}]}}}


def save(store: Store, *statements: dict[str, Any], credential: str = "k1") -> list[str]:
    return store.save_statements(
        list(statements),
        authority=authority(credential),
        credential=credential,
        version="1.0.3",
        attachments=[],
    )


def key(learner: str) -> str:
    found = agent_key({"mbox": f"mailto:{learner}@example.org"})
    assert found is not None
    return found


def history(store: Store, *learners: str, **filters: Any) -> list[str]:
    """Every id of the history, page by page (small pages, to cross page boundaries)."""
    query = HistoryQuery(learners=[key(learner) for learner in learners], limit=2, **filters)
    found: list[str] = []
    while True:
        page = store.statement_history(query)
        found += [orjson.loads(r.data)["id"] for r in page.records]
        if page.cursor is None:
            return found
        query.after = page.cursor


def test_history_keeps_voided_and_voiding_statements_with_their_source(store: Store) -> None:
    first, second = statement(), statement(verb="passed")
    save(store, first, second, credential="platform-key")
    voiding = {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": "mailto:admin@example.org"},
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": first["id"]},
    }
    save(store, voiding, credential="moodle")
    save(store, statement(learner="other"))

    page = store.statement_history(HistoryQuery(learners=[key("a")]))
    assert [orjson.loads(r.data)["id"] for r in page.records] == [
        first["id"],
        second["id"],
        voiding["id"],  # found through its target's terms, as xAPI filters find it
    ]
    assert [r.voided for r in page.records] == [True, False, False]
    assert [r.credential for r in page.records] == ["platform-key", "platform-key", "moodle"]
    assert all(r.stored == orjson.loads(r.data)["stored"] for r in page.records)
    assert page.cursor is None
    assert [r.seq for r in page.records] == sorted(r.seq for r in page.records)


def test_history_pages_are_stable_while_statements_arrive(store: Store) -> None:
    ids = [s["id"] for s in (statement(activity=f"act/{n}") for n in range(5)) if save(store, s)]
    query = HistoryQuery(learners=[key("a")], limit=2)
    page = store.statement_history(query)
    seen = [orjson.loads(r.data)["id"] for r in page.records]
    later = statement(activity="act/late")
    save(store, later)  # arrives between pages: comes after, moves nothing
    while page.cursor is not None:
        query.after = page.cursor
        page = store.statement_history(query)
        seen += [orjson.loads(r.data)["id"] for r in page.records]
    assert seen == [*ids, later["id"]]


def test_history_filters(store: Store) -> None:
    in_parent = statement(activity="quiz/1", **in_course(COURSE))
    in_grouping = statement(verb="passed", activity="quiz/2", **in_course(COURSE, "grouping"))
    in_category = statement(activity="quiz/3", **in_course(COURSE, "category"))
    elsewhere = statement(verb="passed", activity="quiz/1")
    save(store, in_parent, in_grouping, in_category, elsewhere)

    assert history(store, "a", course=COURSE) == [in_parent["id"], in_grouping["id"]]
    assert history(store, "a", verb="http://adlnet.gov/expapi/verbs/passed") == [
        in_grouping["id"],
        elsewhere["id"],
    ]
    assert history(store, "a", activity="http://example.org/quiz/1") == [
        in_parent["id"],
        elsewhere["id"],
    ]
    assert history(store, "a", verb="http://example.org/never") == []
    assert history(store, "nobody") == []


def test_history_time_range_is_on_stored(store: Store) -> None:
    early = statement()
    save(store, early)
    time.sleep(0.01)
    middle = format_stored_now()
    time.sleep(0.01)
    late = statement()
    save(store, late)
    assert history(store, "a", since=middle) == [late["id"]]
    assert history(store, "a", until=middle) == [early["id"]]


def format_stored_now() -> str:
    from datetime import UTC, datetime

    return format_stored(datetime.now(UTC))


def test_a_persons_history_merges_its_keys_once_each(store: Store) -> None:
    by_a = statement(learner="a")
    by_b = statement(learner="b")
    a_about_b = statement(learner="a")
    a_about_b["object"] = {"objectType": "Agent", "mbox": "mailto:b@example.org"}
    save(store, by_a, by_b, a_about_b, statement(learner="c"))
    assert history(store, "a", "b") == [by_a["id"], by_b["id"], a_about_b["id"]]


def test_organisation_filters_on_both_reads(store: Store) -> None:
    mine = statement()
    theirs = statement()
    connector = statement()
    save(store, mine, credential="org-a-key")
    save(store, theirs, credential="org-b-key")
    save(store, connector, credential="moodle")

    def both(credentials: list[str] | None, exclude: bool) -> tuple[list[str], list[str]]:
        page = store.query_statements(
            StatementQuery(ascending=True, credentials=credentials, exclude_credentials=exclude)
        )
        hist = store.statement_history(
            HistoryQuery(learners=[key("a")], credentials=credentials, exclude_credentials=exclude)
        )
        return (
            [orjson.loads(s)["id"] for s in page.statements],
            [orjson.loads(r.data)["id"] for r in hist.records],
        )

    everything = [mine["id"], theirs["id"], connector["id"]]
    assert both(None, False) == (everything, everything)
    assert both([], True) == (everything, everything)
    assert both(["org-a-key"], False) == ([mine["id"]], [mine["id"]])
    assert both(["org-b-key"], True) == ([mine["id"], connector["id"]], [mine["id"], connector["id"]])
    assert both([], False) == ([], [])
    # with a learner filter too (the index drives, the credential filters)
    page = store.query_statements(
        StatementQuery(agent=key("a"), credentials=["org-b-key"], exclude_credentials=False)
    )
    assert [orjson.loads(s)["id"] for s in page.statements] == [theirs["id"]]


def test_list_credentials_says_whose_keys_are_whose(store: Store) -> None:
    store.save_credential(Credential("k2", "School", ("statements/read",), "school-1", "h", "school"))
    store.save_credential(
        Credential("k1", "Auditor", ("auditor",), None, "h", "auditor", ("school-1", "school-2"))
    )
    listed = store.list_credentials()
    assert [(c.key, c.org, c.role, c.audits) for c in listed] == [
        ("k1", None, "auditor", ("school-1", "school-2")),
        ("k2", "school-1", "school", ()),
    ]


def test_the_credentials_version_moves_with_every_save(store: Store) -> None:
    """Readers cache the credential list until this token changes (lrs.access)."""
    seen = {store.credentials_version()}
    store.save_credential(Credential("k1", "A", ("all",), "org-a", "h", "platform"))
    seen.add(store.credentials_version())
    store.save_credential(Credential("k0", "B", ("all",), "org-b", "h", "platform"))
    seen.add(store.credentials_version())
    store.save_credential(Credential("k1", "A", ("all",), "org-c", "h", "platform"))  # replaced
    seen.add(store.credentials_version())
    assert len(seen) == 4
    assert store.credentials_version() == store.credentials_version()  # stable between saves
