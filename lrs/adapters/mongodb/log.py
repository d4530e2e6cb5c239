"""The log port on MongoDB: statements in `seq` order below the settled watermark, the
outbox (a collection of unpublished seqs), consumer offsets."""

from __future__ import annotations

import time
from typing import Any

from pymongo import ASCENDING, DeleteMany, InsertOne, UpdateMany
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from lrs.adapters.mongodb.base import MongoBase
from lrs.domain.records import LogRecord

DUPLICATE_KEY = 11000


def runs(seqs: list[int]) -> list[tuple[int, int]]:
    """Sorted distinct seqs as (first, last) runs of consecutive values."""
    found: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if found and seq == found[-1][1] + 1:
            found[-1][1] = seq
        else:
            found.append([seq, seq])
    return [(low, high) for low, high in found]


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
        """The outbox's first seqs (a document per unpublished statement, not a high-water
        mark: seqs commit out of order here), read back from the statements by runs of
        consecutive seqs; then statements stored before the outbox existed, by their flag.

        An outbox seq whose statement is gone was erased before it was published: there is
        nothing to publish, so its entry goes (its statement committed with it, and was
        read after it, so it is not merely in flight)."""
        seqs = [
            int(d["seq"])
            for d in self._outbox.find({"seq": {"$gte": 0}}, {"seq": 1}).sort("seq", 1).limit(limit)
        ]
        records = {r.offset: r for r in self._statements_in_runs(seqs)}
        gone = [seq for seq in seqs if seq not in records]
        if gone:
            self._delete_runs(self._outbox, "seq", gone)
        legacy = (
            self._statements.find({"published": False}, {"seq": 1, "learner": 1, "data": 1})
            .sort("seq", ASCENDING)
            .limit(limit)
        )
        for r in legacy:
            records[int(r["seq"])] = LogRecord(int(r["seq"]), r["learner"], bytes(r["data"]))
        return [records[seq] for seq in sorted(records)[:limit]]

    def _statements_in_runs(self, seqs: list[int]) -> list[LogRecord]:
        found: list[LogRecord] = []
        for low, high in runs(seqs):
            for r in self._statements.find(
                {"seq": {"$gte": low, "$lte": high}}, {"seq": 1, "learner": 1, "data": 1}
            ):
                found.append(LogRecord(int(r["seq"]), r["learner"], bytes(r["data"])))
        return found

    def _delete_runs(
        self, collection: Collection[dict[str, Any]], field: str, seqs: list[int]
    ) -> None:
        collection.bulk_write(
            [DeleteMany({field: {"$gte": low, "$lte": high}}) for low, high in runs(seqs)],
            ordered=False,
        )

    def mark_published(self, records: list[LogRecord]) -> None:
        """Delete the records' outbox entries, a range per run of consecutive seqs (a batch
        takes consecutive seqs). A run is exactly its records: seqs are unique, so no other
        entry sits inside it, even one committed after `unpublished` read. Not one
        `$in`: SecantusDB compares each candidate with every listed value
        (benchmarks/MONGO_BUDGET.md). Statements stored before the outbox get their flag."""
        if not records:
            return
        seqs = [r.offset for r in records]
        self._delete_runs(self._outbox, "seq", seqs)
        self._statements.bulk_write(
            [
                UpdateMany(
                    {"published": False, "seq": {"$gte": low, "$lte": high}},
                    {"$set": {"published": True}},
                )
                for low, high in runs(seqs)
            ],
            ordered=False,
        )

    def published_count(self) -> int:
        """Stored statements (the seq index) less the unpublished ones (the outbox, and the
        flag of statements stored before it). Counted in that order, a statement stored
        between the counts makes the answer smaller, never larger: the relay can only
        under-count, never see a loss that is not one."""
        stored = self._statements.count_documents({"seq": {"$gte": 0}})
        waiting = self._outbox.count_documents({"seq": {"$gte": 0}})
        legacy = self._statements.count_documents({"published": False})
        return int(stored - waiting - legacy)

    def count_after(self, after: int) -> int:
        high, _ = self._settled()  # what read_log would return: below the settled watermark
        return int(self._statements.count_documents({"seq": {"$gt": after, "$lte": high}}))

    def unpublished_count(self) -> int:
        """The outbox's entries, and statements stored before it existed still flagged."""
        waiting = self._outbox.count_documents({})
        return int(waiting + self._statements.count_documents({"published": False}))

    def reset_published(self) -> None:
        """Every stored statement back in the outbox (the bus lost its log)."""
        batch: list[InsertOne[dict[str, Any]]] = []
        for doc in self._statements.find({"seq": {"$gte": 0}}, {"seq": 1}).sort("seq", 1):
            batch.append(InsertOne({"_id": int(doc["seq"]), "seq": int(doc["seq"])}))
            if len(batch) == 1000:
                self._insert_missing(batch)
                batch = []
        self._insert_missing(batch)

    def _insert_missing(self, batch: list[InsertOne[dict[str, Any]]]) -> None:
        if not batch:
            return
        try:
            self._outbox.bulk_write(batch, ordered=False)
        except BulkWriteError as exc:  # entries already there are fine; anything else is not
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise

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
