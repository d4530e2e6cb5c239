"""Moved to lrs.ops.audit (the operations layer); kept so imports still work."""

from __future__ import annotations

from lrs.ops.audit import (
    LOGGED_ROLES,
    ChainProblem,
    audit_secret,
    entries,
    find_problem,
    is_logged,
    pseudonym,
    record_erasure,
    record_read,
    statement_learner,
    verify,
)

__all__ = [
    "LOGGED_ROLES",
    "ChainProblem",
    "audit_secret",
    "entries",
    "find_problem",
    "is_logged",
    "pseudonym",
    "record_erasure",
    "record_read",
    "statement_learner",
    "verify",
]
