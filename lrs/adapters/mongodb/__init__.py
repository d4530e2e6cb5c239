"""The scaled-out store: MongoDB (a replica set: multi-document transactions need one).

One module per capability, each a mixin over `MongoBase` (client, collections,
transactions, the settled watermark; its module docstring lists the collections);
`MongoStore` composes them into the object that exposes every port (lrs.ports.Store).
The rules are not here: lrs.ops decides, these modules execute.

| port         | module                              |
|--------------|-------------------------------------|
| Statements   | statements (writes), queries (reads) |
| Log          | log                                 |
| Documents    | documents                           |
| Projections  | projections                         |
| Definitions  | definitions                         |
| Identities   | identities                          |
| Credentials  | credentials                         |
| AccessLog    | access_log                          |
| Erasure      | erasure                             |
| Retention    | retention                           |
| Forwarding   | forwarding                          |
| StoredCounts | stored_counts                       |
"""

from __future__ import annotations

from lrs.adapters.mongodb.access_log import MongoAccessLog
from lrs.adapters.mongodb.aggregates import MongoAggregates
from lrs.adapters.mongodb.base import MongoBase, WriteExpired, unavailable
from lrs.adapters.mongodb.credentials import MongoCredentials
from lrs.adapters.mongodb.definitions import MongoDefinitions
from lrs.adapters.mongodb.documents import MongoDocuments
from lrs.adapters.mongodb.erasure import MongoErasure
from lrs.adapters.mongodb.forwarding import MongoForwarding
from lrs.adapters.mongodb.identities import MongoIdentities
from lrs.adapters.mongodb.log import MongoLog
from lrs.adapters.mongodb.projections import MongoProjections
from lrs.adapters.mongodb.queries import MongoStatementReads
from lrs.adapters.mongodb.retention import MongoRetention
from lrs.adapters.mongodb.statements import MongoStatements
from lrs.adapters.mongodb.stored_counts import MongoStoredCounts
from lrs.adapters.unavailable import unavailable_as_503


@unavailable_as_503(unavailable)
class MongoStore(
    MongoAggregates,
    MongoStatements,
    MongoStatementReads,
    MongoLog,
    MongoDocuments,
    MongoProjections,
    MongoDefinitions,
    MongoIdentities,
    MongoCredentials,
    MongoAccessLog,
    MongoRetention,
    MongoErasure,
    MongoForwarding,
    MongoStoredCounts,
    MongoBase,
):
    """Every port on one MongoDB database. `url` is a connection string naming it.

    `clock_skew` is how far the clocks of the API hosts may disagree (NTP); `write_timeout`
    is how long a batch may stay in flight before readers stop holding the watermark for it.
    """


__all__ = ["MongoStore", "WriteExpired"]
