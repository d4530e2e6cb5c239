"""The erasure port on MongoDB: a person's data in chunks of transactions, per
lrs.xapi.erasure and lrs.ops.projections."""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson
from bson import Binary
from pymongo.client_session import ClientSession

from lrs.adapters.mongodb.base import MongoBase, term_key
from lrs.adapters.mongodb.projections import MongoProjection
from lrs.domain.records import (
    Contribution,
    ErasureReport,
    Retraction,
)
from lrs.ops.projections import rebuild_after_erasure
from lrs.xapi import statements as xs
from lrs.xapi.erasure import (
    AGENT_DOCUMENT_KINDS,
    FILED_UNDER,
    attachment_hashes,
    document_agent,
    erase_from_statement,
)

_ERASE_CHUNK = 500  # statements erased per transaction


class MongoErasure(MongoBase):
    def erase(self, keys: list[str], reducers: list[Any]) -> ErasureReport:
        """Statements first (one transaction), then what surrounds them, then the
        projections. Each step is idempotent, so running the erasure again finishes one
        that was interrupted between steps."""
        erased = frozenset(keys)
        report = ErasureReport()
        deleted: list[str] = []
        rewritten: dict[str, dict[str, Any]] = {}
        orphans: set[str] = set()
        while True:  # a bounded transaction per chunk: a person may have many statements
            chunk = self._transaction(lambda session: self._erase_statements(session, erased))
            deleted += chunk[0]
            rewritten.update(chunk[1])
            orphans |= chunk[2]
            if len(chunk[0]) + chunk[3] < _ERASE_CHUNK:
                break
        # counted outside the retried transaction, from what it returned
        report.statements_deleted = len(deleted)
        report.statements_pseudonymised = len(rewritten)
        report.attachments_deleted = self._erase_attachments(orphans)
        key_list = sorted(erased)
        report.agent_names_deleted = self._names.delete_many(
            {"key": {"$in": key_list}}
        ).deleted_count
        report.identity_links_deleted = self._links.delete_many(
            {"_id": {"$in": key_list}}
        ).deleted_count
        kinds = list(AGENT_DOCUMENT_KINDS)
        for key in key_list:
            for doc in self._documents.find(
                {"kind": {"$in": kinds}, "scope": {"$regex": re.escape(key)}},
                {"kind": 1, "scope": 1},
            ):
                if document_agent(doc["kind"], doc["scope"]) in erased:
                    report.documents_deleted += self._documents.delete_one(
                        {"_id": doc["_id"]}
                    ).deleted_count
        for reducer in reducers:
            counts = self._transaction(
                functools.partial(
                    self._erase_projection, reducer=reducer, deleted=deleted, rewritten=rewritten
                )
            )
            report.contributions_deleted += counts[0]
            report.states_deleted += counts[1]
            report.states_rebuilt += counts[2]
        return report

    def _erase_statements(
        self, session: ClientSession, erased: frozenset[str]
    ) -> tuple[list[str], dict[str, dict[str, Any]], set[str], int]:
        """Up to _ERASE_CHUNK statements naming them: deleted, rewritten (a processed
        statement no longer carries their terms, so the next chunk finds the rest), the
        attachments deleted ones used, and how many were kept."""
        gone = {term_key(kind, key) for kind in FILED_UNDER for key in erased}
        deleted: list[str] = []
        rewritten: dict[str, dict[str, Any]] = {}
        orphans: set[str] = set()
        rows = list(
            self._statements.find(
                {"terms": {"$in": sorted(gone)}, "data": {"$exists": True}},
                {"terms": 1, "data": 1},
                session=session,
            ).limit(_ERASE_CHUNK)
        )
        for doc in rows:
            data = orjson.loads(doc["data"])
            kept = erase_from_statement(data, erased)
            if kept is None:
                self._statements.delete_one({"_id": doc["_id"]}, session=session)
                deleted.append(doc["_id"])
                orphans |= attachment_hashes(data)
                continue
            terms = {t for t in doc["terms"] if t not in gone}
            update: dict[str, Any] = {"terms": sorted(terms)}
            if kept is not data:
                terms |= {term_key(kind, value) for kind, value in xs.index_terms(kept)}
                update = {
                    "terms": sorted(terms),
                    "data": Binary(orjson.dumps(kept)),
                    "learner": xs.learner_key(kept),
                }
                rewritten[doc["_id"]] = kept
            self._statements.update_one({"_id": doc["_id"]}, {"$set": update}, session=session)
        return deleted, rewritten, orphans, len(rows) - len(deleted)

    def _erase_attachments(self, orphans: set[str]) -> int:
        """Attachments no remaining statement refers to. No index says which statements use
        an attachment, so the remaining statements are scanned (only when there are any)."""
        if not orphans:
            return 0
        used: set[str] = set()
        for doc in self._statements.find({"data": {"$exists": True}}, {"data": 1}):
            data = bytes(doc["data"])
            used |= {sha2 for sha2 in orphans if sha2.encode() in data}
        removed = 0
        for sha2 in sorted(orphans - used):
            meta = self._attachments.find_one_and_delete({"_id": sha2})
            if meta is not None:
                removed += 1
                self._chunks.delete_many(
                    {"_id": {"$in": [f"{sha2}:{n}" for n in range(int(meta["chunks"]))]}}
                )
        return removed

    def _erase_projection(
        self,
        session: ClientSession,
        reducer: Any,
        deleted: list[str],
        rewritten: dict[str, dict[str, Any]],
    ) -> tuple[int, int, int]:
        name = reducer.name
        selector = {"projection": name, "statement_id": {"$in": deleted + list(rewritten)}}
        # `distinct` is allowed in a transaction on unsharded collections only (MongoDB 7).
        affected = {
            d["_id"]
            for d in self._contributions.aggregate(
                [{"$match": selector}, {"$group": {"_id": "$key"}}], session=session
            )
        }
        removed = self._contributions.delete_many(selector, session=session).deleted_count
        changes: list[Contribution | Retraction] = [Retraction(sid) for sid in deleted]
        changes += [Retraction(sid) for sid in rewritten]
        tx = MongoProjection(self, session, name, changes)
        states = rebuild_after_erasure(reducer, tx, deleted, rewritten, affected)
        tx.flush()
        gone = [key for key, state in states.items() if state is None]
        states_deleted = 0
        if gone:
            states_deleted = self._states.delete_many(
                {"projection": name, "key": {"$in": gone}}, session=session
            ).deleted_count
        for key, state in states.items():
            if state is None:
                continue
            index = [
                {"f": field_name, "v": value}
                for field_name, values in reducer.index(state).items()
                for value in values
            ]
            self._states.replace_one(
                {"projection": name, "key": key},
                {
                    "projection": name,
                    "key": key,
                    "state": Binary(orjson.dumps(state)),
                    "idx": index,
                },
                upsert=True,
                session=session,
            )
        return removed, states_deleted, len(states) - len(gone)
