"""The log port on MongoDB: statements in `seq` order below the settled watermark, the
outbox flag, consumer offsets."""

from __future__ import annotations

import time

from pymongo import ASCENDING, UpdateMany
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
        """One range update per run of consecutive seqs (a batch takes consecutive seqs, so a
        relay batch is a few runs). A run is exactly its records: seqs are unique, so no
        other statement can sit inside it, even one committed after `unpublished` read.

        Not `seq: {$in: [...]}`: SecantusDB checks each candidate against every listed value
        (500 x 500 per relay batch, most of its CPU in the scaled-out benchmark), and an
        equality update per record costs it a journal flush each (benchmarks/MONGO_BUDGET.md).
        """
        if not records:
            return
        runs: list[list[int]] = []
        for seq in sorted({r.offset for r in records}):
            if runs and seq == runs[-1][1] + 1:
                runs[-1][1] = seq
            else:
                runs.append([seq, seq])
        self._statements.bulk_write(
            [
                UpdateMany({"seq": {"$gte": low, "$lte": high}}, {"$set": {"published": True}})
                for low, high in runs
            ],
            ordered=False,
        )

    def published_count(self) -> int:
        """Stored statements (the seq index) less the unpublished ones (the partial index):
        `published: true` has no index, and the relay asks every few seconds. Counted in
        that order, a statement stored between the two counts makes the answer smaller,
        never larger, so the relay can only under-count, never see a loss that is not one."""
        stored = self._statements.count_documents({"seq": {"$gte": 0}})
        return int(stored - self._statements.count_documents({"published": False}))

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
