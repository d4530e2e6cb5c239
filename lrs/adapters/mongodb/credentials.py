"""The credentials port on MongoDB, and the organisation lookups the write path caches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING

from lrs.adapters.mongodb.base import CREDENTIALS_COUNTER, MongoBase
from lrs.domain.records import Credential
from lrs.domain.times import format_stored


class MongoCredentials(MongoBase):
    def list_credentials(self) -> list[Credential]:
        return [_credential(doc) for doc in self._credentials.find({}).sort("_id", ASCENDING)]

    def credentials_version(self) -> str:
        """A counter every `save_credential` bumps (one _id lookup, however many there are)."""
        counter = self._counters.find_one({"_id": CREDENTIALS_COUNTER})
        return str(0 if counter is None else int(counter["value"]))

    def save_credential(self, credential: Credential) -> None:
        self._credentials.replace_one(
            {"_id": credential.key},
            {
                "name": credential.name,
                "scopes": list(credential.scopes),
                "org": credential.org,
                "secret_hash": credential.secret_hash,
                "created": credential.created or format_stored(datetime.now(UTC)),
                "role": credential.role,
                "audits": list(credential.audits),
                "expires": credential.expires,
                "revoked": credential.revoked,
                "previous_hash": credential.previous_hash,
                "previous_until": credential.previous_until,
                "last_used": credential.last_used,
            },
            upsert=True,
        )
        # After the save: a reader that saw the old version reloads on its next request.
        self._counters.update_one({"_id": CREDENTIALS_COUNTER}, {"$inc": {"value": 1}}, upsert=True)
        self._orgs.forget()

    def touch_credential(self, key: str, when: str) -> None:
        # Moves no version: no process drops its caches for a last-used time.
        self._credentials.update_one(
            {"_id": key, "$or": [{"last_used": None}, {"last_used": {"$lt": when}}]},
            {"$set": {"last_used": when}},
        )

    def _load_org(self, key: str) -> str | None:
        doc = self._credentials.find_one({"_id": key}, {"org": 1})
        return None if doc is None else doc.get("org")

    def get_credential(self, key: str) -> Credential | None:
        doc = self._credentials.find_one({"_id": key})
        return None if doc is None else _credential(doc)


def _credential(doc: dict[str, Any]) -> Credential:
    return Credential(
        doc["_id"],
        doc["name"],
        tuple(doc["scopes"]),
        doc["org"],
        doc["secret_hash"],
        doc.get("role", "platform"),
        tuple(doc.get("audits", ())),
        created=doc.get("created") or "",
        expires=doc.get("expires"),
        revoked=doc.get("revoked"),
        previous_hash=doc.get("previous_hash") or "",
        previous_until=doc.get("previous_until"),
        last_used=doc.get("last_used"),
    )
