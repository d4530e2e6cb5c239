"""The log port on MongoDB: statements in `seq` order below the settled watermark, the
outbox (a collection of unpublished seqs), consumer offsets."""

from __future__ import annotations

import time
from typing import Any

from pymongo import ASCENDING, DeleteOne, InsertOne, UpdateMany, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from lrs.adapters.mongodb.base import MongoBase
from lrs.domain.records import LogRecord

DUPLICATE_KEY = 11000

# Statements flagged `published: false` come only from versions before the outbox
# collection: once none is left, look again this often (seconds), not at every poll of the
# relay (50 a second when idle), in case an older process still runs during an upgrade.
LEGACY_CHECK_EVERY = 5.0


def runs(seqs: list[int]) -> list[tuple[int, int]]:
    """Sorted distinct seqs as (first, last) runs of consecutive values."""
    found: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if found and seq == found[-1][1] + 1:
            found[-1][1] = seq
        else:
            found.append([seq, seq])
    return [(low, high) for low, high in found]


def _last(entry: dict[str, Any]) -> int:
    """An outbox entry's last seq; one written before entries were per batch has one."""
    return int(entry.get("last", entry["seq"]))


class MongoLog(MongoBase):
    _legacy_check_at = 0.0  # time.monotonic() of the next look for flagged statements

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
        """The outbox's first entries (a range of seqs per batch, not a high-water mark:
        seqs commit out of order here), each read back from the statements by its range;
        then statements stored before the outbox existed, by their flag.

        An entry whose range holds no statement was erased before it was published: there
        is nothing to publish, so it goes (its statements committed with it, and were read
        after it, so they are not merely in flight)."""
        records: dict[int, LogRecord] = {}
        gone: list[int] = []
        for entry in self._outbox.find({"seq": {"$gte": 0}}).sort("seq", 1).limit(limit):
            if len(records) >= limit:
                break
            found = self._records_between(
                int(entry["seq"]), _last(entry), limit - len(records)
            )
            if not found:
                gone.append(entry["_id"])
            records.update((r.offset, r) for r in found)
        if gone:
            self._outbox.delete_many({"_id": {"$in": gone}})
        if time.monotonic() >= self._legacy_check_at:
            legacy = list(
                self._statements.find({"published": False}, {"seq": 1, "learner": 1, "data": 1})
                .sort("seq", ASCENDING)
                .limit(limit)
            )
            if not legacy:  # see LEGACY_CHECK_EVERY
                self._legacy_check_at = time.monotonic() + LEGACY_CHECK_EVERY
            for r in legacy:
                records[int(r["seq"])] = LogRecord(int(r["seq"]), r["learner"], bytes(r["data"]))
        return [records[seq] for seq in sorted(records)[:limit]]

    def _records_between(self, low: int, high: int, limit: int) -> list[LogRecord]:
        rows = (
            self._statements.find(
                {"seq": {"$gte": low, "$lte": high}}, {"seq": 1, "learner": 1, "data": 1}
            )
            .sort("seq", ASCENDING)
            .limit(limit)
        )
        return [LogRecord(int(r["seq"]), r["learner"], bytes(r["data"])) for r in rows]

    def mark_published(self, records: list[LogRecord]) -> None:
        """Move each outbox entry the records fall in past the last of them, or delete it
        when that was its last seq. The records are what `unpublished` returned, or the
        first of them: within an entry, every statement below the last published one was
        published too (an entry commits with all its statements, so none appears below
        them later). Entries are found by range on the seq index: the one at or below the
        first record, and those starting up to the last. Statements stored before the
        outbox get their flag."""
        if not records:
            return
        seqs = sorted(r.offset for r in records)
        below = list(self._outbox.find({"seq": {"$lte": seqs[0]}}).sort("seq", -1).limit(1))
        within = self._outbox.find({"seq": {"$gt": seqs[0], "$lte": seqs[-1]}})
        writes: list[Any] = []
        for entry in below + list(within):
            start, last = int(entry["seq"]), _last(entry)
            published = [seq for seq in seqs if start <= seq <= last]
            if not published:
                continue
            if published[-1] >= last:
                writes.append(DeleteOne({"_id": entry["_id"]}))
            else:
                writes.append(
                    UpdateOne(
                        {"_id": entry["_id"]},
                        {"$set": {"seq": published[-1] + 1},
                         "$inc": {"n": -len(published)}},
                    )
                )  # fmt: skip
        if writes:
            self._outbox.bulk_write(writes, ordered=False)
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

    def _waiting(self) -> int:
        """Statements the outbox entries hold (an entry without `n` holds one seq)."""
        found = list(
            self._outbox.aggregate(
                [
                    {"$match": {"seq": {"$gte": 0}}},
                    {"$group": {"_id": None, "n": {"$sum": {"$ifNull": ["$n", 1]}}}},
                ]
            )
        )
        return int(found[0]["n"]) if found else 0

    def published_count(self) -> int:
        """Stored statements (the seq index) less the unpublished ones (the outbox, and the
        flag of statements stored before it). Counted in that order, a statement stored
        between the counts makes the answer smaller, never larger: the relay can only
        under-count, never see a loss that is not one (an erased statement still counted
        in its entry also makes it smaller)."""
        stored = self._statements.count_documents({"seq": {"$gte": 0}})
        waiting = self._waiting()
        legacy = self._statements.count_documents({"published": False})
        return int(stored - waiting - legacy)

    def count_after(self, after: int) -> int:
        high, _ = self._settled()  # what read_log would return: below the settled watermark
        return int(self._statements.count_documents({"seq": {"$gt": after, "$lte": high}}))

    def unpublished_count(self) -> int:
        """The outbox's entries, and statements stored before it existed still flagged."""
        return self._waiting() + int(self._statements.count_documents({"published": False}))

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
