"""Statements, the write path: one transaction per batch, links decided by
lrs.ops.references, collisions arranged so concurrent writers deciding from each other's
absence conflict (and one is retried), attachments in chunks."""

from __future__ import annotations

from collections.abc import Collection as CollectionABC
from typing import Any

import orjson
from bson import Binary, ObjectId
from pymongo import ReplaceOne, UpdateOne
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from lrs.adapters.mongodb.base import MongoBase, WriteExpired, term_key
from lrs.domain.records import Attachment
from lrs.ops.references import plan_links
from lrs.ops.statements import PreparedBatch, new_statements, prepare_batch
from lrs.ports.statements import LinkNode
from lrs.xapi import statements as xs

_CHUNK = 8 * 1024 * 1024  # attachment chunk: half the BSON document limit


class MongoStatements(MongoBase):
    def save_statements(
        self,
        statements: list[dict[str, Any]],
        *,
        authority: dict[str, Any],
        credential: str,
        version: str,
        attachments: list[Attachment],
    ) -> list[str]:
        """Announce, take seqs, then write everything in one transaction (see the module)."""
        if not statements and not attachments:
            return []
        token, stored = self._begin_write()
        try:
            batch = prepare_batch(statements, stored=stored, authority=authority, version=version)
            first = self._allocate(len(batch.prepared)) if batch.prepared else 0
            self._transaction(
                lambda session: self._save_batch(
                    session, token, batch, first, credential, attachments
                )
            )
            return batch.ids
        except BaseException:
            try:  # a committed batch deleted it already; an unreachable server expires it
                self._writes.delete_one({"_id": token})
            except PyMongoError:
                pass
            raise

    def _save_batch(
        self,
        session: ClientSession,
        token: ObjectId,
        batch: PreparedBatch,
        first: int,
        credential: str,
        attachments: list[Attachment],
    ) -> list[str]:
        """One attempt at the batch's transaction; may run again after a write conflict.

        Decisions about other statements (voiding, terms inherited through StatementRefs)
        are made from reads, so each is paired with a write to the document read:
        a statement targeting an absent one upserts a placeholder with the target's id (the
        target's own insert then collides with it), and one targeting a stored statement
        bumps that statement's `referenced` (colliding with term propagation into it).
        """
        statements = self._statements
        if not self._writes.delete_one({"_id": token}, session=session).deleted_count:
            raise WriteExpired("the batch took longer than the write timeout; send it again")
        prepared = batch.prepared
        graph = MongoGraph(statements, session)
        new = new_statements(batch, graph)
        seqs = {s["id"]: first + i for i, s in enumerate(prepared)}
        new_ids = {s["id"] for s in new}
        target_of = {s["id"]: xs.statement_ref_target(s) for s in new}
        own_terms = {s["id"]: {term_key(k, v) for k, v in xs.index_terms(s)} for s in new}
        plan = plan_links(new, own_terms, credential, graph, self._orgs.orgs)
        terms, additions, void_stored = plan.terms, plan.additions, plan.void_stored

        touches = [
            UpdateOne({"_id": t}, {"$inc": {"referenced": 1}}, upsert=True)
            for t in sorted({t for t in target_of.values() if t is not None} - new_ids)
        ]
        if touches:
            statements.bulk_write(touches, ordered=False, session=session)
        if void_stored:
            # never a voiding statement: plan_links read each target's `voiding` in this
            # transaction (and bumped its `referenced`, so a change would conflict)
            statements.update_many(
                {"_id": {"$in": void_stored}}, {"$set": {"voided": True}}, session=session
            )
        if new:
            writes = []
            for s in new:
                sid = s["id"]
                voiding = xs.is_voiding(s)
                doc: dict[str, Any] = {
                    "seq": seqs[sid],
                    "stored": s["stored"],
                    "voided": sid in plan.voided,
                    "voiding": voiding,
                    "credential": credential,
                    "learner": xs.learner_key(s),
                    "terms": sorted(terms[sid]),
                    "data": Binary(orjson.dumps(s)),
                }
                if target_of[sid] is not None:
                    doc["ref_target"] = target_of[sid]
                writes.append(ReplaceOne({"_id": sid}, doc, upsert=True))
            statements.bulk_write(writes, session=session)
            # New statements only: a repeated one is neither in `new` nor published twice.
            self._outbox.insert_many(
                [{"_id": seqs[s["id"]], "seq": seqs[s["id"]]} for s in new],
                ordered=False,
                session=session,
            )
        if additions:
            statements.bulk_write(
                [
                    UpdateOne({"_id": rid}, {"$addToSet": {"terms": {"$each": sorted(add)}}})
                    for rid, add in additions.items()
                ],
                ordered=False,
                session=session,
            )
        self._merge_activities(session, new)
        names = sorted(
            {
                (key, agent["name"])
                for s in new
                for key, agent in xs.agents_named(s)
                if isinstance(agent.get("name"), str)
            }
        )
        if names:
            self._names.bulk_write(
                [
                    UpdateOne(
                        {"key": key, "name": name},
                        {"$setOnInsert": {"since": prepared[0]["stored"]}},
                        upsert=True,
                    )
                    for key, name in names
                ],
                ordered=False,
                session=session,
            )
        self._save_attachments(session, attachments)
        return [s["id"] for s in prepared]

    def _merge_activities(self, session: ClientSession, new: list[dict[str, Any]]) -> None:
        """Merge every definition in statement order; write only definitions that changed."""
        definitions = [d for s in new for d in xs.activity_definitions(s)]
        if not definitions:
            return
        current = {
            d["_id"]: orjson.loads(d["definition"])
            for d in self._activities.find(
                {"_id": {"$in": list({aid for aid, _ in definitions})}}, session=session
            )
        }
        merged = dict(current)
        for activity_id, definition in definitions:
            merged[activity_id] = xs.merge_definition(merged.get(activity_id), definition)
        changed = [aid for aid, d in merged.items() if current.get(aid) != d]
        if changed:
            self._activities.bulk_write(
                [
                    ReplaceOne(
                        {"_id": aid},
                        {"definition": Binary(orjson.dumps(merged[aid]))},
                        upsert=True,
                    )
                    for aid in changed
                ],
                ordered=False,
                session=session,
            )

    def _save_attachments(self, session: ClientSession, attachments: list[Attachment]) -> None:
        """Content-addressed and immutable: the first stored copy of a hash is kept."""
        unique = {a.sha2: a for a in reversed(attachments)}
        if not unique:
            return
        have = {
            d["_id"]
            for d in self._attachments.find(
                {"_id": {"$in": list(unique)}}, {"_id": 1}, session=session
            )
        }
        for sha2, attachment in unique.items():
            if sha2 in have:
                continue
            data = attachment.data
            count = (len(data) + _CHUNK - 1) // _CHUNK
            if count:
                self._chunks.bulk_write(
                    [
                        ReplaceOne(
                            {"_id": f"{sha2}:{n}"},
                            {"data": Binary(data[n * _CHUNK : (n + 1) * _CHUNK])},
                            upsert=True,
                        )
                        for n in range(count)
                    ],
                    session=session,
                )
            self._attachments.replace_one(
                {"_id": sha2},
                {"content_type": attachment.content_type, "length": len(data), "chunks": count},
                upsert=True,
                session=session,
            )


class MongoGraph:
    """`StatementGraph` inside the batch's transaction (placeholders have no `data`)."""

    _FIELDS = {"seq": 1, "terms": 1, "voiding": 1, "credential": 1, "ref_target": 1}

    def __init__(self, statements: Collection[dict[str, Any]], session: ClientSession) -> None:
        self._statements = statements
        self._session = session

    def _nodes(self, selector: dict[str, Any]) -> list[LinkNode]:
        """Stored statements only: a placeholder has no `seq` (nor `data`). Told apart here
        rather than in the filter, which stays one indexed clause (SecantusDB plans
        `{_id: {$in}, data: {$exists}}` as a collection scan; tests/integration/test_mongo_plans.py)."""
        return [
            LinkNode(
                d["_id"],
                frozenset(d["terms"]),
                d.get("ref_target"),
                bool(d.get("voiding")),
                d["credential"],
                int(d["seq"]),
            )
            for d in self._statements.find(selector, self._FIELDS, session=self._session)
            if "seq" in d
        ]

    def stored(self, ids: CollectionABC[str]) -> dict[str, LinkNode]:
        if not ids:
            return {}
        found = self._nodes({"_id": {"$in": sorted(ids)}})
        return {node.id: node for node in found}

    def referrers(self, ids: CollectionABC[str]) -> list[LinkNode]:
        return self._nodes({"ref_target": {"$in": sorted(ids)}}) if ids else []

    def contents(self, ids: CollectionABC[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        return {
            d["_id"]: orjson.loads(d["data"])
            for d in self._statements.find(
                {"_id": {"$in": sorted(set(ids))}}, {"data": 1}, session=self._session
            )
            if "data" in d  # not a placeholder
        }
