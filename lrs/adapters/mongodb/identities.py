"""The identities port on MongoDB: learner keys linked into persons."""

from __future__ import annotations

from pymongo.client_session import ClientSession

from lrs.adapters.mongodb.base import MongoBase


class MongoIdentities(MongoBase):
    def link_keys(self, person: str, keys: list[str]) -> None:
        def work(session: ClientSession) -> None:
            for key in keys:
                self._links.replace_one(
                    {"_id": key}, {"_id": key, "person": person}, upsert=True, session=session
                )

        self._transaction(work)

    def unlink_key(self, key: str) -> str | None:
        doc = self._links.find_one_and_delete({"_id": key})
        return None if doc is None else str(doc["person"])

    def person_of(self, key: str) -> str | None:
        doc = self._links.find_one({"_id": key})
        return None if doc is None else str(doc["person"])

    def keys_of(self, person: str) -> list[str]:
        return sorted(doc["_id"] for doc in self._links.find({"person": person}, {"_id": 1}))
