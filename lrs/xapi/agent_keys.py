"""Learner keys: one canonical string per inverse functional identifier (IFI).

A key names an Agent or identified Group across every store and topic, so it must not
depend on property order or on the non-identifying parts of the object (name, objectType).
"""

from __future__ import annotations

import re
from typing import Any

from lrs.xapi.errors import ValidationError

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


_FORMS = (
    "mbox:mailto:<address>, mbox_sha1sum:<40 hex digits>, openid:<URI> or "
    "account:<homePage>|<name> (quote it in a shell: the | is a pipe there)"
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S")


def check_key(key: str, field: str = "key") -> str:
    """The learner key normalised, or ValidationError naming `field` and the forms a key
    takes: a key cut short (an unquoted `|` in a shell) must be refused, never stored."""
    kind, _, rest = key.partition(":")
    ok = False
    if kind == "mbox":
        address = rest.removeprefix("mailto:")
        ok = rest.startswith("mailto:") and "@" in address.strip("@") and " " not in address
    elif kind == "mbox_sha1sum":
        ok = re.fullmatch(r"[0-9a-fA-F]{40}", rest) is not None
    elif kind == "openid":
        ok = _SCHEME.match(rest) is not None
    elif kind == "account":
        home, bar, name = rest.partition("|")
        ok = bool(bar) and bool(name) and _SCHEME.match(home) is not None
    if not ok:
        raise ValidationError(f"{key!r} is not a learner key: use {_FORMS}", field)
    return normalise_key(key)


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
