"""What erasure, or retention's anonymisation, does to one statement (lrs.xapi.redaction),
decided the same in every store."""

from __future__ import annotations

import hashlib
from typing import Any

from lrs.xapi.redaction import (
    ANONYMOUS_AGENT,
    ERASED_AGENT,
    SIGNATURE_USAGE,
    anonymise_statement,
    document_agent,
    erase_from_statement,
    erasure_keys,
    keys_named,
)

E = {"mbox": "mailto:e@example.org", "name": "E"}
B = {"mbox": "mailto:b@example.org"}
KEYS = frozenset(erasure_keys(["mbox:mailto:e@example.org"]))
VERB = {"id": "http://adlnet.gov/expapi/verbs/completed"}


def stmt(actor: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "s1", "actor": actor, "verb": VERB, "object": {"id": "http://x/a"}, **extra}


def test_a_mailbox_is_also_erased_under_its_sha1() -> None:
    sha1 = hashlib.sha1(b"mailto:e@example.org").hexdigest()
    assert erasure_keys(["mbox:mailto:e@example.org"]) == [
        "mbox:mailto:e@example.org",
        f"mbox_sha1sum:{sha1}",
    ]
    assert erase_from_statement(stmt({"mbox_sha1sum": sha1}), KEYS) is None


def test_their_own_statement_is_deleted_and_others_are_untouched() -> None:
    assert erase_from_statement(stmt(E), KEYS) is None
    theirs_not = stmt(B)
    assert erase_from_statement(theirs_not, KEYS) is theirs_not


def test_where_they_are_only_named_they_are_replaced() -> None:
    kept = erase_from_statement(
        stmt(
            {"objectType": "Group", "member": [B, E]},
            context={"instructor": E, "contextAgents": [{"objectType": "contextAgent", "agent": E}]},
        ),
        KEYS,
    )
    assert kept is not None
    assert kept["actor"]["member"] == [B, ERASED_AGENT]
    assert kept["context"]["instructor"] == ERASED_AGENT
    assert kept["context"]["contextAgents"][0]["agent"] == ERASED_AGENT
    assert "e@example.org" not in str(kept)


def test_an_anonymous_group_filed_under_them_is_theirs() -> None:
    assert erase_from_statement(stmt({"objectType": "Group", "member": [E, B]}), KEYS) is None


def test_their_voiding_statement_is_kept_anonymous() -> None:
    voiding = {
        "id": "v1",
        "actor": E,
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": "s0"},
    }
    kept = erase_from_statement(voiding, KEYS)
    assert kept is not None and kept["actor"] == ERASED_AGENT and kept["object"]["id"] == "s0"


def test_a_signed_statement_naming_them_is_deleted() -> None:
    signature = {"usageType": SIGNATURE_USAGE, "sha2": "ab", "contentType": "application/octet-stream"}
    signed = stmt(B, context={"instructor": E}, attachments=[signature])
    assert erase_from_statement(signed, KEYS) is None


def test_document_scopes_name_their_agent() -> None:
    assert document_agent("agent_profile", "mbox:mailto:e@example.org") == "mbox:mailto:e@example.org"
    assert document_agent("agent_profile", "school\x1embox:mailto:e@example.org") == (
        "mbox:mailto:e@example.org"
    )
    assert document_agent("state", "http://x/a\x1fmbox:mailto:e@example.org\x1f") == (
        "mbox:mailto:e@example.org"
    )
    assert document_agent("activity_profile", "http://x/a") == ""


def test_anonymising_replaces_every_agent_but_the_authority() -> None:
    authority = {"account": {"homePage": "https://lms.example.org", "name": "platform"}}
    group = {"objectType": "Group", "mbox": "mailto:team@example.org", "member": [E, B]}
    statement = stmt(E, context={"instructor": B, "team": group}, authority=authority)
    assert keys_named(statement) == {
        "mbox:mailto:e@example.org",
        "mbox:mailto:b@example.org",
        "mbox:mailto:team@example.org",
        "account:https://lms.example.org|platform",
    }
    anonymous = anonymise_statement(statement)
    assert anonymous is not None
    assert anonymous["actor"] == ANONYMOUS_AGENT
    assert anonymous["context"]["instructor"] == ANONYMOUS_AGENT
    assert anonymous["context"]["team"] == {
        **ANONYMOUS_AGENT,
        "objectType": "Group",
        "member": [ANONYMOUS_AGENT, ANONYMOUS_AGENT],
    }
    assert anonymous["authority"] == authority and anonymous["verb"] == VERB
    assert keys_named(anonymous) == {
        "account:https://lrs.invalid/anonymised|anonymised",
        "account:https://lms.example.org|platform",
    }
    assert anonymise_statement(anonymous) == anonymous  # a second run changes nothing


def test_a_signed_statement_is_deleted_rather_than_anonymised() -> None:
    signed = stmt(E, attachments=[{"usageType": SIGNATURE_USAGE, "sha2": "ab" * 32}])
    assert anonymise_statement(signed) is None
