"""The aggregates port on MongoDB: persons' rows and group counts in two collections,
changed with lrs.ops.aggregates in one transaction; statements re-contributed as an
erasure rewrites them."""

from __future__ import annotations

import re
import threading
from typing import Any

import orjson
from bson import Binary
from pymongo import ASCENDING, DeleteOne, ReplaceOne, UpdateOne
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

from lrs.adapters.mongodb.base import NAMESPACE_EXISTS, MongoBase, in_chunks
from lrs.adapters.mongodb.projections import MongoProjection, state_document
from lrs.ops.aggregates import NOW, recontributed_states, replaced_rows


class MongoAggregates(MongoBase):
    _aggregates_ready = False
    _aggregates_lock = threading.Lock()

    def _aggregate_collections(
        self,
    ) -> tuple[Collection[dict[str, Any]], Collection[dict[str, Any]]]:
        """Created on first use, outside any transaction (MongoDB 7 cannot create one in
        a cross-shard write transaction)."""
        rows, counts = self._db["aggregate_rows"], self._db["aggregate_counts"]
        with self._aggregates_lock:
            if not self._aggregates_ready:
                for collection in (rows, counts):
                    try:
                        self._db.create_collection(collection.name, check_exists=False)
                    except OperationFailure as exc:
                        if exc.code != NAMESPACE_EXISTS:
                            raise
                counts.create_index(
                    [("f", ASCENDING), ("d", ASCENDING), ("v", ASCENDING), ("day", ASCENDING)]
                )
                counts.create_index([("f", ASCENDING), ("d", ASCENDING), ("day", ASCENDING)])
                self._aggregates_ready = True
        return rows, counts

    def recontribute(self, reducer: Any, statements: dict[str, dict[str, Any]]) -> list[str]:
        if not statements:
            return []
        name, ids = reducer.name, list(statements)
        fresh = [c for s in statements.values() for c in reducer.contributions(s)]
        selector = {"projection": name, "statement_id": {"$in": ids}}

        def work(session: ClientSession) -> list[str]:
            keys = {
                d["key"] for d in self._contributions.find(selector, {"key": 1}, session=session)
            }
            self._contributions.delete_many(selector, session=session)
            tx = MongoProjection(self, session, name, fresh)
            states = recontributed_states(reducer, tx, fresh, keys)
            tx.flush()
            gone = [key for key, state in states.items() if state is None]
            if gone:
                self._states.delete_many({"projection": name, "key": {"$in": gone}}, session=session)
            for key, state in states.items():
                if state is None:
                    continue
                self._states.replace_one(
                    {"projection": name, "key": key},
                    state_document(reducer, name, key, state),
                    upsert=True,
                    session=session,
                )
            return sorted(states)

        return self._transaction(work)

    def put_aggregate_rows(self, framework: str, rows: dict[str, dict[str, Any] | None]) -> int:
        stored_rows, counts = self._aggregate_collections()
        entries = sorted(rows)

        def work(session: ClientSession) -> int:
            ids = [f"{framework}|{entry}" for entry in entries]
            old = {
                d["_id"].partition("|")[2]: orjson.loads(bytes(d["row"]))
                for chunk in in_chunks(ids)
                for d in stored_rows.find({"_id": {"$in": chunk}}, session=session)
            }
            replaced, totals = replaced_rows(old, rows)
            # One command for the rows (one each was a round trip per person re-placed).
            row_writes: list[DeleteOne | ReplaceOne[dict[str, Any]]] = []
            for entry, new in replaced.items():
                row_id = f"{framework}|{entry}"
                row_writes.append(
                    DeleteOne({"_id": row_id})
                    if new is None
                    else ReplaceOne(
                        {"_id": row_id},
                        {"_id": row_id, "row": Binary(orjson.dumps(new))},
                        upsert=True,
                    )
                )
            if row_writes:
                stored_rows.bulk_write(row_writes, ordered=False, session=session)
            touched = ["|".join((framework, *key)) for key, n in totals.items() if n]
            updates = [
                UpdateOne(
                    {"_id": "|".join((framework, *key))},
                    {
                        "$inc": {"n": n},
                        "$setOnInsert": {
                            "f": framework,
                            "d": key[0],
                            "v": key[1],
                            "day": key[2],
                            "c": key[3],
                        },
                    },
                    upsert=True,
                )
                for key, n in totals.items()
                if n
            ]
            if updates:
                counts.bulk_write(updates, ordered=False, session=session)
                counts.delete_many(
                    {"_id": {"$in": touched}, "n": 0},
                    session=session,
                )
            return len(replaced)

        return self._transaction(work)

    def erase_aggregate_rows(self, entries: list[str]) -> int:
        """Rows are filed as `<framework>|<entry>` (a framework id has no `|`, an entry
        may): an erasure is rare, so a scan of the row ids is acceptable."""
        stored_rows, _ = self._aggregate_collections()
        found: dict[str, dict[str, dict[str, Any] | None]] = {}
        for entry in entries:
            pattern = f"^[^|]+\\|{re.escape(entry)}$"
            for doc in stored_rows.find({"_id": {"$regex": pattern}}, {"_id": 1}):
                framework = str(doc["_id"]).partition("|")[0]
                found.setdefault(framework, {})[entry] = None
        return sum(self.put_aggregate_rows(f, rows) for f, rows in sorted(found.items()))

    def get_aggregate_rows(self, framework: str, entries: list[str]) -> dict[str, dict[str, Any]]:
        stored_rows, _ = self._aggregate_collections()
        ids = [f"{framework}|{entry}" for entry in entries]
        return {
            d["_id"].partition("|")[2]: orjson.loads(bytes(d["row"]))
            for d in stored_rows.find({"_id": {"$in": ids}})
        }

    def aggregate_counts(
        self, framework: str, dimension: str, value: str | None, before_day: str | None = None
    ) -> list[tuple[str, str, int]]:
        _, counts = self._aggregate_collections()
        match: dict[str, Any] = {"f": framework, "d": dimension}
        if value is not None:
            match["v"] = value
        match["day"] = NOW if before_day is None else {"$gt": NOW, "$lt": before_day}
        found = counts.aggregate(
            [
                {"$match": match},
                {"$group": {"_id": {"v": "$v", "c": "$c"}, "n": {"$sum": "$n"}}},
            ]
        )
        return [(d["_id"]["v"], d["_id"]["c"], int(d["n"])) for d in found if d["n"]]

    def clear_aggregates(self, framework: str) -> None:
        stored_rows, counts = self._aggregate_collections()
        stored_rows.delete_many({"_id": {"$regex": f"^{re.escape(framework)}\\|"}})
        counts.delete_many({"f": framework})
