"""The forwarding port on MongoDB.

Collections (created on first use, outside any transaction): forward_rules {_id: rule id,
data: the rule's JSON bytes}; forward_state {_id: rule id, position, delivered, failed,
dead, attempts, next_attempt, last_error, updated}; forward_dead {_id: "<rule>:<offset>",
rule_id, position, statement_id, data, attempts, error, at, replay}, indexed by (rule_id,
position). Dead letters and the offset past them commit in one transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import Binary
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

from lrs.adapters.mongodb.base import NAMESPACE_EXISTS, MongoBase
from lrs.domain.forwarding import DeadLetter, ForwardRule, ForwardState
from lrs.domain.times import format_stored
from lrs.ops.forwarding import rule_from_record, rule_record


def _now() -> str:
    return format_stored(datetime.now(UTC))


def _letter(doc: dict[str, Any]) -> DeadLetter:
    return DeadLetter(
        doc["rule_id"],
        int(doc["position"]),
        doc["statement_id"],
        bytes(doc["data"]),
        int(doc["attempts"]),
        doc["error"],
        doc["at"],
        bool(doc.get("replay", False)),
    )


class MongoForwarding(MongoBase):
    _forwarding_ready = False

    def _forwarding(
        self,
    ) -> tuple[Collection[dict[str, Any]], Collection[dict[str, Any]], Collection[dict[str, Any]]]:
        rules, state, dead = (
            self._db["forward_rules"],
            self._db["forward_state"],
            self._db["forward_dead"],
        )
        if not self._forwarding_ready:
            for collection in (rules, state, dead):
                try:
                    self._db.create_collection(collection.name, check_exists=False)
                except OperationFailure as exc:
                    if exc.code != NAMESPACE_EXISTS:
                        raise
            dead.create_index([("rule_id", ASCENDING), ("position", ASCENDING)])
            self._forwarding_ready = True
        return rules, state, dead

    def save_forward_rule(self, rule: ForwardRule) -> None:
        rules, _, _ = self._forwarding()
        rules.replace_one({"_id": rule.id}, {"data": Binary(rule_record(rule))}, upsert=True)

    def get_forward_rule(self, rule_id: str) -> ForwardRule | None:
        rules, _, _ = self._forwarding()
        doc = rules.find_one({"_id": rule_id})
        return None if doc is None else rule_from_record(bytes(doc["data"]))

    def list_forward_rules(self) -> list[ForwardRule]:
        rules, _, _ = self._forwarding()
        return [rule_from_record(bytes(d["data"])) for d in rules.find().sort("_id", ASCENDING)]

    def delete_forward_rule(self, rule_id: str) -> bool:
        rules, state, dead = self._forwarding()
        deleted = rules.delete_one({"_id": rule_id}).deleted_count
        state.delete_one({"_id": rule_id})
        dead.delete_many({"rule_id": rule_id})
        return bool(deleted)

    def forward_state(self, rule_id: str) -> ForwardState:
        _, state, _ = self._forwarding()
        doc = state.find_one({"_id": rule_id})
        return ForwardState(rule_id) if doc is None else _state(doc)

    def record_delivery(self, rule_id: str, offset: int, delivered: int) -> None:
        _, state, _ = self._forwarding()
        state.update_one(
            {"_id": rule_id},
            {
                "$max": {"position": offset},
                "$inc": {"delivered": delivered},
                "$set": {"attempts": 0, "next_attempt": 0.0, "updated": _now()},
            },
            upsert=True,
        )

    def record_failure(self, rule_id: str, error: str, next_attempt: float) -> int:
        _, state, _ = self._forwarding()
        doc = state.find_one_and_update(
            {"_id": rule_id},
            {
                "$inc": {"failed": 1, "attempts": 1},
                "$set": {"next_attempt": next_attempt, "last_error": error, "updated": _now()},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None  # upserted
        return int(doc["attempts"])

    def rewind_forwarding(self, rule_id: str, offset: int) -> None:
        _, state, _ = self._forwarding()
        state.update_one(
            {"_id": rule_id},
            {
                "$set": {
                    "position": max(offset, 0),
                    "attempts": 0,
                    "next_attempt": 0.0,
                    "updated": _now(),
                }
            },
            upsert=True,
        )

    def dead_letter(self, rule_id: str, letters: list[DeadLetter], offset: int) -> None:
        _, state, dead = self._forwarding()

        def work(session: ClientSession) -> None:
            new = 0
            for letter in letters:
                result = dead.update_one(
                    {"_id": f"{rule_id}:{letter.offset}"},
                    {
                        "$set": {
                            "attempts": letter.attempts,
                            "error": letter.error,
                            "at": letter.at,
                            "replay": False,
                        },
                        "$setOnInsert": {
                            "rule_id": rule_id,
                            "position": letter.offset,
                            "statement_id": letter.statement_id,
                            "data": Binary(letter.data),
                        },
                    },
                    upsert=True,
                    session=session,
                )
                new += result.upserted_id is not None
            state.update_one(
                {"_id": rule_id},
                {
                    "$max": {"position": offset},
                    "$inc": {"dead": new},
                    "$set": {"attempts": 0, "next_attempt": 0.0, "updated": _now()},
                },
                upsert=True,
                session=session,
            )

        self._transaction(work)

    def list_dead_letters(
        self, rule_id: str, after: int = 0, limit: int = 100, replay_only: bool = False
    ) -> list[DeadLetter]:
        _, _, dead = self._forwarding()
        query: dict[str, Any] = {"rule_id": rule_id, "position": {"$gt": after}}
        if replay_only:
            query["replay"] = True
        rows = dead.find(query).sort("position", ASCENDING).limit(limit)
        return [_letter(doc) for doc in rows]

    def mark_dead_letters_for_replay(self, rule_id: str, offsets: list[int] | None) -> int:
        _, _, dead = self._forwarding()
        query: dict[str, Any] = {"rule_id": rule_id}
        if offsets is not None:
            query["position"] = {"$in": offsets}
        return int(dead.update_many(query, {"$set": {"replay": True}}).matched_count)

    def remove_dead_letters(self, rule_id: str, offsets: list[int]) -> None:
        _, state, dead = self._forwarding()
        removed = dead.delete_many({"rule_id": rule_id, "position": {"$in": offsets}})
        if removed.deleted_count:
            state.update_one(
                {"_id": rule_id},
                [
                    {
                        "$set": {
                            "dead": {"$max": [{"$subtract": ["$dead", removed.deleted_count]}, 0]},
                            "updated": _now(),
                        }
                    }
                ],
            )

    def redact_dead_letters(
        self, rule_id: str, deleted: list[int], rewritten: dict[int, bytes]
    ) -> None:
        _, state, dead = self._forwarding()

        def work(session: ClientSession) -> None:
            removed = dead.delete_many(
                {"rule_id": rule_id, "position": {"$in": deleted}}, session=session
            ).deleted_count
            for offset, data in rewritten.items():
                dead.update_one(
                    {"_id": f"{rule_id}:{offset}"}, {"$set": {"data": Binary(data)}}, session=session
                )
            if removed:
                state.update_one(
                    {"_id": rule_id},
                    {"$inc": {"dead": -removed}, "$set": {"updated": _now()}},
                    session=session,
                )

        self._transaction(work)

    def log_offset_before(self, stored: str) -> int:
        doc = self._statements.find_one(
            {"stored": {"$lt": stored}, "seq": {"$exists": True}},
            {"seq": 1},
            sort=[("stored", DESCENDING), ("seq", DESCENDING)],
        )
        return 0 if doc is None else int(doc["seq"])

    def log_end(self) -> int:
        high, _ = self._settled()
        return int(high)


def _state(doc: dict[str, Any]) -> ForwardState:
    return ForwardState(
        doc["_id"],
        int(doc.get("position", 0)),
        int(doc.get("delivered", 0)),
        int(doc.get("failed", 0)),
        int(doc.get("dead", 0)),
        int(doc.get("attempts", 0)),
        float(doc.get("next_attempt", 0.0)),
        doc.get("last_error"),
        doc.get("updated"),
    )
