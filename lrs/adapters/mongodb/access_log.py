"""The access-log port on MongoDB: entries sealed by lrs.ops.access_log, head moved in the
same transaction."""

from __future__ import annotations

import time
from typing import Any

import orjson
from bson import Binary
from pymongo import ASCENDING
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from lrs.adapters.mongodb.base import MongoBase
from lrs.domain.errors import StoreUnavailable
from lrs.domain.records import (
    GENESIS,
    AccessEntry,
    AccessHead,
    AccessQuery,
)
from lrs.ops.access_log import seal_access


class MongoAccessLog(MongoBase):
    def append_access(self, record: dict[str, Any]) -> AccessEntry:
        """Read the head, insert the entry and move the head in one transaction. Concurrent
        appenders collide on the head document (a write conflict, retried by the driver) or
        on the unique seq (retried here), so the chain never forks, across processes too."""

        def work(session: ClientSession) -> AccessEntry:
            head = self._access_head.find_one({"_id": "head"}, session=session)
            seq, prev = (int(head["seq"]), str(head["hash"])) if head else (0, GENESIS)
            entry = seal_access(record, seq + 1, prev)
            self._access_log.insert_one(_access_document(entry), session=session)
            if head is None:
                self._access_head.insert_one(
                    {"_id": "head", "seq": entry.seq, "hash": entry.hash}, session=session
                )
            elif not self._access_head.update_one(
                {"_id": "head", "seq": seq},
                {"$set": {"seq": entry.seq, "hash": entry.hash}},
                session=session,
            ).modified_count:
                raise DuplicateKeyError("the access log head moved")
            return entry

        with self._access_lock:  # appenders of this process queue here, not colliding
            for attempt in range(50):
                try:
                    return self._transaction(work)
                except DuplicateKeyError:
                    time.sleep(0.002 * attempt)
        raise StoreUnavailable("the access log is too busy to append to; retry", None)

    def read_access(self, query: AccessQuery) -> list[AccessEntry]:
        selector: dict[str, Any] = {"seq": {"$gt": query.after}}
        at: dict[str, str] = {}
        if query.since is not None:
            at["$gt"] = query.since
        if query.until is not None:
            at["$lte"] = query.until
        if at:
            selector["at"] = at
        if query.credential is not None:
            selector["credential"] = query.credential
        if query.learner is not None:
            selector["learner"] = query.learner
        if query.orgs:
            selector["org"] = {"$in": list(query.orgs)}
        rows = self._access_log.find(selector).sort("seq", ASCENDING).limit(query.limit)
        return [_access_entry(doc) for doc in rows]

    def access_head(self) -> AccessHead | None:
        doc = self._access_head.find_one({"_id": "head"})
        return None if doc is None else AccessHead(int(doc["seq"]), str(doc["hash"]))


def _access_document(entry: AccessEntry) -> dict[str, Any]:
    return {**entry.body(), "query": Binary(orjson.dumps(entry.query)), "hash": entry.hash}


def _access_entry(doc: dict[str, Any]) -> AccessEntry:
    """The query is kept as JSON bytes: BSON would reorder nothing, but may refuse keys."""
    return AccessEntry(
        int(doc["seq"]), doc["at"], doc["action"], doc["credential"], doc["name"], doc["role"],
        doc["org"], doc["what"], doc["learner"], orjson.loads(doc["query"]), int(doc["count"]),
        doc["prev"], doc["hash"],
    )  # fmt: skip
