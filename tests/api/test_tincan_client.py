"""The LRS as a real xAPI client sees it: TinCanPython (`tincan` 1.0.0) over HTTP to `lrs serve`.

`tincan` is an old package; where it cannot talk to a conformant LRS as written, the test
says why and does the smallest thing around it, so these tests find LRS bugs, not client bugs:

- `RemoteLRS.about()` fails on any LRS that also speaks xAPI 2.0: `tincan.About` refuses
  every version it does not know ("2.0.0") with ValueError. About is read through the
  client's own transport (`_send_request`) instead.
- `retrieve_state` / `retrieve_*_profile` never fill in `doc.etag`: they test
  `"etag" in response.getheaders()`, a list of pairs. The ETag is read from the raw response.
- `save_state` sends its PUT twice and returns the second answer (harmless for State
  under 1.0.3, where a PUT needs no precondition, but fatal with an etag whose content changes).
- `save_*_profile` can send If-Match but never If-None-Match: the LRS accepts a PUT that
  creates a profile without a precondition (xAPI asks for 409 only when it exists), so
  tincan creates profiles as it is; an existing one without a precondition is 409.
- `query_statements` passes `since` through `str()`: a `datetime` becomes
  "2020-01-01 00:00:00+00:00", not ISO 8601, so `since` is given as an ISO string.
- The client speaks only 1.0.x; it is set to send "1.0.3".
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
from tincan import (
    Activity,
    ActivityDefinition,
    ActivityProfileDocument,
    Agent,
    AgentProfileDocument,
    Context,
    LanguageMap,
    RemoteLRS,
    StateDocument,
    Statement,
    StatementRef,
    Verb,
)
from tincan.http_request import HTTPRequest
from tincan.lrs_response import LRSResponse

from tests.conftest import LiveLRS

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
ATTEMPTED = "http://adlnet.gov/expapi/verbs/attempted"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


@pytest.fixture
def lrs(live_lrs: LiveLRS) -> RemoteLRS:
    return RemoteLRS(
        endpoint=live_lrs.endpoint,
        version="1.0.3",
        username=live_lrs.key,
        password=live_lrs.secret,
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def agent() -> Agent:
    return Agent(name="Learner", mbox=f"mailto:{unique('learner')}@example.org")


def activity() -> Activity:
    return Activity(
        id=f"http://example.org/{unique('course')}",
        definition=ActivityDefinition(name=LanguageMap({"en-US": "A course"})),
    )


def statement(
    actor: Agent, verb: str = COMPLETED, obj: Activity | None = None, registration: str | None = None
) -> Statement:
    return Statement(
        actor=actor,
        verb=Verb(id=verb, display=LanguageMap({"en-US": verb.rsplit("/", 1)[-1]})),
        object=obj or activity(),
        context=Context(registration=registration) if registration else None,
    )


def ok(response: LRSResponse) -> LRSResponse:
    assert response.success, (response.response.status, response.data)
    return response


def all_ids(lrs: RemoteLRS, query: dict[str, object]) -> Iterator[str]:
    """Every statement id a query yields, following `more` until it is empty."""
    result = ok(lrs.query_statements(query)).content
    pages = 0
    while True:
        pages += 1
        assert pages < 50, "more links never end"
        yield from (str(s.id) for s in result.statements)
        if not result.more:
            return
        result = ok(lrs.more_statements(result)).content


def raw(lrs: RemoteLRS, method: str, resource: str, **request: object) -> LRSResponse:
    """A request through the client's own transport, for what its API cannot send."""
    return lrs._send_request(HTTPRequest(method=method, resource=resource, **request))


def test_about_lists_1_0_3(lrs: RemoteLRS) -> None:
    response = ok(raw(lrs, "GET", "about"))
    assert "1.0.3" in json.loads(response.data)["version"]
    assert response.response.getheader("X-Experience-API-Version") == "1.0.3"


def test_about_needs_no_credentials(live_lrs: LiveLRS) -> None:
    anonymous = RemoteLRS(endpoint=live_lrs.endpoint, version="1.0.3")
    assert raw(anonymous, "GET", "about").response.status == 200
    assert raw(anonymous, "GET", "statements").response.status == 401


def test_credential_scopes_hold_for_the_client(lrs: RemoteLRS, live_lrs: LiveLRS) -> None:
    sent = statement(agent())
    ok(lrs.save_statement(sent))
    key, secret = live_lrs.create_credential(["statements/read"], name="dashboard")
    reader = RemoteLRS(endpoint=live_lrs.endpoint, version="1.0.3", username=key, password=secret)
    refused = reader.save_statement(statement(agent()))
    assert not refused.success and refused.response.status == 403
    assert str(ok(reader.retrieve_statement(str(sent.id))).content.id) == str(sent.id)
    wrong = RemoteLRS(endpoint=live_lrs.endpoint, version="1.0.3", username=key, password="x")
    assert wrong.retrieve_statement(str(sent.id)).response.status == 401


def test_save_statement_and_retrieve_it(lrs: RemoteLRS, live_lrs: LiveLRS) -> None:
    actor = agent()
    sent = statement(actor)
    ok(lrs.save_statement(sent))
    assert sent.id is not None  # the client takes the id the LRS assigned

    got = ok(lrs.retrieve_statement(str(sent.id))).content
    assert str(got.id) == str(sent.id)
    assert got.actor.mbox == actor.mbox
    assert got.verb.id == COMPLETED
    assert got.object.id == sent.object.id
    assert got.object.definition.name["en-US"] == "A course"
    assert got.stored is not None and got.timestamp is not None
    assert got.authority.account.name == live_lrs.key


def test_save_statement_with_its_own_id_uses_put(lrs: RemoteLRS) -> None:
    sent = statement(agent())
    sent.id = str(uuid.uuid4())
    response = ok(lrs.save_statement(sent))
    assert response.response.status == 204
    assert str(ok(lrs.retrieve_statement(str(sent.id))).content.id) == str(sent.id)


def test_save_statements_batch(lrs: RemoteLRS) -> None:
    actor = agent()
    batch = [statement(actor, obj=activity()) for _ in range(3)]
    response = ok(lrs.save_statements(batch))
    ids = [str(s.id) for s in response.content]
    assert len(set(ids)) == 3 and all(ids)
    for sent in batch:
        got = ok(lrs.retrieve_statement(str(sent.id))).content
        assert got.object.id == sent.object.id


def test_query_filters_and_paging(lrs: RemoteLRS) -> None:
    actor, other = agent(), agent()
    course = activity()
    registration = str(uuid.uuid4())
    mine = [statement(actor, COMPLETED, course, registration) for _ in range(5)]
    mine += [statement(actor, ATTEMPTED, course, registration) for _ in range(2)]
    noise = [statement(other, COMPLETED, course), statement(actor, COMPLETED, activity())]
    ok(lrs.save_statements(mine + noise))
    mine_ids = {str(s.id) for s in mine}

    by_registration = list(all_ids(lrs, {"registration": registration, "limit": 2}))
    assert sorted(by_registration) == sorted(mine_ids)  # each exactly once

    completed = list(
        all_ids(lrs, {"agent": actor, "verb": Verb(id=COMPLETED), "activity": course, "limit": 2})
    )
    assert sorted(completed) == sorted(str(s.id) for s in mine[:5])

    by_agent = list(all_ids(lrs, {"agent": actor, "limit": 3, "ascending": True}))
    assert sorted(by_agent) == sorted(mine_ids | {str(noise[1].id)})

    by_activity = list(all_ids(lrs, {"activity": course, "limit": 4}))
    assert sorted(by_activity) == sorted(mine_ids | {str(noise[0].id)})


def test_query_since(lrs: RemoteLRS) -> None:
    registration = str(uuid.uuid4())
    actor = agent()
    first = statement(actor, registration=registration)
    ok(lrs.save_statement(first))
    stored = ok(lrs.retrieve_statement(str(first.id))).content.stored
    time.sleep(0.01)  # the next request is stored in a later millisecond
    later = [statement(actor, registration=registration) for _ in range(3)]
    ok(lrs.save_statements(later))

    since = stored.isoformat()  # not the datetime itself: tincan would send str(datetime)
    seen = list(all_ids(lrs, {"registration": registration, "since": since, "limit": 2}))
    assert sorted(seen) == sorted(str(s.id) for s in later)


def test_voiding(lrs: RemoteLRS) -> None:
    actor = agent()
    registration = str(uuid.uuid4())
    target = statement(actor, registration=registration)
    kept = statement(actor, registration=registration)
    ok(lrs.save_statements([target, kept]))

    voiding = Statement(
        actor=actor, verb=Verb(id=VOIDED), object=StatementRef(id=str(target.id))
    )
    ok(lrs.save_statement(voiding))

    gone = lrs.retrieve_statement(str(target.id))
    assert not gone.success and gone.response.status == 404
    voided = ok(lrs.retrieve_voided_statement(str(target.id))).content
    assert str(voided.id) == str(target.id)
    # the voiding statement references a statement with this registration, so it matches too
    seen = list(all_ids(lrs, {"registration": registration}))
    assert sorted(seen) == sorted([str(kept.id), str(voiding.id)])
    assert str(ok(lrs.retrieve_statement(str(voiding.id))).content.object.id) == str(target.id)


def test_state_documents(lrs: RemoteLRS) -> None:
    actor, course = agent(), activity()
    first = StateDocument(
        id="bookmark", content='{"page": 1}', content_type="application/json",
        activity=course, agent=actor,
    )
    second = StateDocument(
        id="scores", content="plain text", content_type="text/plain", activity=course, agent=actor
    )
    ok(lrs.save_state(first))
    ok(lrs.save_state(second))

    got = ok(lrs.retrieve_state(course, actor, "bookmark"))
    assert got.response.status == 200
    assert json.loads(bytes(got.content.content)) == {"page": 1}
    etag = got.response.getheader("ETag")  # tincan leaves content.etag unset
    assert etag and etag.startswith('"') and etag.endswith('"')
    plain = ok(lrs.retrieve_state(course, actor, "scores"))
    assert plain.data == "plain text"
    assert plain.response.getheader("Content-Type").startswith("text/plain")

    assert sorted(ok(lrs.retrieve_state_ids(course, actor)).content) == ["bookmark", "scores"]
    assert ok(lrs.retrieve_state_ids(course, agent())).content == []

    first.etag = etag
    ok(lrs.delete_state(first))
    assert lrs.retrieve_state(course, actor, "bookmark").response.status == 404
    assert ok(lrs.retrieve_state_ids(course, actor)).content == ["scores"]

    ok(lrs.clear_state(course, actor))
    assert ok(lrs.retrieve_state_ids(course, actor)).content == []


def test_activity_profile_with_etags(lrs: RemoteLRS) -> None:
    course = activity()
    profile = ActivityProfileDocument(
        id="settings", content='{"theme": "dark"}', content_type="application/json",
        activity=course,
    )
    # tincan sends no precondition: a new profile is created all the same ...
    assert ok(lrs.save_activity_profile(profile)).response.status == 204
    # ... and an existing one is not overwritten blind
    overwrite = lrs.save_activity_profile(profile)
    assert overwrite.response.status == 409

    got = ok(lrs.retrieve_activity_profile(course, "settings"))
    assert json.loads(bytes(got.content.content)) == {"theme": "dark"}
    etag = got.response.getheader("ETag")

    profile.content = '{"theme": "light"}'
    profile.etag = etag
    assert ok(lrs.save_activity_profile(profile)).response.status == 204
    stale = lrs.save_activity_profile(profile)  # the etag no longer matches the document
    assert stale.response.status == 412

    got = ok(lrs.retrieve_activity_profile(course, "settings"))
    assert json.loads(bytes(got.content.content)) == {"theme": "light"}
    new_etag = got.response.getheader("ETag")
    assert new_etag != etag
    assert ok(lrs.retrieve_activity_profile_ids(course)).content == ["settings"]

    profile.etag = etag
    assert lrs.delete_activity_profile(profile).response.status == 412
    profile.etag = new_etag
    ok(lrs.delete_activity_profile(profile))
    assert lrs.retrieve_activity_profile(course, "settings").response.status == 404
    assert ok(lrs.retrieve_activity_profile_ids(course)).content == []


def test_agent_profile_with_etags(lrs: RemoteLRS) -> None:
    actor = agent()
    profile = AgentProfileDocument(
        id="preferences", content='{"language": "vi"}', content_type="application/json",
        agent=actor,
    )
    assert ok(lrs.save_agent_profile(profile)).response.status == 204  # no precondition
    assert lrs.save_agent_profile(profile).response.status == 409
    again = raw(
        lrs, "PUT", "agents/profile", content=profile.content,
        headers={"Content-Type": "application/json", "If-None-Match": "*"},
        query_params={"agent": actor.to_json("1.0.3"), "profileId": "preferences"},
    )
    assert again.response.status == 412

    got = ok(lrs.retrieve_agent_profile(actor, "preferences"))
    assert json.loads(bytes(got.content.content)) == {"language": "vi"}
    profile.etag = got.response.getheader("ETag")
    profile.content = '{"language": "en"}'
    assert ok(lrs.save_agent_profile(profile)).response.status == 204

    got = ok(lrs.retrieve_agent_profile(actor, "preferences"))
    assert json.loads(bytes(got.content.content)) == {"language": "en"}
    assert ok(lrs.retrieve_agent_profile_ids(actor)).content == ["preferences"]
    assert ok(lrs.retrieve_agent_profile_ids(agent())).content == []

    profile.etag = got.response.getheader("ETag")
    ok(lrs.delete_agent_profile(profile))
    assert lrs.retrieve_agent_profile(actor, "preferences").response.status == 404
