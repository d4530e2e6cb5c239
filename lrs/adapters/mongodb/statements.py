"""Statements, the write path: one transaction per batch, links decided by
lrs.ops.references, collisions arranged so concurrent writers deciding from each other's
absence conflict (and one is retried), attachments in chunks.

Activity definitions and agent names are merged in a transaction of their own, after the
batch's: concurrent batches about the same activities otherwise collide on those documents
(WriteConflict, and the whole batch runs again; benchmarks/MONGO_BUDGET.md), although neither
is part of what a statement's acknowledgement promises. The batch's transaction records a
`merges` marker, which the merge deletes in its own transaction, so a merge is done exactly
once: by the batch's writer right after its commit, or, if that process died or the merge
failed, by `_redo_merges` in a later writer (a merge redone late never overrides a newer
definition: see `_merge_activities`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection as CollectionABC
from typing import Any

import orjson
from bson import Binary, ObjectId
from pymongo import InsertOne, ReplaceOne, UpdateOne
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from lrs.adapters.mongodb.base import MongoBase, WriteExpired, in_chunks, term_key
from lrs.domain.records import Attachment
from lrs.ops.references import plan_links
from lrs.ops.statements import PreparedBatch, new_statements, prepare_batch
from lrs.ports.statements import LinkNode
from lrs.xapi import statements as xs

_CHUNK = 8 * 1024 * 1024  # attachment chunk: half the BSON document limit

log = logging.getLogger(__name__)


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
        self._redo_merges_due()
        token, stored = self._begin_write()
        try:
            batch = prepare_batch(statements, stored=stored, authority=authority, version=version)
            first = self._allocate(len(batch.prepared)) if batch.prepared else 0
            to_merge = self._transaction(
                lambda session: self._save_batch(
                    session, token, batch, first, credential, attachments
                )
            )
        except BaseException:
            try:  # a committed batch deleted it already; an unreachable server expires it
                self._writes.delete_one({"_id": token})
            except PyMongoError:
                pass
            raise
        if to_merge:
            try:
                self._merge(token, to_merge, late=False)
            except PyMongoError as exc:  # stored and acknowledged: the marker has the rest
                log.warning("merging the definitions of batch %s failed (%s); redone later",
                            token, exc)  # fmt: skip
        return batch.ids

    def _save_batch(
        self,
        session: ClientSession,
        token: ObjectId,
        batch: PreparedBatch,
        first: int,
        credential: str,
        attachments: list[Attachment],
    ) -> list[dict[str, Any]]:
        """One attempt at the batch's transaction; may run again after a write conflict.
        Returns the new statements whose definitions or names are left to merge.

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
                # An insert costs SecantusDB a third less CPU than an upsert (no match, no
                # update path); only a placeholder, seen by the graph, is replaced.
                writes.append(
                    ReplaceOne({"_id": sid}, doc, upsert=True)
                    if sid in graph.placeholders
                    else InsertOne({"_id": sid, **doc})
                )
            # Inserted ids were absent from this snapshot: another writer storing or
            # targeting one meanwhile makes this insert a WriteConflict, and the retry sees
            # its document (a repeat, a conflict or a placeholder). Tested with two writers.
            statements.bulk_write(writes, session=session)
            # One entry for the batch's seqs (log.py); a repeated statement took a seq but
            # is not stored again, so it leaves a gap in the range, never a second record.
            self._outbox.insert_one(
                {"_id": first, "seq": first, "last": first + len(prepared) - 1, "n": len(new)},
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
        self._save_attachments(session, attachments)
        to_merge = [s for s in new if _definitions(s) or _names(s)]
        if to_merge:
            self._merges.insert_one(
                {"_id": token, "first": first, "last": first + len(prepared) - 1,
                 "at": time.time()},
                session=session,
            )  # fmt: skip
        return to_merge

    def _merge(self, token: ObjectId, statements: list[dict[str, Any]], *, late: bool) -> None:
        """Merge the batch's definitions and names, and delete its marker, in one transaction:
        a marker already gone means another writer merged this batch, so nothing is done.
        This process merges one batch at a time, so only other processes' merges collide."""
        definitions = [d for s in statements for d in _definitions(s)]
        names = sorted({name for s in statements for name in _names(s)})
        since = min((s["stored"] for s in statements), default="")

        def work(session: ClientSession) -> None:
            if not self._merges.delete_one({"_id": token}, session=session).deleted_count:
                return
            self._merge_activities(session, definitions, late=late)
            # Read first: most names are known, and SecantusDB spends three times the CPU
            # on an upsert that finds its document as on reading it (MONGO_BUDGET.md).
            known = {
                (d["key"], d["name"])
                for chunk in in_chunks(sorted({key for key, _ in names}))
                for d in self._names.find(
                    {"key": {"$in": chunk}}, {"key": 1, "name": 1}, session=session
                )
            }
            missing = [(key, name) for key, name in names if (key, name) not in known]
            if missing:
                self._names.bulk_write(
                    [
                        UpdateOne(
                            {"key": key, "name": name},
                            {"$setOnInsert": {"since": since}},
                            upsert=True,
                        )
                        for key, name in missing
                    ],
                    ordered=False,
                    session=session,
                )

        with self._merge_lock:
            self._transaction(work)

    def _redo_merges_due(self) -> None:
        """At most once per `write_timeout`, merge the batches whose writer left their merge
        undone for longer than that (it died between the two transactions, or its merge
        failed). A batch still being merged by a live writer is never that old."""
        now = time.monotonic()
        if now < self._next_redo:
            return
        self._next_redo = now + self._write_timeout
        self._redo_merges(time.time() - self._write_timeout)

    def _redo_merges(self, before: float) -> None:
        for marker in list(self._merges.find({"at": {"$lt": before}})):
            found = self._statements.find(
                {"seq": {"$gte": marker["first"], "$lte": marker["last"]}}, {"seq": 1, "data": 1}
            )
            statements = [orjson.loads(d["data"]) for d in sorted(found, key=lambda d: d["seq"])]
            self._merge(marker["_id"], statements, late=True)

    def _merge_activities(
        self, session: ClientSession, definitions: list[tuple[str, dict[str, Any]]], *, late: bool
    ) -> None:
        """Merge every definition in statement order; write only definitions that changed.
        `late`: merged under the current definition, whose values are newer than these."""
        if not definitions:
            return
        current = {
            d["_id"]: orjson.loads(d["definition"])
            for d in self._activities.find(
                {"_id": {"$in": list({aid for aid, _ in definitions})}}, session=session
            )
        }
        merged: dict[str, dict[str, Any]] = {} if late else dict(current)
        for activity_id, definition in definitions:
            merged[activity_id] = xs.merge_definition(merged.get(activity_id), definition)
        if late:
            merged = {aid: xs.merge_definition(d, current[aid]) if aid in current else d
                      for aid, d in merged.items()}  # fmt: skip
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


def _definitions(statement: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return list(xs.activity_definitions(statement))


def _names(statement: dict[str, Any]) -> list[tuple[str, str]]:
    """(agent key, name) of the named agents the Agents resource reports."""
    return [
        (key, agent["name"])
        for key, agent in xs.agents_named(statement)
        if isinstance(agent.get("name"), str)
    ]


class MongoGraph:
    """`StatementGraph` inside the batch's transaction (placeholders have no `data`)."""

    _FIELDS = {"seq": 1, "terms": 1, "voiding": 1, "credential": 1, "ref_target": 1}

    def __init__(self, statements: Collection[dict[str, Any]], session: ClientSession) -> None:
        self._statements = statements
        self._session = session
        self.placeholders: set[str] = set()  # ids that `contents` found with no statement

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
        found = list(
            self._statements.find(
                {"_id": {"$in": sorted(set(ids))}}, {"data": 1}, session=self._session
            )
        )
        self.placeholders.update(d["_id"] for d in found if "data" not in d)
        return {d["_id"]: orjson.loads(d["data"]) for d in found if "data" in d}
