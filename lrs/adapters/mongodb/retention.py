"""The retention port on MongoDB: find what is older than a policy allows, and cut the access log.

What a run removes or anonymises goes through the erasure adapter's primitives
(lrs.ops.retention plans, lrs.adapters.mongodb.erasure writes), so retention and erasure
leave statements and projections in the same shape.
"""

from __future__ import annotations

import orjson
from pymongo import ASCENDING

from lrs.adapters.mongodb.erasure import MongoErasure
from lrs.ports.erasure import DocumentRef
from lrs.ports.retention import StoredStatement


class MongoRetention(MongoErasure):
    def statements_stored_before(
        self, before: str, after_seq: int, limit: int
    ) -> list[StoredStatement]:
        rows = (
            self._statements.find(
                {"stored": {"$lt": before}, "seq": {"$gt": after_seq}, "data": {"$exists": True}},
                {"seq": 1, "credential": 1, "stored": 1, "data": 1},
            )
            .sort("seq", ASCENDING)
            .limit(limit)
        )
        return [
            StoredStatement(
                int(d["seq"]), d["_id"], d["credential"], d["stored"], orjson.loads(d["data"])
            )
            for d in rows
        ]

    def documents_updated_before(self, before: str) -> list[DocumentRef]:
        rows = self._documents.find(
            {"updated": {"$lt": before}}, {"kind": 1, "scope": 1, "doc_id": 1, "updated": 1}
        ).sort([("kind", ASCENDING), ("scope", ASCENDING), ("doc_id", ASCENDING)])
        return [DocumentRef(d["kind"], d["scope"], d["doc_id"], d["updated"]) for d in rows]

    def prune_access(self, through: int) -> int:
        head = self._access_head.find_one({"_id": "head"})
        limit = min(through, int(head["seq"]) - 1) if head else 0
        return int(self._access_log.delete_many({"seq": {"$lte": limit}}).deleted_count)
