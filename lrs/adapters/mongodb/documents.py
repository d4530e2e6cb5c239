"""The documents port on MongoDB: preconditions checked inside the write transaction
(lrs.domain.documents)."""

from __future__ import annotations

from typing import Any

from bson import Binary
from pymongo import ASCENDING
from pymongo.client_session import ClientSession

from lrs.adapters.mongodb.base import MongoBase
from lrs.domain.documents import Preconditions, etag_for
from lrs.domain.records import Document
from lrs.xapi.documents import merge_documents
from lrs.xapi.errors import NotFound


class MongoDocuments(MongoBase):
    def _read_document(
        self, kind: str, scope: str, doc_id: str, session: ClientSession | None = None
    ) -> Document | None:
        doc = self._documents.find_one(
            {"kind": kind, "scope": scope, "doc_id": doc_id}, session=session
        )
        if doc is None:
            return None
        return Document(bytes(doc["content"]), doc["content_type"], doc["etag"], doc["updated"])

    def get_document(self, kind: str, scope: str, doc_id: str) -> Document | None:
        return self._read_document(kind, scope, doc_id)

    def list_documents(self, kind: str, scope: str, since: str | None) -> list[str]:
        selector: dict[str, Any] = {"kind": kind, "scope": scope}
        if since is not None:
            selector["updated"] = {"$gt": since}
        rows = self._documents.find(selector, {"doc_id": 1}).sort("doc_id", ASCENDING)
        return [r["doc_id"] for r in rows]

    def put_document(
        self,
        kind: str,
        scope: str,
        doc_id: str,
        content: bytes,
        content_type: str,
        *,
        merge: bool,
        preconditions: Preconditions,
    ) -> Document:
        """Read, check and write in one transaction: a concurrent write to the same document
        conflicts, and the retry checks the preconditions against what it wrote."""

        def work(session: ClientSession) -> Document:
            current = self._read_document(kind, scope, doc_id, session)
            preconditions.check(current)
            body, body_type = content, content_type
            if merge:
                body = merge_documents(
                    current.content if current else None,
                    current.content_type if current else None,
                    content,
                    content_type,
                )
                body_type = "application/json"
            document = Document(body, body_type, etag_for(body), self._now_stored())
            self._documents.replace_one(
                {"kind": kind, "scope": scope, "doc_id": doc_id},
                {
                    "kind": kind,
                    "scope": scope,
                    "doc_id": doc_id,
                    "content": Binary(document.content),
                    "content_type": document.content_type,
                    "etag": document.etag,
                    "updated": document.updated,
                },
                upsert=True,
                session=session,
            )
            return document

        return self._transaction(work)

    def delete_document(
        self, kind: str, scope: str, doc_id: str, preconditions: Preconditions
    ) -> None:
        def work(session: ClientSession) -> None:
            current = self._read_document(kind, scope, doc_id, session)
            preconditions.check(current)
            if current is None:
                raise NotFound("no such document", "stateId" if kind == "state" else "profileId")
            self._documents.delete_one(
                {"kind": kind, "scope": scope, "doc_id": doc_id}, session=session
            )

        self._transaction(work)

    def delete_documents(self, kind: str, scope: str) -> None:
        self._transaction(
            lambda session: self._documents.delete_many(
                {"kind": kind, "scope": scope}, session=session
            )
        )
