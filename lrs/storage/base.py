"""Where the storage names used to live: kept so existing imports work while they move.

New code imports from where each name lives now: records from lrs.domain.records, the
ports from lrs.ports, the rules from lrs.domain and lrs.ops.
"""

from __future__ import annotations

from lrs.domain.documents import Preconditions, etag_for
from lrs.domain.errors import StoreUnavailable
from lrs.domain.queries import history_terms, in_course, query_terms
from lrs.domain.records import (
    DEFAULT_ORG,
    GENESIS,
    ROLES,
    AccessEntry,
    AccessHead,
    AccessQuery,
    Attachment,
    Contribution,
    Credential,
    Document,
    DocumentKind,
    ErasureReport,
    HistoryPage,
    HistoryQuery,
    HistoryRecord,
    LogRecord,
    Retraction,
    StatementPage,
    StatementQuery,
    StateQuery,
)
from lrs.domain.times import format_stored, parse_stored
from lrs.ops.access_log import access_hash, seal_access
from lrs.ops.orgs import CredentialOrgs
from lrs.ops.projections import apply_projection_changes, rebuild_after_erasure
from lrs.ports import ProjectionTransaction, Store

__all__ = [
    "DEFAULT_ORG",
    "GENESIS",
    "ROLES",
    "AccessEntry",
    "AccessHead",
    "AccessQuery",
    "Attachment",
    "Contribution",
    "Credential",
    "CredentialOrgs",
    "Document",
    "DocumentKind",
    "ErasureReport",
    "HistoryPage",
    "HistoryQuery",
    "HistoryRecord",
    "LogRecord",
    "Preconditions",
    "ProjectionTransaction",
    "Retraction",
    "StatementPage",
    "StatementQuery",
    "StateQuery",
    "Store",
    "StoreUnavailable",
    "access_hash",
    "apply_projection_changes",
    "etag_for",
    "format_stored",
    "history_terms",
    "in_course",
    "parse_stored",
    "query_terms",
    "rebuild_after_erasure",
    "seal_access",
]
