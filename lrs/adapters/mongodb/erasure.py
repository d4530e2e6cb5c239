"""The erasure port on MongoDB: the primitives lrs.ops.erasure and lrs.ops.retention use,
each batch of statements and each projection in one transaction."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

import orjson
from bson import Binary
from pymongo import ASCENDING
from pymongo.client_session import ClientSession

from lrs.adapters.mongodb.base import MongoBase, term_key
from lrs.adapters.mongodb.projections import MongoProjection, state_document
from lrs.domain.records import Contribution, ErasureReport, Retraction
from lrs.ops.projections import rebuild_after_erasure
from lrs.ports.erasure import REDACTIONS_OWED, DocumentRef, Redaction
from lrs.xapi import statements as xs
from lrs.xapi.redaction import FILED_UNDER


def _gone(keys: list[str]) -> list[str]:
    return sorted({term_key(kind, key) for kind in FILED_UNDER for key in keys})


def _naming(keys: list[str]) -> dict[str, Any]:
    """The statements filed under one of `keys` as agent or related agent."""
    return {"terms": {"$in": _gone(keys)}, "data": {"$exists": True}}


class MongoErasure(MongoBase):
    def statements_naming(self, keys: list[str], limit: int) -> list[dict[str, Any]]:
        rows = self._statements.find(_naming(keys), {"data": 1}).sort("seq", ASCENDING).limit(limit)
        return [orjson.loads(doc["data"]) for doc in rows]

    def redact_statements(self, keys: list[str], redaction: Redaction) -> tuple[int, int]:
        result: tuple[int, int] = self._transaction(
            functools.partial(self._redact, keys=keys, redaction=redaction)
        )
        return result

    def _redact(
        self, session: ClientSession, keys: list[str], redaction: Redaction
    ) -> tuple[int, int]:
        gone = set(_gone(keys))
        deleted = rewritten = 0
        if redaction.deleted:
            deleted = self._statements.delete_many(
                {"_id": {"$in": redaction.deleted}}, session=session
            ).deleted_count
        for sid, kept in redaction.rewritten.items():
            doc = self._statements.find_one({"_id": sid}, {"terms": 1}, session=session)
            if doc is None:
                continue
            rewritten += 1
            terms = {t for t in doc["terms"] if t not in gone}
            terms |= {term_key(kind, value) for kind, value in xs.index_terms(kept)}
            update = {
                "terms": sorted(terms),
                "data": Binary(orjson.dumps(kept)),
                "learner": xs.learner_key(kept),
            }
            self._statements.update_one({"_id": sid}, {"$set": update}, session=session)
        if redaction.untouched:
            self._statements.update_many(
                {"_id": {"$in": redaction.untouched}},
                {"$pull": {"terms": {"$in": sorted(gone)}}},
                session=session,
            )
        owed = redaction.owed()
        self._definitions.replace_one(
            {"_id": {"kind": REDACTIONS_OWED, "id": redaction.id}},
            {
                "_id": {"kind": REDACTIONS_OWED, "id": redaction.id},
                "kind": REDACTIONS_OWED,
                "id": redaction.id,
                "data": Binary(orjson.dumps(owed)),
            },
            upsert=True,
            session=session,
        )
        return deleted, rewritten

    def redactions_owed(self) -> list[Redaction]:
        docs = self._definitions.find({"_id.kind": REDACTIONS_OWED}).sort("_id.id", ASCENDING)
        return [Redaction.from_owed(orjson.loads(doc["data"])) for doc in docs]

    def settle_redactions(self, ids: list[str]) -> None:
        if ids:
            self._definitions.delete_many(
                {"_id": {"$in": [{"kind": REDACTIONS_OWED, "id": i} for i in ids]}}
            )

    def erase_from_projection(
        self, reducer: Any, deleted: list[str], rewritten: dict[str, dict[str, Any]]
    ) -> ErasureReport:
        return self._transaction(
            functools.partial(
                self._erase_projection, reducer=reducer, deleted=deleted, rewritten=rewritten
            )
        )

    def _erase_projection(
        self,
        session: ClientSession,
        reducer: Any,
        deleted: list[str],
        rewritten: dict[str, dict[str, Any]],
    ) -> ErasureReport:
        name = reducer.name
        report = ErasureReport()
        selector = {"projection": name, "statement_id": {"$in": deleted + list(rewritten)}}
        # `distinct` is allowed in a transaction on unsharded collections only (MongoDB 7).
        affected = {
            d["_id"]
            for d in self._contributions.aggregate(
                [{"$match": selector}, {"$group": {"_id": "$key"}}], session=session
            )
        }
        report.contributions_deleted = self._contributions.delete_many(
            selector, session=session
        ).deleted_count
        changes: list[Contribution | Retraction] = [Retraction(sid) for sid in deleted]
        changes += [Retraction(sid) for sid in rewritten]
        tx = MongoProjection(self, session, name, changes)
        states = rebuild_after_erasure(reducer, tx, deleted, rewritten, affected)
        tx.flush()
        gone = [key for key, state in states.items() if state is None]
        if gone:
            report.states_deleted = self._states.delete_many(
                {"projection": name, "key": {"$in": gone}}, session=session
            ).deleted_count
        for key, state in states.items():
            if state is None:
                continue
            report.states_rebuilt += 1
            self._states.replace_one(
                {"projection": name, "key": key},
                state_document(reducer, name, key, state),
                upsert=True,
                session=session,
            )
        return report

    def delete_unused_attachments(self, sha2s: list[str], besides: Iterable[str] = ()) -> int:
        """No index says which statements use an attachment, so the remaining statements
        are scanned (only when there are attachments to check)."""
        if not sha2s:
            return 0
        aside = set(besides)
        used: set[str] = set()
        for doc in self._statements.find({"data": {"$exists": True}}, {"data": 1}):
            if doc["_id"] in aside:
                continue
            data = bytes(doc["data"])
            used |= {sha2 for sha2 in sha2s if sha2.encode() in data}
        removed = 0
        for sha2 in sorted(set(sha2s) - used):
            meta = self._attachments.find_one_and_delete({"_id": sha2})
            if meta is not None:
                removed += 1
                self._chunks.delete_many(
                    {"_id": {"$in": [f"{sha2}:{n}" for n in range(int(meta["chunks"]))]}}
                )
        return removed

    def documents_naming(self, kinds: tuple[str, ...], key: str) -> list[DocumentRef]:
        docs = self._documents.find(
            {"kind": {"$in": list(kinds)}, "scope": {"$regex": re.escape(key)}},
            {"kind": 1, "scope": 1, "doc_id": 1},
        )
        return [DocumentRef(doc["kind"], doc["scope"], doc["doc_id"]) for doc in docs]

    def erase_documents(self, documents: list[DocumentRef]) -> int:
        removed = 0
        for doc in documents:
            selector = {"kind": doc.kind, "scope": doc.scope, "doc_id": doc.doc_id}
            if doc.updated is not None:
                selector["updated"] = doc.updated
            removed += self._documents.delete_one(selector).deleted_count
        return removed

    def forget_keys(self, keys: list[str], *, unless_named: bool = False) -> tuple[int, int]:
        if unless_named:
            unused = [k for k in keys if self._statements.find_one(_naming([k]), {"_id": 1}) is None]
            if not unused:
                return 0, 0
            return self._names.delete_many({"key": {"$in": unused}}).deleted_count, 0
        names = self._names.delete_many({"key": {"$in": keys}}).deleted_count
        links = self._links.delete_many({"_id": {"$in": keys}}).deleted_count
        return names, links

    def purge_erased(self) -> None:
        """Nothing to do here: the server reuses freed space (compaction is an operator's
        `compact`, outside a request)."""
