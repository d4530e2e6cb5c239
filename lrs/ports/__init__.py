"""Ports: one small protocol per capability, each implemented by every adapter.

| port            | module        | SQLite / MongoDB adapters            |
|-----------------|---------------|--------------------------------------|
| Statements      | statements    | lrs.adapters.*.statements            |
| Log             | log           | lrs.adapters.*.log                   |
| Documents       | documents     | lrs.adapters.*.documents             |
| Projections     | projections   | lrs.adapters.*.projections           |
| Definitions     | definitions   | lrs.adapters.*.definitions           |
| Identities      | identities    | lrs.adapters.*.identities            |
| Credentials     | credentials   | lrs.adapters.*.credentials           |
| AccessLog       | access_log    | lrs.adapters.*.access_log            |
| Erasure         | erasure       | lrs.adapters.*.erasure               |
| Retention       | retention     | lrs.adapters.*.retention             |
| Forwarding      | forwarding    | lrs.adapters.*.forwarding            |
| Aggregates      | aggregates    | lrs.adapters.*.aggregates            |
| StoredCounts    | stored_counts | lrs.adapters.*.stored_counts         |

`Store` is what `lrs.storage.open_store` returns: one object exposing every port, because
the adapters of one backend share a connection and transactions (erasure spans all of
them). Code that needs one capability should ask for that port's type, not `Store`.
The tests in tests/contract run every port against every adapter.
"""

from __future__ import annotations

from typing import Protocol

from lrs.ports.access_log import AccessLog
from lrs.ports.aggregates import Aggregates
from lrs.ports.credentials import Credentials
from lrs.ports.definitions import Definitions
from lrs.ports.documents import Documents
from lrs.ports.erasure import Erasure
from lrs.ports.forwarding import Forwarding
from lrs.ports.identities import Identities
from lrs.ports.log import Log
from lrs.ports.projections import Projections, ProjectionTransaction
from lrs.ports.retention import Retention
from lrs.ports.statements import LinkNode, StatementGraph, Statements
from lrs.ports.stored_counts import StoredCounts


class Store(
    Statements,
    Log,
    Documents,
    Projections,
    Definitions,
    Identities,
    Credentials,
    AccessLog,
    Erasure,
    Retention,
    Forwarding,
    Aggregates,
    StoredCounts,
    Protocol,
):
    """Every port of one backend, sharing its connections."""

    def close(self) -> None: ...


__all__ = [
    "AccessLog",
    "Aggregates",
    "Credentials",
    "Definitions",
    "Documents",
    "Erasure",
    "Forwarding",
    "Identities",
    "LinkNode",
    "Log",
    "ProjectionTransaction",
    "Projections",
    "Retention",
    "StatementGraph",
    "Statements",
    "Store",
    "StoredCounts",
]
