"""What erasing a person, or anonymising by retention, does to one statement (pure, shared
by every store adapter).

A statement *filed under* the person (its actor, or the first member of an anonymous group
actor: the key the log and the projections use) is their learning record: it is deleted.
A statement that only *names* them elsewhere (object agent, instructor, team, context
agents, group member, authority) is another learner's record: it is kept, and every agent
object of theirs in it is replaced by one anonymous agent, `ERASED_AGENT`. Two exceptions:
a voiding statement of theirs is pseudonymised rather than deleted, so that what it voided
stays voided after a replay; and a signed statement that names them is deleted, because its
signature (a JWS attachment) holds the original statement with their identifiers.

Retention's `anonymise` (lrs.ops.retention) replaces every agent but the authority by one
anonymous agent, `ANONYMOUS_AGENT`, so counts per activity, verb and result survive and
nobody is named; a signed statement is deleted instead, for the same reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from lrs.xapi.agent_keys import agent_key
from lrs.xapi.statements import Term, is_voiding, learner_key

ERASED_HOME_PAGE = "https://lrs.invalid/erased"
ERASED_AGENT: dict[str, Any] = {
    "objectType": "Agent",
    "account": {"homePage": ERASED_HOME_PAGE, "name": "erased"},
}
ERASED_KEY = f"account:{ERASED_HOME_PAGE}|erased"
ANONYMOUS_AGENT: dict[str, Any] = {
    "objectType": "Agent",
    "account": {"homePage": "https://lrs.invalid/anonymised", "name": "anonymised"},
}
SIGNATURE_USAGE = "http://adlnet.gov/expapi/attachments/signature"
_IFIS = ("mbox", "mbox_sha1sum", "openid", "account")
# Where a store finds a person's statements: filed under their key as actor or object
# (AGENT) or anywhere else the statement names them (RELATED_AGENT). Every store erases
# exactly these, and `erase_from_statement` decides what each becomes.
FILED_UNDER = (Term.AGENT, Term.RELATED_AGENT)
# The document kinds whose scope names an agent (`document_agent` reads which one).
AGENT_DOCUMENT_KINDS = ("state", "agent_profile")


def erasure_keys(keys: Iterable[str]) -> list[str]:
    """The keys and the other spellings of the same identifier: a mailbox is also named by
    its SHA-1 (`mbox_sha1sum`), so erasing `mbox:mailto:x` must also reach those."""
    found = set(keys)
    for key in list(found):
        if key.startswith("mbox:"):
            mailbox = key.removeprefix("mbox:")
            found.add("mbox_sha1sum:" + hashlib.sha1(mailbox.encode()).hexdigest())
    return sorted(found)


def _is_agent(value: dict[str, Any]) -> bool:
    return value.get("objectType", "Agent") in ("Agent", "Group") and any(
        ifi in value for ifi in _IFIS
    )


def _scrub(value: Any, keys: frozenset[str] | None, replacement: dict[str, Any]) -> Any:
    """`value` with every agent object under one of `keys` (None: every agent) replaced by
    `replacement` (a group stays a group, its members scrubbed in turn)."""
    if isinstance(value, list):
        return [_scrub(item, keys, replacement) for item in value]
    if not isinstance(value, dict):
        return value
    if _is_agent(value) and (keys is None or agent_key(value) in keys):
        replaced = dict(replacement)
        if value.get("objectType") == "Group":
            replaced["objectType"] = "Group"
            if "member" in value:
                replaced["member"] = _scrub(value["member"], keys, replacement)
        return replaced
    return {name: _scrub(item, keys, replacement) for name, item in value.items()}


def keys_named(value: Any) -> set[str]:
    """The key of every identified agent anywhere in `value` (a statement: authority included)."""
    if isinstance(value, list):
        return set().union(*(keys_named(item) for item in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    key = agent_key(value) if _is_agent(value) else None
    found = {key} if key else set()
    for item in value.values():
        found |= keys_named(item)
    return found


def _signed(statement: dict[str, Any]) -> bool:
    return any(
        isinstance(a, dict) and a.get("usageType") == SIGNATURE_USAGE
        for a in statement.get("attachments") or []
    )


def erase_from_statement(
    statement: dict[str, Any], keys: frozenset[str]
) -> dict[str, Any] | None:
    """None: delete the statement; otherwise the statement to keep (the same object when
    it does not name them: the caller compares identity to know whether to rewrite)."""
    if learner_key(statement) in keys and not is_voiding(statement):
        return None
    scrubbed = _scrub(statement, keys, ERASED_AGENT)
    if scrubbed == statement:
        return statement
    if _signed(statement):
        return None
    return scrubbed  # type: ignore[no-any-return]


def anonymise_statement(statement: dict[str, Any]) -> dict[str, Any] | None:
    """The statement with every agent but its authority replaced by `ANONYMOUS_AGENT`;
    None when it must be deleted instead (signed: the signature holds the original)."""
    if _signed(statement):
        return None
    kept = {name: value for name, value in statement.items() if name != "authority"}
    result: dict[str, Any] = _scrub(kept, None, ANONYMOUS_AGENT)
    if "authority" in statement:
        result["authority"] = statement["authority"]
    return result


def attachment_hashes(statement: dict[str, Any]) -> set[str]:
    """The sha2 of every attachment a statement (or its SubStatement) refers to."""
    found: set[str] = set()
    for holder in (statement, statement.get("object") or {}):
        for attachment in holder.get("attachments") or []:
            if isinstance(attachment, dict) and isinstance(attachment.get("sha2"), str):
                found.add(attachment["sha2"].lower())
    return found


def document_agent(kind: str, scope: str) -> str:
    """The agent key a State or Agent Profile document's scope names ("" for others).

    A scope may start with an organisation's namespace (`org` + U+001E, lrs.access); a
    State scope is (activityId, agent, registration) joined by U+001F.
    """
    scope = scope.rpartition("\x1e")[2]
    if kind == "agent_profile":
        return scope
    if kind == "state":
        parts = scope.split("\x1f")
        return parts[1] if len(parts) > 1 else ""
    return ""
