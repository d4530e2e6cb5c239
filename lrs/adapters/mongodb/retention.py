"""The retention port on MongoDB: find what is older than a policy allows, and remove it.

Removing statements shares the erasure adapter's projection step and attachment sweep, so
retention and erasure leave projections in the same shape. Statements go in bounded
transactions; each step is idempotent, so the next run finishes an interrupted one.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from bson import Binary
from pymongo import ASCENDING
from pymongo.client_session import ClientSession

from lrs.adapters.mongodb.base import term_key
from lrs.adapters.mongodb.erasure import MongoErasure
from lrs.domain.records import ErasureReport
from lrs.ports.retention import StoredDocument, StoredStatement
from lrs.xapi import statements as xs
from lrs.xapi.redaction import FILED_UNDER, attachment_hashes

_CHUNK = 500  # statements per transaction
_AGENT_TERMS = tuple(f"{int(kind)}:" for kind in FILED_UNDER)


class MongoRetention(MongoErasure):
    def statements_stored_before(
        self, before: str, after_seq: int, limit: int
    ) -> list[StoredStatement]:
        rows = (
            self._statements.find(
                {"stored": {"$lt": before}, "seq": {"$gt": after_seq}, "data": {"$exists": True}},
                {"seq": 1, "credential": 1, "stored": 1, "data": 1},
            )
            .sort("seq", ASCENDING)
            .limit(limit)
        )
        return [
            StoredStatement(
                int(d["seq"]), d["_id"], d["credential"], d["stored"], orjson.loads(d["data"])
            )
            for d in rows
        ]

    def retire_statements(
        self, deleted: list[str], rewritten: dict[str, dict[str, Any]], reducers: list[Any] | None
    ) -> ErasureReport:
        report = ErasureReport()
        named: set[str] = set()  # agent keys the retired statements named
        gone: list[str] = []
        changed: list[str] = []
        orphans: set[str] = set()
        work: list[tuple[str, dict[str, Any] | None]] = [(sid, None) for sid in deleted]
        work += list(rewritten.items())
        for start in range(0, len(work), _CHUNK):
            chunk = work[start : start + _CHUNK]
            done = self._transaction(functools.partial(self._retire, chunk=chunk))
            gone += done[0]
            changed += done[1]
            orphans |= done[2]
            named |= done[3]
        report.statements_deleted = len(gone)
        report.statements_pseudonymised = len(changed)
        report.attachments_deleted = self._delete_unused(orphans, set())
        report.agent_names_deleted = self._forget_unused_names(named)
        if reducers is not None and (gone or changed):
            for reducer in reducers:
                counts = self.erase_from_projection(reducer, gone + changed, {})
                report.contributions_deleted += counts.contributions_deleted
                report.states_deleted += counts.states_deleted
                report.states_rebuilt += counts.states_rebuilt
        return report

    def _retire(
        self, session: ClientSession, chunk: list[tuple[str, dict[str, Any] | None]]
    ) -> tuple[list[str], list[str], set[str], set[str]]:
        gone: list[str] = []
        changed: list[str] = []
        orphans: set[str] = set()
        named: set[str] = set()
        for sid, kept in chunk:
            doc = self._statements.find_one(
                {"_id": sid, "data": {"$exists": True}}, {"data": 1, "terms": 1}, session=session
            )
            if doc is None:
                continue
            named.update(
                t.partition(":")[2] for t in doc.get("terms", []) if t.startswith(_AGENT_TERMS)
            )
            if kept is None:
                self._statements.delete_one({"_id": sid}, session=session)
                orphans |= attachment_hashes(orjson.loads(doc["data"]))
                gone.append(sid)
                continue
            terms = sorted({term_key(kind, value) for kind, value in xs.index_terms(kept)})
            self._statements.update_one(
                {"_id": sid},
                {
                    "$set": {
                        "terms": terms,
                        "data": Binary(orjson.dumps(kept)),
                        "learner": xs.learner_key(kept),
                    }
                },
                session=session,
            )
            changed.append(sid)
        return gone, changed, orphans, named

    def _forget_unused_names(self, named: set[str]) -> int:
        """The names of agents no stored statement names any more (their last one went)."""
        unused = [
            key
            for key in sorted(named)
            if self._statements.find_one(
                {"terms": {"$in": [term_key(kind, key) for kind in FILED_UNDER]}}, {"_id": 1}
            )
            is None
        ]
        if not unused:
            return 0
        return int(self._names.delete_many({"key": {"$in": unused}}).deleted_count)

    def delete_statement_attachments(self, ids: list[str]) -> int:
        used: set[str] = set()
        for doc in self._statements.find(
            {"_id": {"$in": ids}, "data": {"$exists": True}}, {"data": 1}
        ):
            used |= attachment_hashes(orjson.loads(doc["data"]))
        return self._delete_unused(used, set(ids))

    def _delete_unused(self, sha2s: set[str], besides: set[str]) -> int:
        """Attachments no stored statement other than `besides` refers to; no index says
        which statements use one, so the statements are scanned (only when there are any)."""
        if not sha2s:
            return 0
        used: set[str] = set()
        for doc in self._statements.find({"data": {"$exists": True}}, {"data": 1}):
            if doc["_id"] in besides:
                continue
            data = bytes(doc["data"])
            used |= {sha2 for sha2 in sha2s if sha2.encode() in data}
        removed = 0
        for sha2 in sorted(sha2s - used):
            meta = self._attachments.find_one_and_delete({"_id": sha2})
            if meta is not None:
                removed += 1
                self._chunks.delete_many(
                    {"_id": {"$in": [f"{sha2}:{n}" for n in range(int(meta["chunks"]))]}}
                )
        return removed

    def documents_updated_before(self, before: str) -> list[StoredDocument]:
        rows = self._documents.find(
            {"updated": {"$lt": before}}, {"kind": 1, "scope": 1, "doc_id": 1, "updated": 1}
        ).sort([("kind", ASCENDING), ("scope", ASCENDING), ("doc_id", ASCENDING)])
        return [StoredDocument(d["kind"], d["scope"], d["doc_id"], d["updated"]) for d in rows]

    def delete_expired_documents(self, documents: list[StoredDocument]) -> int:
        removed = 0
        for doc in documents:
            removed += self._documents.delete_one(
                {"kind": doc.kind, "scope": doc.scope, "doc_id": doc.doc_id, "updated": doc.updated}
            ).deleted_count
        return removed

    def prune_access(self, through: int) -> int:
        head = self._access_head.find_one({"_id": "head"})
        limit = min(through, int(head["seq"]) - 1) if head else 0
        return int(self._access_log.delete_many({"seq": {"$lte": limit}}).deleted_count)
