"""The log port on MongoDB: statements in `seq` order below the settled watermark, the
outbox flag, consumer offsets."""

from __future__ import annotations

import time

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from lrs.adapters.mongodb.base import MongoBase
from lrs.domain.records import LogRecord


class MongoLog(MongoBase):
    def read_log(self, after: int, limit: int) -> list[LogRecord]:
        """Only below the settled watermark, so a consumer's offset never passes a statement
        that commits later."""
        high, _ = self._settled()
        rows = (
            self._statements.find(
                {"seq": {"$gt": after, "$lte": high}}, {"seq": 1, "learner": 1, "data": 1}
            )
            .sort("seq", ASCENDING)
            .limit(limit)
        )
        return [LogRecord(int(r["seq"]), r["learner"], bytes(r["data"])) for r in rows]

    def unpublished(self, limit: int) -> list[LogRecord]:
        """A flag per statement, not a high-water mark: seqs commit out of order here."""
        rows = (
            self._statements.find({"published": False}, {"seq": 1, "learner": 1, "data": 1})
            .sort("seq", ASCENDING)
            .limit(limit)
        )
        return [LogRecord(int(r["seq"]), r["learner"], bytes(r["data"])) for r in rows]

    def mark_published(self, records: list[LogRecord]) -> None:
        """`published: false` in the filter is what lets the partial (published, seq) index
        answer it (a partial index serves only queries that imply its filter); a record
        already marked needs no second mark."""
        if records:
            self._statements.update_many(
                {"published": False, "seq": {"$in": [r.offset for r in records]}},
                {"$set": {"published": True}},
            )

    def published_count(self) -> int:
        return int(self._statements.count_documents({"published": True}))

    def reset_published(self) -> None:
        self._statements.update_many({"published": True}, {"$set": {"published": False}})

    def get_offset(self, consumer: str) -> int:
        doc = self._offsets.find_one({"_id": consumer})
        return 0 if doc is None else int(doc["position"])

    def set_offset(self, consumer: str, offset: int) -> None:
        self._offsets.update_one({"_id": consumer}, {"$max": {"position": offset}}, upsert=True)

    def claim_lease(self, name: str, owner: str, seconds: float) -> bool:
        now = time.time()
        try:  # matches a lease that is free to take; else the upsert collides with the held one
            self._offsets.update_one(
                {"_id": f"lease:{name}", "$or": [{"owner": owner}, {"until": {"$lte": now}}]},
                {"$set": {"owner": owner, "until": now + seconds}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True
