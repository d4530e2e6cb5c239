"""The forwarder in this process over a real SQLite store and a real webhook receiver on
loopback: order, signatures, receiver downtime, back-off, dead letters, replays, pause,
restart from the committed offset, one sender per rule."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lrs.adapters.sqlite import SQLiteStore
from lrs.domain.metrics import prometheus_lines
from lrs.domain.records import AccessQuery
from lrs.forwarding import rules
from lrs.forwarding.delivery import Forwarder
from lrs.forwarding.metrics import forwarding_families
from lrs.ports import Store
from tests.contract.helpers import save, statement
from tests.forwarding.receiver import WebhookReceiver

SECRET = "whsec_test-secret-0123456789"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
ORGS = {"k-school": "school-a", "k-other": "school-b"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = SQLiteStore(tmp_path / "lrs.db", synchronous="OFF")
    yield opened
    opened.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    started = WebhookReceiver(SECRET).start()
    yield started
    started.stop()


class Clock:
    """Time the forwarder's back-off reads; tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def forwarder(store: Store, clock: Clock | None = None) -> Forwarder:
    return Forwarder(
        store,
        lambda key: ORGS.get(key or "", "default"),
        clock=clock or Clock(),
        base_delay=1.0,
        max_delay=60.0,
        jitter=lambda: 0.0,
    )


def webhook_rule(store: Store, receiver: WebhookReceiver, **extra: Any) -> str:
    body = {
        "name": "hook",
        "destination": {"kind": "webhook", "url": receiver.url, "secret": SECRET},
        **extra,
    }
    return str(rules.create_rule(store, body, from_start=True)["id"])


def drain(sender: Forwarder, rounds: int = 50) -> None:
    for _ in range(rounds):
        if not sender.step():
            return
    raise AssertionError("the forwarder still had work after 50 rounds")


def stored_ids(store: Store, verb: str | None = None) -> list[str]:
    values = [orjson.loads(r.value) for r in store.read_log(0, 100_000)]
    return [v["id"] for v in values if verb is None or v["verb"]["id"] == verb]


def save_as(store: Store, credential: str, *statements: dict[str, Any]) -> None:
    """Stored by `credential`, as the API stores: its key in the authority."""
    authority = {"objectType": "Agent", "account": {"homePage": "http://lrs.test", "name": credential}}
    store.save_statements(
        list(statements), authority=authority, credential=credential, version="1.0.3", attachments=[]
    )


def some_statements(n: int) -> list[dict[str, Any]]:
    verbs = itertools.cycle(["completed", "attempted", "completed", "experienced"])
    return [statement(f"l{i % 7}", next(verbs), f"course/{i % 3}") for i in range(n)]


def test_matching_statements_arrive_in_log_order_in_signed_batches(
    store: Store, receiver: WebhookReceiver
) -> None:
    rule_id = webhook_rule(store, receiver, match={"verbs": [COMPLETED]}, batch=20)
    for _ in range(5):
        save_as(store, "k-school", *some_statements(30))
    sender = forwarder(store)
    drain(sender)
    sender.stop()
    expected = stored_ids(store, COMPLETED)
    assert len(expected) == 75
    assert receiver.statement_ids() == expected
    assert receiver.bad_signatures == 0
    assert all(len(body["statements"]) <= 20 for body in receiver.deliveries)
    assert {body["rule"] for body in receiver.deliveries} == {rule_id}
    state = store.forward_state(rule_id)
    assert (state.delivered, state.failed, state.offset) == (75, 0, store.log_end())
    sent = store.read_access(AccessQuery(limit=1000))
    forwarded = [e for e in sent if e.action == "forward"]
    assert sum(e.count for e in forwarded) == 75
    assert {e.credential for e in forwarded} == {f"forwarding:{rule_id}"}


def test_receiver_downtime_loses_nothing(store: Store, receiver: WebhookReceiver) -> None:
    clock = Clock()
    rule_id = webhook_rule(store, receiver, batch=10, max_attempts=50)
    sender = forwarder(store, clock)
    save(store, *some_statements(15))
    drain(sender)
    receiver.stop()  # down: connections refused
    save(store, *some_statements(25))
    for _ in range(6):  # every try fails; each waits longer than the one before
        sender.step()
        clock.now += 100
    failing = store.forward_state(rule_id)
    assert failing.attempts == 6 and "ConnectError" in (failing.last_error or "")
    assert failing.next_attempt > clock.now - 100  # a back-off is pending
    receiver.start()  # back on the same port
    save(store, *some_statements(5))
    clock.now += 1000
    drain(sender)
    sender.stop()
    assert receiver.statement_ids() == stored_ids(store)
    assert len(receiver.statement_ids()) == 45
    assert store.forward_state(rule_id).attempts == 0


def test_back_off_doubles_up_to_its_cap(store: Store) -> None:
    from lrs.forwarding.delivery import retry_delay

    assert [retry_delay(n, 1.0, 60.0, 0.0) for n in (1, 2, 3, 7, 20)] == [0.5, 1, 2, 30, 30]
    assert retry_delay(3, 1.0, 60.0, 0.999) == pytest.approx(4 * 0.9995)


def test_a_batch_goes_to_the_dead_letters_after_its_attempts_and_replays(
    store: Store, receiver: WebhookReceiver
) -> None:
    clock = Clock()
    rule_id = webhook_rule(store, receiver, batch=100, max_attempts=3)
    sender = forwarder(store, clock)
    save(store, *some_statements(4))
    receiver.status = 500
    for _ in range(3):
        sender.step()
        clock.now += 1000
    dead = store.list_dead_letters(rule_id)
    assert [x.statement_id for x in dead] == stored_ids(store)
    assert all(x.attempts == 3 and x.error.startswith("HTTP 500") for x in dead)
    assert store.forward_state(rule_id).offset == store.log_end()  # the log goes on
    receiver.status = 200
    save(store, *some_statements(2))
    drain(sender)
    later = stored_ids(store)[4:]
    assert receiver.statement_ids() == later
    page = rules.dead_letter_page(store, rule_id, 0, 3)
    assert len(page["dead_letters"]) == 3 and page["more"] == dead[2].offset
    assert rules.replay_dead_letters(store, rule_id, [dead[0].offset])["count"] == 1
    drain(sender)
    assert receiver.statement_ids() == later + [dead[0].statement_id]
    assert rules.replay_dead_letters(store, rule_id, None)["count"] == 3
    drain(sender)
    sender.stop()
    assert sorted(receiver.statement_ids()) == sorted(stored_ids(store))
    assert store.list_dead_letters(rule_id) == []
    assert store.forward_state(rule_id).dead == 0
    actions = [e.action for e in store.read_access(AccessQuery(limit=1000))]
    assert "forward.dead_letter" in actions and "forward.replay" in actions


def test_replay_from_a_date_sends_again_what_was_stored_since(
    store: Store, receiver: WebhookReceiver
) -> None:
    rule_id = webhook_rule(store, receiver)
    save(store, *some_statements(5))
    sender = forwarder(store)
    drain(sender)
    first = stored_ids(store)
    done = rules.replay_since(store, rule_id, "2000-01-01")
    assert done["offset"] == 0 and done["count"] == 5
    drain(sender)
    sender.stop()
    assert receiver.statement_ids() == first + first  # repeats carry the same ids
    with pytest.raises(Exception) as refused:
        rules.replay_since(store, rule_id, "yesterday")
    assert getattr(refused.value, "field", None) == "since"


def test_a_paused_rule_sends_nothing_until_resumed(
    store: Store, receiver: WebhookReceiver
) -> None:
    rule_id = webhook_rule(store, receiver, paused=True)
    save(store, *some_statements(3))
    sender = forwarder(store)
    drain(sender)
    assert receiver.statement_ids() == []
    assert rules.set_paused(store, rule_id, False)["paused"] is False
    drain(sender)
    sender.stop()
    assert receiver.statement_ids() == stored_ids(store)


def test_a_new_rule_starts_at_the_end_of_the_log_unless_asked(
    store: Store, receiver: WebhookReceiver
) -> None:
    save(store, *some_statements(3))
    body = {"name": "new", "destination": {"kind": "webhook", "url": receiver.url, "secret": SECRET}}
    created = rules.create_rule(store, body)
    assert created["state"]["offset"] == store.log_end() and created["state"]["lag"] == 0
    save(store, *some_statements(2))
    sender = forwarder(store)
    drain(sender)
    sender.stop()
    assert receiver.statement_ids() == stored_ids(store)[3:]


def test_a_restarted_forwarder_resumes_from_the_committed_offset(
    store: Store, receiver: WebhookReceiver
) -> None:
    webhook_rule(store, receiver, batch=10)
    save(store, *some_statements(30))
    first = forwarder(store)
    first.step()
    first.step()  # two batches delivered, then it stops (gives its lease back)
    first.stop()
    save(store, *some_statements(10))
    second = forwarder(store)
    drain(second)
    second.stop()
    assert receiver.statement_ids() == stored_ids(store)  # nothing skipped, nothing twice


def test_one_sender_per_rule_while_its_lease_runs(
    store: Store, receiver: WebhookReceiver
) -> None:
    webhook_rule(store, receiver, batch=5)
    save(store, *some_statements(20))
    holder, other = forwarder(store), forwarder(store)
    assert holder.step() > 0
    assert other.step() == 0  # the rule is held by the first
    drain(holder)
    holder.stop()
    other.stop()
    assert receiver.statement_ids() == stored_ids(store)


def test_rules_match_by_organisation_actor_activity_and_category(
    store: Store, receiver: WebhookReceiver
) -> None:
    profile = "https://w3id.org/xapi/cmi5/context/categories/cmi5"
    webhook_rule(
        store,
        receiver,
        match={
            "orgs": ["school-a"],
            "actors": ["mbox:mailto:ANN@example.org"],
            "activity_prefixes": ["http://example.org/course/"],
            "categories": [profile],
        },
    )
    category = {"contextActivities": {"category": [{"id": profile}]}}
    wanted = statement("ann", activity="course/1", context=category)
    save_as(store, "k-school", wanted)
    save_as(store, "k-other", statement("ann", activity="course/1", context=category))
    save_as(store, "k-school", statement("bob", activity="course/1", context=category))
    save_as(store, "k-school", statement("ann", activity="other/1", context=category))
    save_as(store, "k-school", statement("ann", activity="course/2"))
    sender = forwarder(store)
    drain(sender)
    sender.stop()
    assert receiver.statement_ids() == [wanted["id"]]


def test_metrics_show_delivery_state_per_rule(store: Store, receiver: WebhookReceiver) -> None:
    rule_id = webhook_rule(store, receiver)
    save(store, *some_statements(4))
    text = "\n".join(prometheus_lines(forwarding_families(store)))
    assert f'lrs_forward_lag{{rule="{rule_id}",name="hook",kind="webhook"}} 4' in text
    sender = forwarder(store)
    drain(sender)
    sender.stop()
    text = "\n".join(prometheus_lines(forwarding_families(store)))
    assert f'lrs_forward_delivered_total{{rule="{rule_id}",name="hook",kind="webhook"}} 4' in text
    assert f'lrs_forward_lag{{rule="{rule_id}",name="hook",kind="webhook"}} 0' in text
    assert f'lrs_forward_dead_letters{{rule="{rule_id}",name="hook",kind="webhook"}} 0' in text


def test_a_void_follows_the_statement_it_voids(store: Store, receiver: WebhookReceiver) -> None:
    webhook_rule(store, receiver, match={"verbs": [COMPLETED]})
    completed, attempted = statement("ann", "completed"), statement("ann", "attempted")
    save(store, completed, attempted)
    voids = [
        statement("ann", "voided", object={"objectType": "StatementRef", "id": target["id"]})
        for target in (completed, attempted)
    ]
    save(store, *voids)
    sender = forwarder(store)
    drain(sender)
    sender.stop()
    assert receiver.statement_ids() == [completed["id"], voids[0]["id"]]
