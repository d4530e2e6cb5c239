"""Pure parts of forwarding: matching and the webhook signature."""

from __future__ import annotations

from typing import Any

from lrs.domain.forwarding import Match
from lrs.forwarding.delivery import xapi_version
from lrs.forwarding.matching import matches
from lrs.forwarding.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signature, verify

STATEMENT: dict[str, Any] = {
    "id": "6fbd600f-d17c-4c74-801a-2ec2e53231c7",
    "actor": {"mbox": "mailto:Ann@Example.org"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
    "object": {"id": "http://example.org/course/1/quiz"},
    "context": {"contextActivities": {"category": [{"id": "https://w3id.org/xapi/cmi5/v1"}]}},
}


def test_an_empty_match_takes_everything_and_criteria_combine_with_and() -> None:
    assert matches(Match(), STATEMENT, "default")
    both = Match(orgs=("a",), verbs=(STATEMENT["verb"]["id"],))
    assert matches(both, STATEMENT, "a")
    assert not matches(both, STATEMENT, "b")
    assert not matches(Match(orgs=("a",), verbs=("http://x/other",)), STATEMENT, "a")


def test_each_criterion_takes_any_of_its_values() -> None:
    assert matches(Match(verbs=("http://x/other", STATEMENT["verb"]["id"])), STATEMENT, "o")
    assert matches(Match(activities=("http://example.org/course/1/quiz",)), STATEMENT, "o")
    assert not matches(Match(activities=("http://example.org/course/1",)), STATEMENT, "o")
    assert matches(Match(activity_prefixes=("http://x/", "http://example.org/course/1/")), STATEMENT, "o")
    assert matches(Match(actors=("mbox:mailto:ann@example.org",)), STATEMENT, "o")
    assert not matches(Match(actors=("mbox:mailto:bob@example.org",)), STATEMENT, "o")
    assert matches(Match(categories=("https://w3id.org/xapi/cmi5/v1",)), STATEMENT, "o")
    assert not matches(Match(categories=("https://w3id.org/xapi/video",)), STATEMENT, "o")


def test_a_statement_ref_or_missing_context_matches_no_activity_or_category() -> None:
    voiding = {**STATEMENT, "object": {"objectType": "StatementRef", "id": STATEMENT["id"]}}
    del voiding["context"]
    assert not matches(Match(activity_prefixes=("http://",)), voiding, "o")
    assert not matches(Match(categories=("https://w3id.org/xapi/cmi5/v1",)), voiding, "o")
    assert matches(Match(verbs=(STATEMENT["verb"]["id"],)), voiding, "o")


def test_a_signature_verifies_and_anything_changed_does_not() -> None:
    body = b'{"statements":[]}'
    headers = sign("whsec_abc", 1_700_000_000, body, "rule:1-2")
    stamp, sent = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert sent == "v1=" + signature("whsec_abc", 1_700_000_000, body)
    assert verify("whsec_abc", stamp, sent, body, now=1_700_000_100)
    assert verify("whsec_abc", stamp, "v1=00 " + sent, body, now=1_700_000_100)  # rotation
    assert not verify("whsec_abc", stamp, sent, body + b" ", now=1_700_000_100)
    assert not verify("whsec_xyz", stamp, sent, body, now=1_700_000_100)
    assert not verify("whsec_abc", "1700000001", sent, body, now=1_700_000_100)
    assert not verify("whsec_abc", stamp, sent, body, now=1_700_000_000 + 301)  # too old
    assert not verify("whsec_abc", stamp, sent.replace("v1=", "v0="), body, now=1_700_000_100)
    assert not verify("whsec_abc", "soon", sent, body, now=1_700_000_100)


def test_the_xapi_version_header_follows_the_statements() -> None:
    assert xapi_version([b'{"version":"1.0.3"}']) == "1.0.3"
    assert xapi_version([b'{"version":"1.0.3"}', b'{"id":"x","version":"2.0.0"}']) == "2.0.0"
