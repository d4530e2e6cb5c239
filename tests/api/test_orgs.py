"""Organisations and roles: every cross-organisation read and write, on every route.

Two worlds are built side by side, identical (same credential keys and secrets, same
statements of organisation B) except that in one, organisation A has data too: learners,
statements (one voided), documents, an identity link, a class roster. Whatever B asks
about A's data must get exactly the answer (status and body) that it gets in the world
where A's data does not exist: then the answer tells B nothing. Positive cases check that
A's own credentials, its school, auditors and admins still see what they should.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.testclient import TestClient

from consumers.reducers.enabled import reducers
from consumers.runtime.local import catch_up
from lrs.api.app import create_app
from lrs.auth import hash_secret
from lrs.config import load_settings
from lrs.domain.records import Credential
from lrs.ports import Store
from lrs.rosters import class_definition, save_class
from tests.conftest import basic_auth

DIGCOMP = "digcomp-2.2"
LA = "mbox:mailto:lan@a.example.org"  # organisation A's learner
LB = "mbox:mailto:binh@b.example.org"  # organisation B's learner
LA_AGENT = {"objectType": "Agent", "mbox": "mailto:lan@a.example.org"}
LB_AGENT = {"objectType": "Agent", "mbox": "mailto:binh@b.example.org"}
COURSE_A = "http://a.example.org/course/1"
COURSE_B = "http://b.example.org/course/1"
QUIZ_A = "http://a.example.org/course/1/quiz"
QUIZ_B = "http://b.example.org/course/1/quiz"
A_IDS = [f"aaaaaaaa-0000-4000-8000-00000000000{n}" for n in range(4)]
B_IDS = [f"bbbbbbbb-0000-4000-8000-00000000000{n}" for n in range(3)]
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"

CREDENTIALS = {
    "platform-a": Credential("key-platform-a", "Platform A", ("all",), "org-a", "", "platform"),
    "school-a": Credential(
        "key-school-a", "School A", ("statements/read", "state", "profile", "define"), "org-a",
        "", "school",
    ),
    "platform-b": Credential("key-platform-b", "Platform B", ("all",), "org-b", "", "platform"),
    "school-b": Credential(
        "key-school-b", "School B", ("statements/read", "state", "profile", "define"), "org-b",
        "", "school",
    ),
    "auditor-a": Credential(
        "key-auditor-a", "Auditor of A", ("auditor",), None, "", "auditor", ("org-a",)
    ),
    "auditor-b": Credential(
        "key-auditor-b", "Auditor of B", ("auditor",), None, "", "auditor", ("org-b",)
    ),
    "auditor-all": Credential("key-auditor-all", "Auditor", ("auditor",), None, "", "auditor"),
    "admin": Credential("key-admin", "Admin", ("admin",), None, "", "admin"),
    "default": Credential("key-default", "Default platform", ("all",), "default", "", "platform"),
}
OTHERS = ("platform-b", "school-b")  # organisation B's credentials: the ones probing A
# ...and every reader outside A: B's auditor, and a platform of the default organisation
# (which owns what no credential stored, so it sees by exclusion rather than inclusion)
READERS = (*OTHERS, "auditor-b", "default")


def statement(sid: str, agent: dict[str, Any], activity: str, course: str, minute: int) -> dict[str, Any]:
    return {
        "id": sid,
        "actor": {**agent, "name": "Lan" if agent is LA_AGENT else "Binh"},
        "verb": {"id": COMPLETED, "display": {"en": "completed"}},
        "object": {
            "id": activity,
            "definition": {"name": {"en": "Quiz of " + course}, "type": "http://adlnet.gov/expapi/activities/assessment"},
        },
        "context": {"contextActivities": {"parent": [{"id": course}]}},
        "result": {"completion": True, "score": {"scaled": 0.9}},
        "timestamp": f"2026-03-01T10:{minute:02d}:00Z",
    }


@dataclass
class World:
    store: Store
    clients: dict[str, TestClient]

    def __call__(self, who: str) -> TestClient:
        return self.clients[who]


def _client(app: Any, who: str) -> TestClient:
    credential = CREDENTIALS[who]
    return TestClient(
        app,
        headers={
            "Authorization": basic_auth(credential.key, "secret-" + who),
            "X-Experience-API-Version": "1.0.3",
        },
        raise_server_exceptions=False,
    )


def _build(path: Path, with_a: bool) -> World:
    app = create_app(load_settings(data=str(path), processors=False))
    store: Store = app.state.store
    for who, credential in CREDENTIALS.items():
        store.save_credential(
            Credential(
                credential.key, credential.name, credential.scopes, credential.org,
                hash_secret("secret-" + who), credential.role, credential.audits,
            )
        )
    world = World(store, {who: _client(app, who) for who in CREDENTIALS})
    b = world("platform-b")
    for n, sid in enumerate(B_IDS):
        assert b.put(f"/xapi/statements?statementId={sid}", json=statement(sid, LB_AGENT, QUIZ_B, COURSE_B, n)).status_code == 204
    b.put(
        "/xapi/activities/state",
        params={"activityId": QUIZ_B, "agent": json.dumps(LB_AGENT), "stateId": "bookmark"},
        content=b"page 2",
    )
    if with_a:
        a = world("platform-a")
        for n, sid in enumerate(A_IDS[:3]):
            response = a.put(
                f"/xapi/statements?statementId={sid}",
                json=statement(sid, LA_AGENT, QUIZ_A, COURSE_A, n),
            )
            assert response.status_code == 204, response.text
        voiding = {
            "id": A_IDS[3],
            "actor": LA_AGENT,
            "verb": {"id": VOIDED},
            "object": {"objectType": "StatementRef", "id": A_IDS[2]},
        }
        assert a.post("/xapi/statements", json=voiding).status_code == 200
        state = {"activityId": QUIZ_A, "agent": json.dumps(LA_AGENT), "stateId": "bookmark"}
        assert a.put("/xapi/activities/state", params=state, content=b"page 7").status_code == 204
        profile = {"activityId": QUIZ_A, "profileId": "settings"}
        assert a.put(
            "/xapi/activities/profile", params=profile, json={"x": 1},
            headers={"If-None-Match": "*"},
        ).status_code == 204
        agent_profile = {"agent": json.dumps(LA_AGENT), "profileId": "prefs"}
        assert a.put(
            "/xapi/agents/profile", params=agent_profile, json={"lang": "vi"},
            headers={"If-None-Match": "*"},
        ).status_code == 204
        assert world("admin").post("/api/v1/persons/person-a/keys", json={"keys": [LA]}).status_code == 200
        save_class(
            store,
            class_definition(COURSE_A, "Class 1A", [LA, "mbox:mailto:new@a.example.org"], org="org-a"),
        )
    catch_up(store, reducers(store))
    return world


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, World]]:
    saved = {k: os.environ.pop(k) for k in [k for k in os.environ if k.startswith("LRS_")]}
    with_a = _build(tmp_path_factory.mktemp("with-a"), True)
    without_a = _build(tmp_path_factory.mktemp("without-a"), False)
    try:
        yield with_a, without_a
    finally:
        for world in (with_a, without_a):
            for client in world.clients.values():
                client.close()
            world.store.close()
        os.environ.update(saved)


def same_answer(worlds: tuple[World, World], who: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """The answer where A's data exists equals the answer where it does not."""
    with_a, without_a = worlds
    seen = with_a(who).request(method, url, **kwargs)
    unseen = without_a(who).request(method, url, **kwargs)
    assert (seen.status_code, seen.content) == (unseen.status_code, unseen.content), (
        f"{who} {method} {url}: {seen.status_code} {seen.text[:300]} vs "
        f"{unseen.status_code} {unseen.text[:300]}"
    )
    return seen


def path_key(key: str) -> str:
    return quote(key, safe="")


# every cross-organisation read --------------------------------------------------------------
XAPI_READS = [
    ("statement by id", "/xapi/statements", {"statementId": A_IDS[0]}),
    ("voided statement by id", "/xapi/statements", {"voidedStatementId": A_IDS[2]}),
    ("voiding statement by id", "/xapi/statements", {"statementId": A_IDS[3]}),
    ("statements by agent", "/xapi/statements", {"agent": json.dumps(LA_AGENT)}),
    ("statements by related agent", "/xapi/statements", {"agent": json.dumps(LA_AGENT), "related_agents": "true"}),
    ("statements by activity", "/xapi/statements", {"activity": QUIZ_A}),
    ("statements by course", "/xapi/statements", {"activity": COURSE_A, "related_activities": "true"}),
    ("statements by verb", "/xapi/statements", {"verb": VOIDED}),
    ("state", "/xapi/activities/state", {"activityId": QUIZ_A, "agent": json.dumps(LA_AGENT), "stateId": "bookmark"}),
    ("state ids", "/xapi/activities/state", {"activityId": QUIZ_A, "agent": json.dumps(LA_AGENT)}),
    ("activity profile", "/xapi/activities/profile", {"activityId": QUIZ_A, "profileId": "settings"}),
    ("activity profile ids", "/xapi/activities/profile", {"activityId": QUIZ_A}),
    ("agent profile", "/xapi/agents/profile", {"agent": json.dumps(LA_AGENT), "profileId": "prefs"}),
    ("agent profile ids", "/xapi/agents/profile", {"agent": json.dumps(LA_AGENT)}),
    ("agents (Person)", "/xapi/agents", {"agent": json.dumps(LA_AGENT)}),
    ("activity definition", "/xapi/activities", {"activityId": QUIZ_A}),
]
V1_READS = [
    ("profile", f"/api/v1/learners/{path_key(LA)}/profile"),
    ("profile by agent", "/api/v1/learners/profile?agent=" + quote(json.dumps(LA_AGENT))),
    ("competencies", f"/api/v1/learners/{path_key(LA)}/competencies?framework={DIGCOMP}"),
    ("person of learner", f"/api/v1/learners/{path_key(LA)}/person"),
    ("history", f"/api/v1/learners/{path_key(LA)}/history"),
    ("history export", f"/api/v1/learners/{path_key(LA)}/history?format=jsonl"),
    ("history csv", f"/api/v1/learners/{path_key(LA)}/history?format=csv"),
    ("learners", "/api/v1/learners"),
    ("learners of the course", "/api/v1/learners?course=" + quote(COURSE_A, safe="")),
    ("person", "/api/v1/persons/person-a"),
    ("person profile", "/api/v1/persons/person-a/profile"),
    ("person competencies", f"/api/v1/persons/person-a/competencies?framework={DIGCOMP}"),
    ("person history", "/api/v1/persons/person-a/history"),
    ("class", f"/api/v1/groups/{path_key(COURSE_A)}/competencies?framework={DIGCOMP}"),
    ("class csv", f"/api/v1/groups/{path_key(COURSE_A)}/competencies?framework={DIGCOMP}&format=csv"),
]


@pytest.mark.parametrize("who", READERS)
@pytest.mark.parametrize(("what", "path", "params"), XAPI_READS, ids=[r[0] for r in XAPI_READS])
def test_xapi_reads_of_another_organisation_tell_nothing(
    worlds: tuple[World, World], who: str, what: str, path: str, params: dict[str, str]
) -> None:
    response = same_answer(worlds, who, "GET", path, params=params)
    assert response.status_code in (200, 404)
    assert b"a.example.org/course" not in response.content or what == "activity definition"
    assert b"page 7" not in response.content and b"Lan" not in response.content


@pytest.mark.parametrize("who", READERS)
@pytest.mark.parametrize(("what", "url"), V1_READS, ids=[r[0] for r in V1_READS])
def test_query_api_reads_of_another_organisation_tell_nothing(
    worlds: tuple[World, World], who: str, what: str, url: str
) -> None:
    response = same_answer(worlds, who, "GET", url)
    assert response.status_code in (200, 404)
    assert A_IDS[0].encode() not in response.content


def test_the_unfiltered_statement_list_has_only_the_organisations_own(worlds: tuple[World, World]) -> None:
    with_a, _ = worlds
    for who, expected in (("platform-b", B_IDS), ("platform-a", A_IDS[:2] + A_IDS[3:])):
        body = with_a(who).get("/xapi/statements", params={"ascending": "true"}).json()
        assert [s["id"] for s in body["statements"]] == expected


def test_more_links_keep_to_the_organisation_and_cannot_be_widened(worlds: tuple[World, World]) -> None:
    import base64

    b = worlds[0]("platform-b")
    page = b.get("/xapi/statements", params={"limit": "1", "ascending": "true"}).json()
    seen = [s["id"] for s in page["statements"]]
    while page["more"]:
        page = b.get(page["more"]).json()
        seen += [s["id"] for s in page["statements"]]
    assert seen == B_IDS
    # a token edited to name other credentials is refused, not obeyed
    forged = {"limit": 10, "ascending": True, "format": "exact", "attachments": False,
              "credentials": ["key-platform-a"]}
    token = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    assert b.get("/xapi/statements", params={"more": token}).status_code == 400


# every cross-organisation write -------------------------------------------------------------
def test_writing_documents_under_the_same_names_touches_only_ones_own(worlds: tuple[World, World]) -> None:
    with_a, _ = worlds
    state = {"activityId": QUIZ_A, "agent": json.dumps(LA_AGENT), "stateId": "bookmark"}
    profile = {"activityId": QUIZ_A, "profileId": "settings"}
    agent_profile = {"agent": json.dumps(LA_AGENT), "profileId": "prefs"}
    for path, params in (
        ("/xapi/activities/state", state),
        ("/xapi/activities/profile", profile),
        ("/xapi/agents/profile", agent_profile),
    ):
        # A's document does not make B's write a conflict (412/409): B has none of its own
        put = same_answer(worlds, "platform-b", "PUT", path, params=params, content=b"{}",
                          headers={"If-None-Match": "*", "Content-Type": "application/json"})
        assert put.status_code == 204
        merge = same_answer(worlds, "platform-b", "POST", path, params=params, json={"b": 2})
        assert merge.status_code == 204
        delete = same_answer(worlds, "platform-b", "DELETE", path, params=params)
        assert delete.status_code == 204
    same_answer(worlds, "platform-b", "DELETE", "/xapi/activities/state",
                params={"activityId": QUIZ_A, "agent": json.dumps(LA_AGENT)})
    # A's documents are untouched
    a = with_a("platform-a")
    assert a.get("/xapi/activities/state", params=state).content == b"page 7"
    assert a.get("/xapi/activities/profile", params=profile).json() == {"x": 1}
    assert a.get("/xapi/agents/profile", params=agent_profile).json() == {"lang": "vi"}


@pytest.mark.parametrize("who", OTHERS)
def test_identity_writes_on_another_organisations_learner_tell_nothing(
    worlds: tuple[World, World], who: str
) -> None:
    with_a, _ = worlds
    if who == "platform-b":  # holds the all scope, which may link its own learners
        same_answer(worlds, who, "POST", "/api/v1/persons/mine/keys", json={"keys": [LA]})
        same_answer(worlds, who, "DELETE", f"/api/v1/persons/person-a/keys/{path_key(LA)}")
    else:  # a school has no scope to link at all
        assert with_a(who).post("/api/v1/persons/x/keys", json={"keys": [LB]}).status_code == 403
    assert with_a("admin").get("/api/v1/persons/person-a").json()["keys"] == [LA]


def test_an_id_another_organisation_used_is_a_conflict(worlds: tuple[World, World]) -> None:
    """Also from the one namespace of statement ids: documented, and A's statement stays."""
    with_a, without_a = worlds
    other = statement(A_IDS[0], LB_AGENT, QUIZ_B, COURSE_B, 40)
    url = f"/xapi/statements?statementId={A_IDS[0]}"
    assert with_a("platform-b").put(url, json=other).status_code == 409
    mine = with_a("platform-a").get("/xapi/statements", params={"statementId": A_IDS[0]}).json()
    assert mine["actor"]["mbox"] == LA_AGENT["mbox"]
    assert with_a("platform-b").get("/xapi/statements", params={"statementId": A_IDS[0]}).status_code == 404
    del without_a  # (there the same PUT stores B's statement: the id was free)


def test_voiding_another_organisations_statement_is_refused(worlds: tuple[World, World]) -> None:
    """The one cross-organisation answer that differs: statement ids are one namespace for
    the whole LRS (xAPI), so B learns that the id is taken; nothing of A's changes."""
    with_a, _ = worlds
    voiding = {
        "actor": LB_AGENT,
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": A_IDS[0]},
    }
    response = with_a("platform-b").post("/xapi/statements", json=voiding)
    assert response.status_code == 403
    a = with_a("platform-a").get("/xapi/statements", params={"statementId": A_IDS[0]})
    assert a.status_code == 200


def test_a_voiding_sent_ahead_by_another_organisation_voids_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """xAPI accepts a voiding statement whose target is not stored yet, so B could void a
    statement of A whose id it guessed before A sends it. The id is free when B sends, so
    B gets 200 (refusing would tell B nothing either way); A's statement then arrives
    unvoided, reads back, and counts in A's learner's profile. A's own voiding still works,
    and an admin, who writes for the default organisation, cannot void A's statement."""
    for name in [k for k in os.environ if k.startswith("LRS_")]:
        monkeypatch.delenv(name)
    world = _build(tmp_path, False)
    try:
        sid = "aaaaaaaa-0000-4000-8000-0000000000ff"
        ahead = {"actor": LB_AGENT, "verb": {"id": VOIDED}, "object": {"objectType": "StatementRef", "id": sid}}
        assert world("platform-b").post("/xapi/statements", json=ahead).status_code == 200
        a = world("platform-a")
        assert a.put(f"/xapi/statements?statementId={sid}", json=statement(sid, LA_AGENT, QUIZ_A, COURSE_A, 1)).status_code == 204
        assert a.get("/xapi/statements", params={"statementId": sid}).status_code == 200
        assert a.get("/xapi/statements", params={"voidedStatementId": sid}).status_code == 404
        catch_up(world.store, reducers(world.store))
        profile = a.get(f"/api/v1/learners/{path_key(LA)}/profile")
        assert profile.status_code == 200 and profile.json()["completed"] == 1, profile.text
        by_admin = {"actor": LA_AGENT, "verb": {"id": VOIDED}, "object": {"objectType": "StatementRef", "id": sid}}
        assert world("admin").post("/xapi/statements", json=by_admin).status_code == 403
        assert a.post("/xapi/statements", json=by_admin).status_code == 200
        assert a.get("/xapi/statements", params={"voidedStatementId": sid}).status_code == 200
        catch_up(world.store, reducers(world.store))
        assert a.get(f"/api/v1/learners/{path_key(LA)}/profile").status_code == 404
    finally:
        for client in world.clients.values():
            client.close()
        world.store.close()


# roles ----------------------------------------------------------------------------------------
def test_the_school_reads_its_organisations_learners_and_classes(worlds: tuple[World, World]) -> None:
    school = worlds[0]("school-a")
    assert school.get(f"/api/v1/learners/{path_key(LA)}/profile").json()["learner"] == LA
    learners = school.get("/api/v1/learners").json()
    assert [row["learner"] for row in learners["learners"]] == [LA]
    history = school.get(f"/api/v1/learners/{path_key(LA)}/history").json()
    assert [e["id"] for e in history["entries"]] == A_IDS
    assert school.get("/api/v1/persons/person-a").json()["keys"] == [LA]
    group = school.get(f"/api/v1/groups/{path_key(COURSE_A)}/competencies?framework={DIGCOMP}").json()
    # LA is linked to person-a: a class lists the person once, as that person (issue 14.5)
    assert [view["learner"] for view in group["learners"]] == ["mbox:mailto:new@a.example.org", "person-a"]
    assert group["learners"][1]["keys"] == [LA]
    statements = school.get("/xapi/statements", params={"agent": json.dumps(LA_AGENT)}).json()
    assert [s["id"] for s in statements["statements"]] == [A_IDS[3], A_IDS[1], A_IDS[0]]
    # it reads A's documents (one namespace per organisation, shared by its credentials)
    state = {"activityId": QUIZ_A, "agent": json.dumps(LA_AGENT), "stateId": "bookmark"}
    assert school.get("/xapi/activities/state", params=state).content == b"page 7"
    assert school.get(f"/api/v1/learners/{path_key(LB)}/profile").status_code == 404


def test_auditors_read_their_organisations_and_never_write(worlds: tuple[World, World]) -> None:
    with_a, _ = worlds
    auditor_a, auditor_all = with_a("auditor-a"), with_a("auditor-all")
    everything = auditor_all.get("/xapi/statements", params={"ascending": "true"}).json()
    assert {s["id"] for s in everything["statements"]} == {*A_IDS[:2], A_IDS[3], *B_IDS}
    only_a = auditor_a.get("/xapi/statements", params={"ascending": "true"}).json()
    assert [s["id"] for s in only_a["statements"]] == A_IDS[:2] + A_IDS[3:]
    assert auditor_a.get(f"/api/v1/learners/{path_key(LA)}/history").json()["entries"]
    assert auditor_a.get(f"/api/v1/learners/{path_key(LB)}/profile").status_code == 404
    assert auditor_all.get(f"/api/v1/learners/{path_key(LB)}/profile").status_code == 200
    # documents: an auditor names the organisation whose documents it reads
    state = {"activityId": QUIZ_A, "agent": json.dumps(LA_AGENT), "stateId": "bookmark"}
    assert auditor_a.get("/xapi/activities/state", params={**state, "org": "org-a"}).content == b"page 7"
    assert auditor_a.get("/xapi/activities/state", params={**state, "org": "org-b"}).status_code == 403
    for client in (auditor_a, auditor_all):
        assert client.post("/xapi/statements", json=statement(
            "cccccccc-0000-4000-8000-000000000000", LA_AGENT, QUIZ_A, COURSE_A, 9
        )).status_code == 403
        assert client.put("/xapi/activities/state", params={**state, "org": "org-a"}, content=b"x").status_code == 403
        assert client.post("/api/v1/persons/p/keys", json={"keys": [LA]}).status_code == 403


def test_auditor_credentials_with_write_scopes_still_only_read(tmp_path: Path) -> None:
    from lrs.auth import create_credential

    app = create_app(load_settings(data=str(tmp_path), processors=False))
    new = create_credential(app.state.store, "odd auditor", ["all"], role="auditor")
    client = TestClient(app, headers={
        "Authorization": basic_auth(new.credential.key, new.secret), "X-Experience-API-Version": "1.0.3",
    }, raise_server_exceptions=False)
    try:
        body = {"actor": LA_AGENT, "verb": {"id": COMPLETED}, "object": {"id": QUIZ_A}}
        assert client.post("/xapi/statements", json=body).status_code == 403
        envelope = {"sensor": "s", "sendTime": "2026-03-01T10:00:00Z", "dataVersion": "v", "data": []}
        assert client.post("/caliper/v1p2", json=envelope).status_code == 403
        assert client.get("/xapi/statements").status_code == 200
    finally:
        client.close()
        app.state.store.close()


def test_admin_sees_everything(worlds: tuple[World, World]) -> None:
    admin = worlds[0]("admin")
    assert admin.get(f"/api/v1/learners/{path_key(LA)}/profile").status_code == 200
    assert admin.get(f"/api/v1/learners/{path_key(LB)}/profile").status_code == 200
    names = admin.get("/xapi/agents", params={"agent": json.dumps(LA_AGENT)}).json()
    assert names["name"] == ["Lan"]
    assert len(admin.get("/api/v1/learners").json()["learners"]) == 2


def test_only_admins_and_auditors_name_a_document_organisation(worlds: tuple[World, World]) -> None:
    state = {"activityId": QUIZ_A, "agent": json.dumps(LA_AGENT), "stateId": "bookmark", "org": "org-a"}
    response = worlds[0]("platform-b").get("/xapi/activities/state", params=state)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "org"
    assert worlds[0]("admin").get("/xapi/activities/state", params=state).content == b"page 7"


def test_connector_statements_belong_to_the_default_organisation(worlds: tuple[World, World]) -> None:
    with_a, _ = worlds
    statement_id = "dddddddd-0000-4000-8000-000000000000"
    connector = {
        "objectType": "Agent", "name": "moodle",
        "account": {"homePage": "http://testserver/connectors", "name": "moodle"},
    }
    with_a.store.save_statements(
        [statement(statement_id, LA_AGENT, QUIZ_A, COURSE_A, 30)],
        authority=connector, credential="moodle", version="1.0.3", attachments=[],
    )
    catch_up(with_a.store, reducers(with_a.store))  # the learner is now also the default's
    params = {"statementId": statement_id}
    assert with_a("default").get("/xapi/statements", params=params).status_code == 200
    assert with_a("platform-a").get("/xapi/statements", params=params).status_code == 404
    history = with_a("default").get(f"/api/v1/learners/{path_key(LA)}/history").json()
    assert [e["source"] for e in history["entries"]] == [
        {"kind": "connector", "connector": "moodle", "org": "default"}
    ]


def test_organisation_names_are_checked(tmp_path: Path) -> None:
    from lrs.adapters.sqlite import SQLiteStore
    from lrs.auth import create_credential

    store = SQLiteStore(tmp_path / "x.db")
    try:
        with pytest.raises(ValueError, match="org"):
            create_credential(store, "bad", ["all"], org="a\x1eb")
        with pytest.raises(ValueError, match="org"):
            create_credential(store, "bad", ["auditor"], role="auditor", audits=["ok", "not ok"])
    finally:
        store.close()


def test_a_created_credential_keeps_its_name(tmp_path: Path) -> None:
    from lrs.adapters.sqlite import SQLiteStore
    from lrs.auth import create_credential

    store = SQLiteStore(tmp_path / "x.db")
    try:
        new = create_credential(store, "Moodle site", ["all"], org="org-a")
        assert store.get_credential(new.credential.key).name == "Moodle site"  # type: ignore[union-attr]
    finally:
        store.close()


def _client_of_new(app: Any, new: Any) -> TestClient:
    """A client authenticated as a credential made by `create_credential` (key and secret)."""
    return TestClient(app, headers={
        "Authorization": basic_auth(new.credential.key, new.secret),
        "X-Experience-API-Version": "1.0.3",
    }, raise_server_exceptions=False)


def test_a_credential_made_while_serving_is_kept_apart_at_once(tmp_path: Path) -> None:
    """Readers cache the credential list; a new credential (say, made with the CLI in
    another process) must invalidate it before its first statement can be read by others."""
    from lrs.auth import create_credential

    app = create_app(load_settings(data=str(tmp_path), processors=False))
    store = app.state.store

    def client_for(new: Any) -> TestClient:
        return _client_of_new(app, new)

    default = client_for(create_credential(store, "default", ["all"]))
    try:
        body = statement("eeeeeeee-0000-4000-8000-000000000000", LA_AGENT, QUIZ_A, COURSE_A, 1)
        assert default.post("/xapi/statements", json=body).status_code == 200
        assert len(default.get("/xapi/statements").json()["statements"]) == 1  # list cached
        newcomer = client_for(create_credential(store, "new", ["all"], org="org-new"))
        other = statement("eeeeeeee-0000-4000-8000-000000000001", LB_AGENT, QUIZ_B, COURSE_B, 2)
        assert newcomer.post("/xapi/statements", json=other).status_code == 200
        assert [s["id"] for s in default.get("/xapi/statements").json()["statements"]] == [body["id"]]
        assert [s["id"] for s in newcomer.get("/xapi/statements").json()["statements"]] == [other["id"]]
        newcomer.close()
    finally:
        default.close()
        store.close()


def test_a_reference_to_another_organisations_statement_does_not_reveal_it(tmp_path: Path) -> None:
    """B guesses A's statement ids (connector ids are deterministic) and references them,
    before and after A stores them: B's queries by A's learner or activity still find
    nothing, while a reference by A's own other credential is found."""
    from lrs.auth import create_credential

    app = create_app(load_settings(data=str(tmp_path), processors=False))
    store = app.state.store

    def client_for(new: Any) -> TestClient:
        return _client_of_new(app, new)

    a = client_for(create_credential(store, "a", ["all"], org="org-a"))
    a2 = client_for(create_credential(store, "a2", ["all"], org="org-a"))
    b = client_for(create_credential(store, "b", ["all"], org="org-b"))
    early, late = "cccccccc-0000-4000-8000-000000000000", "cccccccc-0000-4000-8000-000000000001"

    def ref(target: str) -> dict[str, Any]:
        return {
            "actor": LB_AGENT, "verb": {"id": "http://adlnet.gov/expapi/verbs/shared"},
            "object": {"objectType": "StatementRef", "id": target},
        }

    def found(client: TestClient, **params: str) -> set[str]:
        response = client.get("/xapi/statements", params=params)
        assert response.status_code == 200, response.text
        return {s["id"] for s in response.json()["statements"]}

    try:
        assert a.post("/xapi/statements", json=statement(early, LA_AGENT, QUIZ_A, COURSE_A, 1)).status_code == 200
        b_refs = b.post("/xapi/statements", json=[ref(early), ref(late)]).json()
        a_refs = a2.post("/xapi/statements", json=[ref(early), ref(late)]).json()
        assert a.post("/xapi/statements", json=statement(late, LA_AGENT, QUIZ_A, COURSE_A, 2)).status_code == 200
        for params in ({"agent": json.dumps(LA_AGENT)}, {"activity": QUIZ_A}, {"verb": COMPLETED}):
            assert found(b, **params) == set()
            assert found(a, **params) == {early, late, *a_refs}
        assert found(b, agent=json.dumps(LB_AGENT)) == set(b_refs)
    finally:
        for client in (a, a2, b):
            client.close()
        store.close()
