"""The embedded store: one SQLite file in WAL mode (and two beside it), no server.

One module per capability, each a mixin over `SQLiteBase` (the files, connections and
transactions they share); `SQLiteStore` composes them into the object that exposes every
port (lrs.ports.Store). The rules are not here: lrs.ops decides, these modules execute.

| port         | module                                               |
|--------------|------------------------------------------------------|
| Statements   | statements (writes), statement_index, queries (reads) |
| Log          | log                                                  |
| Documents    | documents                                            |
| Projections  | projections                                          |
| Definitions  | definitions                                          |
| Identities   | identities                                           |
| Credentials  | credentials                                          |
| AccessLog    | access_log                                           |
| Erasure      | erasure                                              |
| Retention    | retention                                            |
| Forwarding   | forwarding                                           |
| StoredCounts | stored_counts                                        |
"""

from __future__ import annotations

from lrs.adapters.sqlite.access_log import SQLiteAccessLog
from lrs.adapters.sqlite.aggregates import SQLiteAggregates
from lrs.adapters.sqlite.base import SQLiteBase, unavailable
from lrs.adapters.sqlite.credentials import SQLiteCredentials
from lrs.adapters.sqlite.definitions import SQLiteDefinitions
from lrs.adapters.sqlite.documents import SQLiteDocuments
from lrs.adapters.sqlite.erasure import SQLiteErasure
from lrs.adapters.sqlite.forwarding import SQLiteForwarding
from lrs.adapters.sqlite.identities import SQLiteIdentities
from lrs.adapters.sqlite.log import SQLiteLog
from lrs.adapters.sqlite.projections import SQLiteProjections
from lrs.adapters.sqlite.queries import SQLiteStatementReads
from lrs.adapters.sqlite.retention import SQLiteRetention
from lrs.adapters.sqlite.statement_index import SQLiteStatementIndex
from lrs.adapters.sqlite.statements import SQLiteStatements
from lrs.adapters.sqlite.stored_counts import SQLiteStoredCounts
from lrs.adapters.unavailable import unavailable_as_503


@unavailable_as_503(unavailable)
class SQLiteStore(
    SQLiteAggregates,
    SQLiteStatements,
    SQLiteStatementIndex,
    SQLiteStatementReads,
    SQLiteLog,
    SQLiteDocuments,
    SQLiteProjections,
    SQLiteDefinitions,
    SQLiteIdentities,
    SQLiteCredentials,
    SQLiteAccessLog,
    SQLiteRetention,
    SQLiteErasure,
    SQLiteForwarding,
    SQLiteStoredCounts,
    SQLiteBase,
):
    """Every port on one SQLite file set (`path`, and its -projections and -audit files)."""


__all__ = ["SQLiteStore"]
