"""The definitions port on MongoDB: frameworks and alignment rules by kind and id."""

from __future__ import annotations

from typing import Any

import orjson
from bson import Binary
from pymongo import ASCENDING

from lrs.adapters.mongodb.base import MongoBase


class MongoDefinitions(MongoBase):
    def put_definition(self, kind: str, definition_id: str, data: dict[str, Any]) -> None:
        self._definitions.replace_one(
            {"_id": {"kind": kind, "id": definition_id}},
            {
                "_id": {"kind": kind, "id": definition_id},
                "kind": kind,
                "id": definition_id,
                "data": Binary(orjson.dumps(data)),
            },
            upsert=True,
        )

    def get_definition(self, kind: str, definition_id: str) -> dict[str, Any] | None:
        doc = self._definitions.find_one({"_id": {"kind": kind, "id": definition_id}})
        return None if doc is None else orjson.loads(doc["data"])

    def list_definitions(self, kind: str) -> list[dict[str, Any]]:
        docs = self._definitions.find({"kind": kind}).sort("id", ASCENDING)  # (kind, id) index
        return [orjson.loads(doc["data"]) for doc in docs]

    def delete_definition(self, kind: str, definition_id: str) -> bool:
        return bool(
            self._definitions.delete_one({"_id": {"kind": kind, "id": definition_id}}).deleted_count
        )
