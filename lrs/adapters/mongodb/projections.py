"""The projections port on MongoDB: changes decided by lrs.ops.projections."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from bson import Binary
from pymongo import ASCENDING, ReplaceOne
from pymongo.client_session import ClientSession

from lrs.adapters.mongodb.base import MongoBase
from lrs.domain.records import (
    Contribution,
    Retraction,
    StateQuery,
)
from lrs.ops.projections import apply_projection_changes


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
                index = [
                    {"f": field_name, "v": value}
                    for field_name, values in reducer.index(state).items()
                    for value in values
                ]
                writes.append(
                    ReplaceOne(
                        {"projection": name, "key": key},
                        {
                            "projection": name,
                            "key": key,
                            "state": Binary(orjson.dumps(state)),
                            "idx": index,
                        },
                        upsert=True,
                    )
                )
            if gone:
                self._states.delete_many(
                    {"projection": name, "key": {"$in": gone}}, session=session
                )
            if writes:
                self._states.bulk_write(writes, ordered=False, session=session)
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
        rows = self._contributions.find(
            {"projection": projection, "key": {"$in": keys}, "voided": False},
            {"statement_id": 1, "key": 1, "data": 1},
        ).sort("_id", ASCENDING)
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
        changes: Iterable[Contribution | Retraction],
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
        self.pending: list[dict[str, Any]] = []
        self.kept: dict[str, bool] = {}  # retracted, yet stored and not voided (`is_retracted`)

    def flush(self) -> None:
        if self.pending:
            self.store._contributions.insert_many(self.pending, session=self.session)
            self.pending = []

    def load_state(self, key: str) -> dict[str, Any] | None:
        doc = self.store._states.find_one(
            {"projection": self.name, "key": key}, {"state": 1}, session=self.session
        )
        return None if doc is None else orjson.loads(doc["state"])

    def is_retracted(self, statement_id: str) -> bool:
        if statement_id not in self.retracted:
            return False
        kept = self.kept.get(statement_id)
        if kept is None:
            doc = self.store._statements.find_one(
                {"_id": statement_id, "data": {"$exists": True}},
                {"voided": 1},
                session=self.session,
            )
            kept = self.kept[statement_id] = doc is not None and not doc.get("voided")
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
        selector = {"projection": self.name, "statement_id": statement_id, "voided": False}
        keys = sorted(self.store._contributions.distinct("key", selector, session=self.session))
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
        ).sort("_id", ASCENDING)
        return [Contribution(r["statement_id"], key, orjson.loads(r["data"])) for r in rows]
