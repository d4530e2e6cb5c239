"""The projections port on MongoDB: changes decided by lrs.ops.projections.

Recorded order: each contribution gets `n`, taken from a per-projection counter document
(`counters`, `{_id: "contributions:<projection>"}`) with `$inc`, outside the transaction so
that concurrent processors of one projection do not all conflict on it, but after the
transaction's first read (its snapshot). Two transactions that add contributions under one
key both write that key's state document, so one of them started after the other committed
(or hit a WriteConflict and was run again): the later one takes its `n` after the earlier
one's, and `n` follows the order in which a key's contributions were recorded, as SQLite's
`ORDER BY n` does. Across keys, `n` is the order in which concurrent transactions took
their numbers. MongoDB promises neither for ObjectIds (`_id`), so nothing sorts on them.
A retried transaction takes new numbers; the gaps are harmless.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson
from bson import Binary
from pymongo import ASCENDING, ReplaceOne, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from lrs.adapters.mongodb.base import MongoBase, in_chunks
from lrs.domain.records import (
    Contribution,
    Retraction,
    StateQuery,
)
from lrs.ops.projections import apply_projection_changes


def contribution_counter(projection: str) -> str:
    return f"contributions:{projection}"


def allocate_contributions(store: MongoBase, projection: str, count: int) -> int:
    """Take `count` consecutive contribution numbers of `projection`; return the first.
    Outside any transaction (no session), like the statements' seqs."""
    selector = {"_id": contribution_counter(projection)}
    for attempt in range(5):
        counter = store._counters.find_one_and_update(
            selector, {"$inc": {"value": count}}, return_document=ReturnDocument.AFTER
        )
        if counter is not None:
            return int(counter["value"]) - count + 1
        # The projection's first numbers: create the counter, then take them as above (an
        # upserting $inc raced by another process's may fail with DuplicateKeyError).
        try:
            store._counters.update_one(selector, {"$setOnInsert": {"value": 0}}, upsert=True)
        except DuplicateKeyError:  # another process created it at the same moment
            time.sleep(0.01 * (attempt + 1))
    raise RuntimeError(f"cannot create the contribution counter of {projection!r}")



def state_document(
    reducer: Any, name: str, key: str, state: dict[str, Any], encoded: bytes | None = None
) -> dict[str, Any]:
    """A projection state as stored: the encoded state and its `idx` entries (the reducer's
    index fields, what the state queries filter on). `encoded`: the state already encoded."""
    return {
        "projection": name,
        "key": key,
        "state": Binary(encoded if encoded is not None else orjson.dumps(state)),
        "idx": [
            {"f": field_name, "v": value}
            for field_name, values in reducer.index(state).items()
            for value in values
        ],
    }

class MongoProjections(MongoBase):
    def apply_changes(
        self,
        reducer: Any,
        changes: list[Contribution | Retraction],
        offset: tuple[str, int] | None = None,
    ) -> None:
        name = reducer.name

        def work(session: ClientSession) -> None:
            tx = MongoProjection(self, session, name, changes)
            states = apply_projection_changes(reducer, changes, tx)
            tx.flush()
            writes: list[ReplaceOne[dict[str, Any]]] = []
            gone: list[str] = []
            for key, state in states.items():
                if state is None:
                    gone.append(key)
                    continue
                encoded = orjson.dumps(state)
                if tx.loaded.get(key) == encoded:
                    # Folded into the same state (a competency no rule matched, a known
                    # membership): rewriting it would cost the database its index entries.
                    continue
                writes.append(
                    ReplaceOne(
                        {"projection": name, "key": key},
                        state_document(reducer, name, key, state, encoded),
                        upsert=True,
                    )
                )
            if gone:
                self._states.delete_many(
                    {"projection": name, "key": {"$in": gone}}, session=session
                )
            # In commands of IN_CHUNK states, not one per batch: SecantusDB lets no other
            # client's transaction statement or retryable write run while one transaction
            # statement runs (its transaction registry), and a batch's state upserts in one
            # command kept the API's batches waiting up to 26 s behind the worker
            # (benchmarks/PIPELINE.md, "where the scaled-out path waits"). Still one
            # transaction: all of them commit, or none.
            for chunk in in_chunks(writes):
                self._states.bulk_write(chunk, ordered=False, session=session)
            if offset is not None:
                self._offsets.update_one(
                    {"_id": offset[0]},
                    {"$max": {"position": offset[1]}},
                    upsert=True,
                    session=session,
                )

        self._transaction(work)

    def get_state(self, projection: str, key: str) -> dict[str, Any] | None:
        doc = self._states.find_one({"projection": projection, "key": key}, {"state": 1})
        return None if doc is None else orjson.loads(doc["state"])

    def list_states(self, projection: str, query: StateQuery) -> list[tuple[str, dict[str, Any]]]:
        conditions: list[dict[str, Any]] = [
            {"idx": {"$elemMatch": {"f": field_name, "v": value}}}
            for field_name, value in query.equals.items()
        ] + [
            {"idx": {"$elemMatch": {"f": field_name, "v": {"$gte": value}}}}
            for field_name, value in query.at_least.items()
        ]
        selector: dict[str, Any] = {"projection": projection, "key": {"$gt": query.after or ""}}
        if conditions:
            selector["$and"] = conditions
        rows = (
            self._states.find(selector, {"key": 1, "state": 1})
            .sort("key", ASCENDING)
            .limit(query.limit)
        )
        return [(r["key"], orjson.loads(r["state"])) for r in rows]

    def clear_projection(self, projection: str) -> None:
        def work(session: ClientSession) -> None:
            for collection in (self._contributions, self._retractions, self._states):
                collection.delete_many({"projection": projection}, session=session)

        self._transaction(work)

    def get_contributions(self, projection: str, keys: list[str]) -> list[Contribution]:
        """`voided` is checked here, not in the filter: SecantusDB answers `key: {$in}`
        beside `voided` by scanning every contribution (tests/integration/test_mongo_plans.py),
        and the worker's competency refresh asks this for every person of every batch."""
        rows = [
            r
            for chunk in in_chunks(keys)
            for r in self._contributions.find(
                {"projection": projection, "key": {"$in": chunk}},
                {"statement_id": 1, "key": 1, "data": 1, "voided": 1, "n": 1},
            )
            if not r["voided"]
        ]
        rows.sort(key=lambda r: r["n"])
        return [Contribution(r["statement_id"], r["key"], orjson.loads(r["data"])) for r in rows]


class MongoProjection:
    """`ProjectionTransaction` inside `apply_changes`' transaction.

    What is already recorded for the changes' statements is read once up front, and new
    contributions are inserted in one go, so a batch costs a few round trips, not a few per
    change; a retraction flushes first, because it reads the contributions back.
    """

    def __init__(
        self,
        store: MongoBase,
        session: ClientSession,
        name: str,
        changes: Sequence[Contribution | Retraction],
    ) -> None:
        self.store = store
        self.session = session
        self.name = name
        ids = list({change.statement_id for change in changes})
        self.retracted = {
            d["statement_id"]
            for d in store._retractions.find(
                {"projection": name, "statement_id": {"$in": ids}}, session=session
            )
        }
        self.recorded = {
            (d["statement_id"], d["key"])
            for d in store._contributions.find(
                {"projection": name, "statement_id": {"$in": ids}},
                {"statement_id": 1, "key": 1},
                session=session,
            )
        }
        keys = sorted({c.key for c in changes if isinstance(c, Contribution)})
        # Every state the contributions fold into, in one read rather than one per key.
        self.states: dict[str, dict[str, Any] | None] = dict.fromkeys(keys)
        self.loaded: dict[str, bytes] = {}  # each stored state as read (to skip rewriting it)
        for chunk in in_chunks(keys):
            for d in store._states.find(
                {"projection": name, "key": {"$in": chunk}}, {"key": 1, "state": 1}, session=session
            ):
                self.loaded[d["key"]] = d["state"]
                self.states[d["key"]] = orjson.loads(d["state"])
        self.pending: list[dict[str, Any]] = []
        self.kept: dict[str, bool] = {}  # retracted, yet stored and not voided (`is_retracted`)

    def flush(self) -> None:
        """Insert the pending contributions, numbered in the order they were added (`n`:
        see the module's docstring; the snapshot was taken by the reads in `__init__`)."""
        if self.pending:
            first = allocate_contributions(self.store, self.name, len(self.pending))
            for number, doc in enumerate(self.pending, first):
                doc["n"] = number
            for chunk in in_chunks(self.pending):  # as the states: see `apply_changes`
                self.store._contributions.insert_many(chunk, session=self.session)
            self.pending = []

    def load_state(self, key: str) -> dict[str, Any] | None:
        if key in self.states:  # read up front; each key is loaded once per transaction
            return self.states.pop(key)
        doc = self.store._states.find_one(
            {"projection": self.name, "key": key}, {"state": 1}, session=self.session
        )
        if doc is None:
            return None
        self.loaded[key] = doc["state"]
        state: dict[str, Any] = orjson.loads(doc["state"])
        return state

    def is_retracted(self, statement_id: str) -> bool:
        if statement_id not in self.retracted:
            return False
        kept = self.kept.get(statement_id)
        if kept is None:
            doc = self.store._statements.find_one(
                {"_id": statement_id}, {"seq": 1, "voided": 1}, session=self.session
            )  # a placeholder (no seq) is not a stored statement
            kept = doc is not None and "seq" in doc and not doc.get("voided")
            self.kept[statement_id] = kept
        return not kept

    def add_contribution(self, contribution: Contribution) -> bool:
        recorded = (contribution.statement_id, contribution.key)
        if recorded in self.recorded:
            return False
        self.recorded.add(recorded)
        self.pending.append(
            {
                "projection": self.name,
                "statement_id": contribution.statement_id,
                "key": contribution.key,
                "data": Binary(orjson.dumps(contribution.data)),
                "voided": False,
            }
        )
        return True

    def add_retraction(self, statement_id: str) -> bool:
        if statement_id in self.retracted:
            return False
        self.retracted.add(statement_id)
        self.store._retractions.insert_one(
            {"projection": self.name, "statement_id": statement_id}, session=self.session
        )
        return True

    def retract_contributions(self, statement_id: str) -> list[str]:
        self.flush()
        # The unique (projection, statement_id, key) index answers these; `voided` is
        # matched after it (SecantusDB scans a filter that names a field beyond the index).
        # `distinct` is allowed in a transaction on unsharded collections only (MongoDB 7).
        selector = {"projection": self.name, "statement_id": statement_id}
        keys = sorted(
            d["_id"]
            for d in self.store._contributions.aggregate(
                [{"$match": selector}, {"$match": {"voided": False}}, {"$group": {"_id": "$key"}}],
                session=self.session,
            )
        )
        if keys:  # setting voided on the already voided ones changes nothing
            self.store._contributions.update_many(
                selector, {"$set": {"voided": True}}, session=self.session
            )
        return keys

    def live_contributions(self, key: str) -> list[Contribution]:
        self.flush()
        rows = self.store._contributions.find(
            {"projection": self.name, "key": key, "voided": False},
            {"statement_id": 1, "data": 1},
            session=self.session,
        ).sort("n", ASCENDING)
        return [Contribution(r["statement_id"], key, orjson.loads(r["data"])) for r in rows]
