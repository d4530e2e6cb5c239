"""Which credential stored a statement, read from the authority the LRS wrote on it.

The LRS sets `authority.account.name` to the storing credential's key (or a connector's
source), whatever the client sent, so this is how a statement's organisation is found.
"""

from __future__ import annotations

from typing import Any


def authority_key(statement: dict[str, Any]) -> str | None:
    """The credential key (or connector source) in the statement's authority, if any."""
    authority = statement.get("authority") or {}
    account = authority.get("account") if isinstance(authority, dict) else None
    name = account.get("name") if isinstance(account, dict) else None
    return name if isinstance(name, str) else None
