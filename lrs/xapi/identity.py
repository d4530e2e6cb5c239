"""Learner keys: one canonical string per inverse functional identifier (IFI).

A key names an Agent or identified Group across every store and topic, so it must not
depend on property order or on the non-identifying parts of the object (name, objectType).
"""

from __future__ import annotations

from typing import Any

IFI_PROPERTIES = ("mbox", "mbox_sha1sum", "openid", "account")


def agent_key(agent: Any) -> str | None:
    """`mbox:mailto:x`, `mbox_sha1sum:<hex>`, `openid:<uri>` or `account:<homePage>|<name>`.

    None for an anonymous Group or anything without an IFI.
    """
    if not isinstance(agent, dict):
        return None
    mbox = agent.get("mbox")
    if isinstance(mbox, str):
        return "mbox:" + mbox.lower()
    sha1 = agent.get("mbox_sha1sum")
    if isinstance(sha1, str):
        return "mbox_sha1sum:" + sha1.lower()
    openid = agent.get("openid")
    if isinstance(openid, str):
        return "openid:" + openid
    account = agent.get("account")
    if isinstance(account, dict):
        return f"account:{account.get('homePage', '')}|{account.get('name', '')}"
    return None


def normalise_key(key: str) -> str:
    """A learner key as `agent_key` would have produced it (mailboxes are case-insensitive)."""
    if key.startswith(("mbox:", "mbox_sha1sum:")):
        return key.lower()
    return key


def ifi_only(agent: dict[str, Any]) -> dict[str, Any]:
    """The agent reduced to objectType and its IFI (the `ids` statement format)."""
    reduced: dict[str, Any] = {}
    if "objectType" in agent:
        reduced["objectType"] = agent["objectType"]
    for prop in IFI_PROPERTIES:
        if prop in agent:
            reduced[prop] = agent[prop]
            break
    if agent.get("objectType") == "Group" and "member" in agent and len(reduced) < 2:
        reduced["member"] = [ifi_only(m) for m in agent["member"] if isinstance(m, dict)]
    return reduced
