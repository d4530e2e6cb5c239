"""The scaled-out store: MongoDB (a replica set: multi-document transactions need one).

Several API processes may write at once, each with its own `MongoStore`. What SQLite gets
from its single writer, this adapter gets from the database:

* A batch is one multi-document transaction, committed with `w="majority", j=True`, so the
  API answers only once the batch is journaled on a majority (a kill -9 loses nothing
  acknowledged). Whatever one writer reads to decide something (is the target stored? is it
  voiding? which statements target this one?) is paired with a write to the same document,
  so two writers deciding from each other's absence always collide (WriteConflict) and one
  of them is retried by `with_transaction`: see `_save_batch`.
* `seq` (the log and cursor position) comes from a counter document, incremented outside
  the transaction by the batch size so writers do not queue behind one another. Seqs
  therefore commit out of order (and a failed batch leaves a gap); readers only look below
  a *settled* watermark, computed from a small collection of writes in flight (`_settled`),
  so a cursor or a log consumer never steps past a seq that commits later.
* Statements are kept as the stored JSON bytes (orjson) in a binary field, never as a BSON
  document: extension keys are IRIs with dots, and may contain `$`. The other fields exist
  for queries only.

Collections (all created with their indexes at start, idempotently):

statements      _id = statement id; seq, stored, voided, voiding, ref_target (only when the
                object is a StatementRef), credential, learner, terms (["<Term>:<value>"]),
                published, referenced (bumped by each statement that targets this one),
                data (stored JSON). A document with no `data` is a placeholder for a statement
                that was targeted before it arrived (see `_save_batch`); queries never see it.
                Indexes: (terms, seq), (seq) unique, (stored), (ref_target) sparse,
                (credential, seq), (published, seq) partial on published = false.
counters        {_id: "statements", value}: the last seq handed out.
writes          the batches in flight: {_id, floor, stored, at}; a batch deletes its own
                document inside its transaction.
attachments     {_id: sha2, content_type, length, chunks} and attachment_chunks
                {_id: "<sha2>:<n>", data}: written inside the batch's transaction (GridFS
                cannot be), in chunks well under the 16 MiB document limit.
activities      {_id: activity id, definition (JSON bytes)}: the merged canonical definition.
agent_names     {key, name, since}, unique (key, name).
documents       {kind, scope, doc_id, content, content_type, etag, updated}, unique
                (kind, scope, doc_id).
contributions   {projection, statement_id, key, data, voided}, unique (projection,
                statement_id, key); (projection, key, voided).
retractions     {projection, statement_id}, unique.
states          {projection, key, state, idx: [{f, v}]}, unique (projection, key);
                (projection, idx.f, idx.v).
offsets         {_id: consumer, position}; credentials {_id: key, ...}.
access_log      the hash-chained access log: {seq, at, action, credential, name, role, org,
                what, learner, query, count, prev, hash}, unique (seq); access_head
                {_id: "head", seq, hash}, moved in the same transaction as each append.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson
from bson import Binary, ObjectId
from pymongo import ASCENDING, DESCENDING, MongoClient, ReadPreference, ReplaceOne, UpdateOne
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from lrs.storage.base import (
    GENESIS,
    AccessEntry,
    AccessHead,
    AccessQuery,
    Attachment,
    Contribution,
    Credential,
    CredentialOrgs,
    Document,
    DocumentKind,
    ErasureReport,
    HistoryPage,
    HistoryQuery,
    HistoryRecord,
    LogRecord,
    Preconditions,
    Retraction,
    StatementPage,
    StatementQuery,
    StateQuery,
    StoreUnavailable,
    apply_projection_changes,
    etag_for,
    format_stored,
    history_terms,
    in_course,
    parse_stored,
    query_terms,
    rebuild_after_erasure,
    seal_access,
)
from lrs.xapi import statements as xs
from lrs.xapi.documents import merge_documents
from lrs.xapi.erasure import attachment_hashes, document_agent, erase_from_statement
from lrs.xapi.errors import NotFound
from lrs.xapi.statements import Term

T = TypeVar("T")

# Journaled on a majority before the API answers: SERVICES.md, kill -9 loses unjournaled writes.
DURABLE = WriteConcern(w="majority", j=True)
_COUNTER = "statements"
_CREDENTIALS_COUNTER = "credentials"  # bumped by every save_credential: credentials_version
_CHUNK = 8 * 1024 * 1024  # attachment chunk: half the BSON document limit
_ERASE_CHUNK = 500  # statements erased per transaction


class WriteExpired(RuntimeError):
    """A batch stayed in flight longer than `write_timeout`; readers stopped waiting for it.

    Its transaction is refused so that it can never become visible behind a watermark that
    readers already moved past. Nothing was stored: the client may send the batch again.
    """


def _term(kind: Term | int, value: str) -> str:
    return f"{int(kind)}:{value}"


def _chain_terms(bases: dict[str, set[str]], links: dict[str, str | None]) -> dict[str, set[str]]:
    """Each statement's terms: its own and those of every statement down its target chain.

    The fixpoint SQLite reaches one insert at a time (inherit the target's terms, push your
    own to whoever targets you), computed for a whole batch. `bases` holds the graph the
    batch touches; a chain that leaves it adds nothing, because a stored statement's terms
    already include those of its stored target. Chains may loop (ids are client-chosen).
    """
    terms: dict[str, set[str]] = {}
    for start in bases:
        union: set[str] = set()
        node: str | None = start
        seen: set[str] = set()
        while node is not None and node in bases and node not in seen:
            seen.add(node)
            union |= bases[node]
            node = links.get(node)
        terms[start] = union
    return terms


def _unavailable_as_503(cls: type[T]) -> type[T]:
    """Wrap every public method: a database that cannot be reached is StoreUnavailable."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except ConnectionFailure as exc:
                raise StoreUnavailable(
                    f"the database is unavailable ({type(exc).__name__}); retry shortly", None
                ) from exc

        return call

    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_"):
            setattr(cls, name, wrap(value))
    return cls


@_unavailable_as_503
class MongoStore:
    """`Store` on MongoDB. `url` is a MongoDB connection string naming the database.

    `clock_skew` is how far the clocks of the API hosts may disagree (NTP); `write_timeout`
    is how long a batch may stay in flight before readers stop holding the watermark for it.
    """

    def __init__(
        self,
        url: str,
        *,
        clock_skew: timedelta = timedelta(milliseconds=100),
        write_timeout: float = 60.0,
    ) -> None:
        # Fail fast while the database is away, so clients get a 503 to retry, not a hang.
        options = {} if "serverSelectionTimeoutMS" in url else {"serverSelectionTimeoutMS": 5000}
        self._client: MongoClient[dict[str, Any]] = MongoClient(url, **options)
        self._db = self._client.get_default_database(
            default="lrs",
            write_concern=DURABLE,
            read_concern=ReadConcern("majority"),
            read_preference=ReadPreference.PRIMARY,
        )
        db = self._db
        self._statements: Collection[dict[str, Any]] = db["statements"]
        self._counters: Collection[dict[str, Any]] = db["counters"]
        self._writes: Collection[dict[str, Any]] = db["writes"]
        self._attachments: Collection[dict[str, Any]] = db["attachments"]
        self._chunks: Collection[dict[str, Any]] = db["attachment_chunks"]
        self._activities: Collection[dict[str, Any]] = db["activities"]
        self._names: Collection[dict[str, Any]] = db["agent_names"]
        self._documents: Collection[dict[str, Any]] = db["documents"]
        self._contributions: Collection[dict[str, Any]] = db["contributions"]
        self._retractions: Collection[dict[str, Any]] = db["retractions"]
        self._states: Collection[dict[str, Any]] = db["states"]
        self._offsets: Collection[dict[str, Any]] = db["offsets"]
        self._credentials: Collection[dict[str, Any]] = db["credentials"]
        self._orgs = CredentialOrgs(self._load_org, self.credentials_version)
        self._definitions: Collection[dict[str, Any]] = db["definitions"]
        self._links: Collection[dict[str, Any]] = db["identity_links"]
        self._access_log: Collection[dict[str, Any]] = db["access_log"]
        self._access_head: Collection[dict[str, Any]] = db["access_head"]
        self._clock_skew = clock_skew
        self._write_timeout = write_timeout
        self._lock = threading.Lock()
        self._access_lock = threading.Lock()
        self._last_stored = ""
        self._seq_mark = 0  # every seq at or below it is committed or abandoned
        self._stored_mark = ""  # the last consistent_through this process answered
        try:
            self._create_indexes()
            try:  # before any batch: concurrent first upserts of one document may fail
                self._counters.update_one(
                    {"_id": _COUNTER}, {"$setOnInsert": {"value": 0}}, upsert=True
                )
            except DuplicateKeyError:  # another process created it at the same moment
                pass
        except ConnectionFailure as exc:
            self._client.close()
            raise StoreUnavailable(f"cannot reach MongoDB: {exc}", None) from exc

    def _create_indexes(self) -> None:
        s = self._statements
        s.create_index([("terms", ASCENDING), ("seq", ASCENDING)], name="terms_seq")
        s.create_index(
            [("seq", ASCENDING)],
            name="seq",
            unique=True,
            partialFilterExpression={"seq": {"$exists": True}},  # placeholders have none
        )
        s.create_index([("stored", ASCENDING)], name="stored")
        s.create_index([("ref_target", ASCENDING)], name="ref_target", sparse=True)
        s.create_index([("credential", ASCENDING), ("seq", ASCENDING)], name="credential_seq")
        s.create_index(
            [("published", ASCENDING), ("seq", ASCENDING)],
            name="unpublished_seq",
            partialFilterExpression={"published": False},
        )
        self._names.create_index([("key", ASCENDING), ("name", ASCENDING)], unique=True)
        self._documents.create_index(
            [("kind", ASCENDING), ("scope", ASCENDING), ("doc_id", ASCENDING)], unique=True
        )
        self._contributions.create_index(
            [("projection", ASCENDING), ("statement_id", ASCENDING), ("key", ASCENDING)],
            unique=True,
        )
        self._contributions.create_index(
            [("projection", ASCENDING), ("key", ASCENDING), ("voided", ASCENDING)]
        )
        self._retractions.create_index(
            [("projection", ASCENDING), ("statement_id", ASCENDING)], unique=True
        )
        self._states.create_index([("projection", ASCENDING), ("key", ASCENDING)], unique=True)
        self._links.create_index([("person", ASCENDING)])
        # Two appenders that read the same head both try the next seq: one of them fails.
        self._access_log.create_index([("seq", ASCENDING)], name="seq", unique=True)
        self._access_log.create_index([("at", ASCENDING)], name="at")
        self._access_log.create_index([("learner", ASCENDING), ("seq", ASCENDING)])
        self._access_log.create_index([("credential", ASCENDING), ("seq", ASCENDING)])
        self._states.create_index(
            [("projection", ASCENDING), ("idx.f", ASCENDING), ("idx.v", ASCENDING)]
        )

    def close(self) -> None:
        self._client.close()

    def _transaction(self, work: Callable[[ClientSession], T]) -> T:
        """Run `work` in one transaction; `with_transaction` retries it on write conflicts."""
        with self._client.start_session() as session:
            return session.with_transaction(
                work,
                read_concern=ReadConcern("snapshot"),
                write_concern=DURABLE,
                read_preference=ReadPreference.PRIMARY,
            )

    def _now_stored(self) -> str:
        """Stored times never go backwards in this process, even if the wall clock does."""
        with self._lock:
            self._last_stored = max(format_stored(datetime.now(UTC)), self._last_stored)
            return self._last_stored

    # writes in flight ------------------------------------------------------------------------
    def _begin_write(self) -> tuple[ObjectId, str]:
        """Announce a batch before it takes seqs or a stored time; return (token, stored).

        `floor` is the counter read now, so below every seq the batch will take (a stale
        value would be as safe, but would hold readers back further); the batch's stored
        time is taken after the announcement is durable, so it is not earlier than the
        announced one. `_settled` relies on both.
        """
        token = ObjectId()
        floor = self._read_counter()
        self._writes.insert_one(
            {"_id": token, "floor": floor, "stored": self._now_stored(), "at": time.time()}
        )
        return token, self._now_stored()

    def _read_counter(self) -> int:
        counter = self._counters.find_one({"_id": _COUNTER})
        return 0 if counter is None else int(counter["value"])

    def _allocate(self, count: int) -> int:
        """Take `count` consecutive seqs; return the first. Outside any transaction, so
        concurrent writers never conflict on the counter."""
        counter = self._counters.find_one_and_update(
            {"_id": _COUNTER}, {"$inc": {"value": count}}, upsert=True, return_document=True
        )
        return int(counter["value"]) - count + 1

    def _settled(self) -> tuple[int, str]:
        """(seq, stored) such that nothing at or below either can still appear.

        Read the clock, then the counter, then the writes in flight: a batch that is not in
        flight any more has committed (it deletes its announcement in its transaction) or
        been given up; one announced after this read takes a seq above the counter value
        read here and a stored time after this clock reading (up to `clock_skew` between
        hosts). Announcements older than `write_timeout` are deleted, which makes their
        transactions fail (`WriteExpired`) instead of committing late. Both marks only move
        forward in this process: a settled seq stays settled.
        """
        now = datetime.now(UTC)
        seq = self._read_counter()
        pending = list(self._writes.find({}, {"floor": 1, "stored": 1, "at": 1}))
        expired = [w["_id"] for w in pending if w["at"] < time.time() - self._write_timeout]
        if expired:
            self._writes.delete_many({"_id": {"$in": expired}})
            pending = [w for w in pending if w["_id"] not in expired]
        seq = min([seq] + [int(w["floor"]) for w in pending])
        stored = min(
            [format_stored(now - self._clock_skew)]
            + [
                format_stored(parse_stored(w["stored"]) - timedelta(milliseconds=1))
                for w in pending
            ]
        )
        with self._lock:
            self._seq_mark = max(self._seq_mark, seq)
            self._stored_mark = max(self._stored_mark, stored)
            return self._seq_mark, self._stored_mark

    # statements ------------------------------------------------------------------------------
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
            every = [
                xs.prepare(s, stored=stored, authority=authority, version=version)
                for s in statements
            ]
            prepared, incoming = xs.unique_in_batch(every, statements)
            first = self._allocate(len(prepared)) if prepared else 0
            self._transaction(
                lambda session: self._save_batch(
                    session, token, prepared, incoming, first, credential, attachments
                )
            )
            return [s["id"] for s in every]  # answered in order, repeats included
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
        prepared: list[dict[str, Any]],
        incoming: list[dict[str, Any]],
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
        ids = [s["id"] for s in prepared]
        found = {
            d["_id"]: d
            for d in statements.find({"_id": {"$in": list(set(ids))}}, {"data": 1}, session=session)
            if "data" in d
        }
        existing = {sid: orjson.loads(d["data"]) for sid, d in found.items()}
        targets = {t for s in prepared if (t := xs.statement_ref_target(s)) is not None}
        stored_targets = {
            d["_id"]: d
            for d in statements.find(
                {"_id": {"$in": list(targets)}, "data": {"$exists": True}},
                {"voiding": 1, "terms": 1, "ref_target": 1, "credential": 1},
                session=session,
            )
        }
        stored_voiding = {t for t, d in stored_targets.items() if d.get("voiding")}
        xs.check_batch(prepared, incoming, existing, stored_voiding)

        new = [s for s in prepared if s["id"] not in existing]
        seqs = {s["id"]: first + i for i, s in enumerate(prepared)}
        new_ids = {s["id"] for s in new}
        target_of = {s["id"]: xs.statement_ref_target(s) for s in new}
        voided_by_batch = set(xs.voiding_targets(new))
        own_terms = {s["id"]: {_term(k, v) for k, v in xs.index_terms(s)} for s in new}

        # The StatementRef graph the batch touches: the new statements, their stored targets,
        # and every stored statement whose chain of targets reaches a new one (found upwards).
        bases = {t: set(d["terms"]) for t, d in stored_targets.items()}
        links = {t: d.get("ref_target") for t, d in stored_targets.items()}
        bases.update(own_terms)
        links.update(target_of)
        # Who stored each statement of the graph: terms pass along a link only within one
        # organisation (CredentialOrgs).
        stored_by = {t: d["credential"] for t, d in stored_targets.items()}
        stored_by.update((sid, credential) for sid in new_ids)
        voiders: list[tuple[str, str]] = []  # (new statement, a stored one voiding it)
        expanded = set(new_ids)
        frontier = sorted(new_ids)
        while frontier:
            following: list[str] = []
            for ref in statements.find(
                {"ref_target": {"$in": frontier}},
                {"ref_target": 1, "voiding": 1, "terms": 1, "credential": 1},
                session=session,
            ):
                rid = ref["_id"]
                if ref["ref_target"] in new_ids and ref.get("voiding"):
                    voiders.append((ref["ref_target"], rid))
                stored_by.setdefault(rid, ref["credential"])
                bases.setdefault(rid, set(ref["terms"]))
                links[rid] = ref["ref_target"]
                if rid not in expanded:
                    expanded.add(rid)
                    following.append(rid)
            frontier = following
        keys = {credential, *stored_by.values()}
        org = self._orgs.orgs(keys) if len(keys) > 1 else dict.fromkeys(keys, "")
        links = {
            sid: target
            for sid, target in links.items()
            if target in stored_by and org[stored_by[sid]] == org[stored_by[target]]
        }
        # A statement voids another only within one organisation: a voiding statement of
        # another one (its target's id guessed) voids nothing, before or after the target.
        stored_voiders = {sid for sid, rid in voiders if org[stored_by[rid]] == org[credential]}
        void_stored = sorted(
            t
            for t in voided_by_batch & stored_targets.keys()
            if org[stored_by[t]] == org[credential]
        )
        terms = _chain_terms(bases, links)
        additions = {
            sid: terms[sid] - base
            for sid, base in bases.items()
            if sid not in new_ids and terms[sid] - base
        }

        touches = [
            UpdateOne({"_id": t}, {"$inc": {"referenced": 1}}, upsert=True)
            for t in sorted({t for t in target_of.values() if t is not None} - new_ids)
        ]
        if touches:
            statements.bulk_write(touches, ordered=False, session=session)
        if void_stored:
            statements.update_many(
                {"_id": {"$in": void_stored}, "voiding": False},
                {"$set": {"voided": True}},
                session=session,
            )
        if new:
            writes = []
            for s in new:
                sid = s["id"]
                voiding = xs.is_voiding(s)
                doc: dict[str, Any] = {
                    "seq": seqs[sid],
                    "stored": s["stored"],
                    "voided": not voiding and (sid in voided_by_batch or sid in stored_voiders),
                    "voiding": voiding,
                    "credential": credential,
                    "learner": xs.learner_key(s),
                    "terms": sorted(terms[sid]),
                    "published": False,
                    "data": Binary(orjson.dumps(s)),
                }
                if target_of[sid] is not None:
                    doc["ref_target"] = target_of[sid]
                writes.append(ReplaceOne({"_id": sid}, doc, upsert=True))
            statements.bulk_write(writes, session=session)
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
        return ids

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

    def get_statement(self, statement_id: str, *, voided: bool) -> bytes | None:
        doc = self._statements.find_one(
            {"_id": statement_id.lower(), "voided": voided}, {"data": 1}
        )
        return None if doc is None else bytes(doc["data"])

    def query_statements(self, query: StatementQuery) -> StatementPage:
        """Pages by seq, below the settled watermark; since/until filter on `stored` itself,
        which is not in seq order across processes."""
        high, _ = self._settled()
        low = 0
        if query.cursor is not None:
            if query.ascending:
                low = max(low, query.cursor + 1)
            else:
                high = min(high, query.cursor - 1)
        selector: dict[str, Any] = {"seq": {"$gte": low, "$lte": high}, "voided": False}
        terms = [_term(kind, value) for kind, value in query_terms(query)]
        if len(terms) == 1:
            selector["terms"] = terms[0]
        elif terms:
            selector["terms"] = {"$all": terms}  # the first, most selective, drives the index
        if query.authority is not None:
            selector["credential"] = query.authority
        visible = _credential_selector(query.credentials, query.exclude_credentials)
        if visible is not None:
            selector["$and"] = [{"credential": visible}]
        stored: dict[str, str] = {}
        if query.since is not None:
            stored["$gt"] = query.since
        if query.until is not None:
            stored["$lte"] = query.until
        if stored:
            selector["stored"] = stored
        rows = list(
            self._statements.find(selector, {"seq": 1, "data": 1})
            .sort("seq", ASCENDING if query.ascending else DESCENDING)
            .limit(query.limit + 1)
        )
        if len(rows) > query.limit:
            rows = rows[: query.limit]
            return StatementPage([bytes(r["data"]) for r in rows], int(rows[-1]["seq"]))
        return StatementPage([bytes(r["data"]) for r in rows], None)

    # organisations and learner history ------------------------------------------------------
    def list_credentials(self) -> list[Credential]:
        return [_credential(doc) for doc in self._credentials.find({}).sort("_id", ASCENDING)]

    def credentials_version(self) -> str:
        """A counter every `save_credential` bumps (one _id lookup, however many there are)."""
        counter = self._counters.find_one({"_id": _CREDENTIALS_COUNTER})
        return str(0 if counter is None else int(counter["value"]))

    def statement_history(self, query: HistoryQuery) -> HistoryPage:
        """By seq through the (terms, seq) index, below the settled watermark like
        `query_statements`; voided statements included, `stored` filtered on itself."""
        learners = [_term(Term.AGENT, key) for key in dict.fromkeys(query.learners)]
        if not learners:
            return HistoryPage([], None)
        high, _ = self._settled()
        conditions: list[dict[str, Any]] = [
            {"terms": learners[0] if len(learners) == 1 else {"$in": learners}}
        ]
        extra = [_term(kind, value) for kind, value in history_terms(query)]
        if extra:
            conditions.append({"terms": {"$all": extra}})
        visible = _credential_selector(query.credentials, query.exclude_credentials)
        if visible is not None:
            conditions.append({"credential": visible})
        stored: dict[str, str] = {}
        if query.since is not None:
            stored["$gt"] = query.since
        if query.until is not None:
            stored["$lte"] = query.until
        if stored:
            conditions.append({"stored": stored})
        fields = {"seq": 1, "stored": 1, "credential": 1, "voided": 1, "data": 1}
        records: list[HistoryRecord] = []
        chunk = query.limit + 1
        low = query.after + 1
        while low <= high:
            selector = {"$and": [{"seq": {"$gte": low, "$lte": high}}, *conditions]}
            rows = list(
                self._statements.find(selector, fields).sort("seq", ASCENDING).limit(chunk)
            )
            for row in rows:
                data = bytes(row["data"])
                if query.course is not None and not in_course(orjson.loads(data), query.course):
                    continue
                if len(records) == query.limit:
                    return HistoryPage(records, records[-1].seq)
                records.append(
                    HistoryRecord(
                        int(row["seq"]), row["stored"], row["credential"], bool(row["voided"]), data
                    )
                )
            if len(rows) < chunk:
                break
            low = int(rows[-1]["seq"]) + 1
        return HistoryPage(records, None)

    def get_attachments(self, sha2s: list[str]) -> list[Attachment]:
        if not sha2s:
            return []
        found: list[Attachment] = []
        metas = {d["_id"]: d for d in self._attachments.find({"_id": {"$in": list(set(sha2s))}})}
        for sha2 in dict.fromkeys(sha2s):
            meta = metas.get(sha2)
            if meta is None:
                continue
            names = [f"{sha2}:{n}" for n in range(int(meta["chunks"]))]
            chunks = {
                d["_id"]: bytes(d["data"]) for d in self._chunks.find({"_id": {"$in": names}})
            }
            found.append(
                Attachment(sha2, meta["content_type"], b"".join(chunks[name] for name in names))
            )
        return found

    def consistent_through(self) -> str:
        """Every statement stored at or before this time is visible now, whichever process
        stored it: the earliest stored time of the batches in flight (minus 1 ms), or now
        minus `clock_skew` when none is (see `_settled`)."""
        return self._settled()[1]

    def get_activity(self, activity_id: str) -> dict[str, Any] | None:
        doc = self._activities.find_one({"_id": activity_id})
        return None if doc is None else orjson.loads(doc["definition"])

    def get_agent_names(self, key: str) -> list[str]:
        return [d["name"] for d in self._names.find({"key": key}).sort("name", ASCENDING)]

    # the log and the outbox ------------------------------------------------------------------
    def read_log(self, after: int, limit: int) -> list[LogRecord]:
        """Only below the settled watermark, so a consumer's offset never passes a statement
        that commits later."""
        high, _ = self._settled()
        rows = (
            self._statements.find(
                {"seq": {"$gt": after, "$lte": high}}, {"seq": 1, "learner": 1, "data": 1}
            )
            .sort("seq", ASCENDING)
            .limit(limit)
        )
        return [LogRecord(int(r["seq"]), r["learner"], bytes(r["data"])) for r in rows]

    def unpublished(self, limit: int) -> list[LogRecord]:
        """A flag per statement, not a high-water mark: seqs commit out of order here."""
        rows = (
            self._statements.find({"published": False}, {"seq": 1, "learner": 1, "data": 1})
            .sort("seq", ASCENDING)
            .limit(limit)
        )
        return [LogRecord(int(r["seq"]), r["learner"], bytes(r["data"])) for r in rows]

    def mark_published(self, records: list[LogRecord]) -> None:
        if records:
            self._statements.update_many(
                {"seq": {"$in": [r.offset for r in records]}}, {"$set": {"published": True}}
            )

    def reset_published(self) -> None:
        self._statements.update_many({"published": True}, {"$set": {"published": False}})

    def get_offset(self, consumer: str) -> int:
        doc = self._offsets.find_one({"_id": consumer})
        return 0 if doc is None else int(doc["position"])

    def set_offset(self, consumer: str, offset: int) -> None:
        self._offsets.update_one({"_id": consumer}, {"$max": {"position": offset}}, upsert=True)

    # documents -------------------------------------------------------------------------------
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

    # projections -----------------------------------------------------------------------------
    def apply_changes(
        self,
        reducer: Any,
        changes: list[Contribution | Retraction],
        offset: tuple[str, int] | None = None,
    ) -> None:
        name = reducer.name

        def work(session: ClientSession) -> None:
            tx = _MongoProjection(self, session, name, changes)
            states = apply_projection_changes(reducer, changes, tx)
            tx.flush()
            writes: list[ReplaceOne[dict[str, Any]]] = []
            gone: list[str] = []
            for key, state in states.items():
                if state is None:
                    gone.append(key)
                    continue
                index = [
                    {"f": field_name, "v": value}
                    for field_name, values in reducer.index(state).items()
                    for value in values
                ]
                writes.append(
                    ReplaceOne(
                        {"projection": name, "key": key},
                        {
                            "projection": name,
                            "key": key,
                            "state": Binary(orjson.dumps(state)),
                            "idx": index,
                        },
                        upsert=True,
                    )
                )
            if gone:
                self._states.delete_many(
                    {"projection": name, "key": {"$in": gone}}, session=session
                )
            if writes:
                self._states.bulk_write(writes, ordered=False, session=session)
            if offset is not None:
                self._offsets.update_one(
                    {"_id": offset[0]},
                    {"$max": {"position": offset[1]}},
                    upsert=True,
                    session=session,
                )

        self._transaction(work)

    def get_state(self, projection: str, key: str) -> dict[str, Any] | None:
        doc = self._states.find_one({"projection": projection, "key": key}, {"state": 1})
        return None if doc is None else orjson.loads(doc["state"])

    def list_states(self, projection: str, query: StateQuery) -> list[tuple[str, dict[str, Any]]]:
        conditions: list[dict[str, Any]] = [
            {"idx": {"$elemMatch": {"f": field_name, "v": value}}}
            for field_name, value in query.equals.items()
        ] + [
            {"idx": {"$elemMatch": {"f": field_name, "v": {"$gte": value}}}}
            for field_name, value in query.at_least.items()
        ]
        selector: dict[str, Any] = {"projection": projection, "key": {"$gt": query.after or ""}}
        if conditions:
            selector["$and"] = conditions
        rows = (
            self._states.find(selector, {"key": 1, "state": 1})
            .sort("key", ASCENDING)
            .limit(query.limit)
        )
        return [(r["key"], orjson.loads(r["state"])) for r in rows]

    def clear_projection(self, projection: str) -> None:
        def work(session: ClientSession) -> None:
            for collection in (self._contributions, self._retractions, self._states):
                collection.delete_many({"projection": projection}, session=session)

        self._transaction(work)

    def get_contributions(self, projection: str, keys: list[str]) -> list[Contribution]:
        rows = self._contributions.find(
            {"projection": projection, "key": {"$in": keys}, "voided": False},
            {"statement_id": 1, "key": 1, "data": 1},
        ).sort("_id", ASCENDING)
        return [Contribution(r["statement_id"], r["key"], orjson.loads(r["data"])) for r in rows]

    # definitions -----------------------------------------------------------------------------
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
        docs = self._definitions.find({"_id.kind": kind}).sort("_id.id", ASCENDING)
        return [orjson.loads(doc["data"]) for doc in docs]

    def delete_definition(self, kind: str, definition_id: str) -> bool:
        return bool(
            self._definitions.delete_one({"_id": {"kind": kind, "id": definition_id}}).deleted_count
        )

    # identity ----------------------------------------------------------------------------------
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

    # credentials -----------------------------------------------------------------------------
    def save_credential(self, credential: Credential) -> None:
        self._credentials.replace_one(
            {"_id": credential.key},
            {
                "name": credential.name,
                "scopes": list(credential.scopes),
                "org": credential.org,
                "secret_hash": credential.secret_hash,
                "created": format_stored(datetime.now(UTC)),
                "role": credential.role,
                "audits": list(credential.audits),
            },
            upsert=True,
        )
        # After the save: a reader that saw the old version reloads on its next request.
        self._counters.update_one(
            {"_id": _CREDENTIALS_COUNTER}, {"$inc": {"value": 1}}, upsert=True
        )
        self._orgs.forget()

    def _load_org(self, key: str) -> str | None:
        doc = self._credentials.find_one({"_id": key}, {"org": 1})
        return None if doc is None else doc.get("org")

    def get_credential(self, key: str) -> Credential | None:
        doc = self._credentials.find_one({"_id": key})
        return None if doc is None else _credential(doc)

    # the access log ----------------------------------------------------------------------------
    def append_access(self, record: dict[str, Any]) -> AccessEntry:
        """Read the head, insert the entry and move the head in one transaction. Concurrent
        appenders collide on the head document (a write conflict, retried by the driver) or
        on the unique seq (retried here), so the chain never forks, across processes too."""

        def work(session: ClientSession) -> AccessEntry:
            head = self._access_head.find_one({"_id": "head"}, session=session)
            seq, prev = (int(head["seq"]), str(head["hash"])) if head else (0, GENESIS)
            entry = seal_access(record, seq + 1, prev)
            self._access_log.insert_one(_access_document(entry), session=session)
            if head is None:
                self._access_head.insert_one(
                    {"_id": "head", "seq": entry.seq, "hash": entry.hash}, session=session
                )
            elif not self._access_head.update_one(
                {"_id": "head", "seq": seq},
                {"$set": {"seq": entry.seq, "hash": entry.hash}},
                session=session,
            ).modified_count:
                raise DuplicateKeyError("the access log head moved")
            return entry

        with self._access_lock:  # appenders of this process queue here, not colliding
            for attempt in range(50):
                try:
                    return self._transaction(work)
                except DuplicateKeyError:
                    time.sleep(0.002 * attempt)
        raise StoreUnavailable("the access log is too busy to append to; retry", None)

    def read_access(self, query: AccessQuery) -> list[AccessEntry]:
        selector: dict[str, Any] = {"seq": {"$gt": query.after}}
        at: dict[str, str] = {}
        if query.since is not None:
            at["$gt"] = query.since
        if query.until is not None:
            at["$lte"] = query.until
        if at:
            selector["at"] = at
        if query.credential is not None:
            selector["credential"] = query.credential
        if query.learner is not None:
            selector["learner"] = query.learner
        if query.orgs:
            selector["org"] = {"$in": list(query.orgs)}
        rows = self._access_log.find(selector).sort("seq", ASCENDING).limit(query.limit)
        return [_access_entry(doc) for doc in rows]

    def access_head(self) -> AccessHead | None:
        doc = self._access_head.find_one({"_id": "head"})
        return None if doc is None else AccessHead(int(doc["seq"]), str(doc["hash"]))

    # erasure -------------------------------------------------------------------------------------
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
        report.agent_names_deleted = self._names.delete_many({"key": {"$in": key_list}}).deleted_count
        report.identity_links_deleted = self._links.delete_many(
            {"_id": {"$in": key_list}}
        ).deleted_count
        kinds = [DocumentKind.STATE, DocumentKind.AGENT_PROFILE]
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
                lambda session, reducer=reducer: self._erase_projection(
                    session, reducer, deleted, rewritten
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
        gone = {_term(kind, key) for kind in (Term.AGENT, Term.RELATED_AGENT) for key in erased}
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
                terms |= {_term(kind, value) for kind, value in xs.index_terms(kept)}
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
        affected = set(self._contributions.distinct("key", selector, session=session))
        removed = self._contributions.delete_many(selector, session=session).deleted_count
        changes: list[Contribution | Retraction] = [Retraction(sid) for sid in deleted]
        changes += [Retraction(sid) for sid in rewritten]
        tx = _MongoProjection(self, session, name, changes)
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
                {"projection": name, "key": key, "state": Binary(orjson.dumps(state)), "idx": index},
                upsert=True,
                session=session,
            )
        return removed, states_deleted, len(states) - len(gone)


def _credential(doc: dict[str, Any]) -> Credential:
    return Credential(
        doc["_id"],
        doc["name"],
        tuple(doc["scopes"]),
        doc["org"],
        doc["secret_hash"],
        doc.get("role", "platform"),
        tuple(doc.get("audits", ())),
    )


def _credential_selector(credentials: list[str] | None, exclude: bool) -> dict[str, Any] | None:
    """The condition on `credential` that keeps what an organisation may see (None: all)."""
    if credentials is None or (exclude and not credentials):
        return None
    return {"$nin" if exclude else "$in": list(credentials)}


def _access_document(entry: AccessEntry) -> dict[str, Any]:
    return {**entry.body(), "query": Binary(orjson.dumps(entry.query)), "hash": entry.hash}


def _access_entry(doc: dict[str, Any]) -> AccessEntry:
    """The query is kept as JSON bytes: BSON would reorder nothing, but may refuse keys."""
    return AccessEntry(
        int(doc["seq"]), doc["at"], doc["action"], doc["credential"], doc["name"], doc["role"],
        doc["org"], doc["what"], doc["learner"], orjson.loads(doc["query"]), int(doc["count"]),
        doc["prev"], doc["hash"],
    )  # fmt: skip


class _MongoProjection:
    """`ProjectionTransaction` inside `apply_changes`' transaction.

    What is already recorded for the changes' statements is read once up front, and new
    contributions are inserted in one go, so a batch costs a few round trips, not a few per
    change; a retraction flushes first, because it reads the contributions back.
    """

    def __init__(
        self,
        store: MongoStore,
        session: ClientSession,
        name: str,
        changes: Iterable[Contribution | Retraction],
    ) -> None:
        self.store = store
        self.session = session
        self.name = name
        ids = list({change.statement_id for change in changes})
        self.retracted = {
            d["statement_id"]
            for d in store._retractions.find(
                {"projection": name, "statement_id": {"$in": ids}}, session=session
            )
        }
        self.recorded = {
            (d["statement_id"], d["key"])
            for d in store._contributions.find(
                {"projection": name, "statement_id": {"$in": ids}},
                {"statement_id": 1, "key": 1},
                session=session,
            )
        }
        self.pending: list[dict[str, Any]] = []
        self.kept: dict[str, bool] = {}  # retracted, yet stored and not voided (`is_retracted`)

    def flush(self) -> None:
        if self.pending:
            self.store._contributions.insert_many(self.pending, session=self.session)
            self.pending = []

    def load_state(self, key: str) -> dict[str, Any] | None:
        doc = self.store._states.find_one(
            {"projection": self.name, "key": key}, {"state": 1}, session=self.session
        )
        return None if doc is None else orjson.loads(doc["state"])

    def is_retracted(self, statement_id: str) -> bool:
        if statement_id not in self.retracted:
            return False
        kept = self.kept.get(statement_id)
        if kept is None:
            doc = self.store._statements.find_one(
                {"_id": statement_id, "data": {"$exists": True}},
                {"voided": 1},
                session=self.session,
            )
            kept = self.kept[statement_id] = doc is not None and not doc.get("voided")
        return not kept

    def add_contribution(self, contribution: Contribution) -> bool:
        recorded = (contribution.statement_id, contribution.key)
        if recorded in self.recorded:
            return False
        self.recorded.add(recorded)
        self.pending.append(
            {
                "projection": self.name,
                "statement_id": contribution.statement_id,
                "key": contribution.key,
                "data": Binary(orjson.dumps(contribution.data)),
                "voided": False,
            }
        )
        return True

    def add_retraction(self, statement_id: str) -> bool:
        if statement_id in self.retracted:
            return False
        self.retracted.add(statement_id)
        self.store._retractions.insert_one(
            {"projection": self.name, "statement_id": statement_id}, session=self.session
        )
        return True

    def retract_contributions(self, statement_id: str) -> list[str]:
        self.flush()
        selector = {"projection": self.name, "statement_id": statement_id, "voided": False}
        keys = sorted(self.store._contributions.distinct("key", selector, session=self.session))
        self.store._contributions.update_many(
            selector, {"$set": {"voided": True}}, session=self.session
        )
        return keys

    def live_contributions(self, key: str) -> list[Contribution]:
        self.flush()
        rows = self.store._contributions.find(
            {"projection": self.name, "key": key, "voided": False},
            {"statement_id": 1, "data": 1},
            session=self.session,
        ).sort("_id", ASCENDING)
        return [Contribution(r["statement_id"], key, orjson.loads(r["data"])) for r in rows]
