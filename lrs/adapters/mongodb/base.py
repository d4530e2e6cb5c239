"""The scaled-out store: MongoDB (a replica set: multi-document transactions need one).

Several API processes may write at once, each with its own `MongoStore`. What SQLite gets
from its single writer, this adapter gets from the database:

* A batch is one multi-document transaction, committed with `w="majority", j=True`, so the
  API answers only once the batch is journaled on a majority (a kill -9 loses nothing
  acknowledged). Whatever one writer reads to decide something (is the target stored? is it
  voiding? which statements target this one?) is paired with a write to the same document,
  so two writers deciding from each other's absence always collide (WriteConflict) and one
  of them is retried by `with_transaction`: see statements.py.
* `seq` (the log and cursor position) comes from a counter document, incremented outside
  the transaction by the batch size so writers do not queue behind one another. Seqs
  therefore commit out of order (and a failed batch leaves a gap); readers only look below
  a *settled* watermark, computed from a small collection of writes in flight (`_settled`),
  so a cursor or a log consumer never steps past a seq that commits later.
* Statements are kept as the stored JSON bytes (orjson) in a binary field, never as a BSON
  document: extension keys are IRIs with dots, and may contain `$`. The other fields exist
  for queries only.

Collections (all created, with their indexes, at start and idempotently, outside any
transaction: MongoDB 7 cannot create a collection inside a cross-shard write transaction):

statements      _id = statement id; seq, stored, voided, voiding, ref_target (only when the
                object is a StatementRef), credential, learner, terms (["<Term>:<value>"]),
                referenced (bumped by each statement that targets this one), published
                (only in statements stored before the outbox collection: false until published),
                data (stored JSON). A document with no `data` is a placeholder for a statement
                that was targeted before it arrived (see statements.py); queries never see it.
                Indexes: (terms, seq), (seq) unique sparse, (stored), (ref_target) sparse,
                (credential, seq), (published, seq) partial on published = false.
counters        {_id: "statements", value}: the last seq handed out; {_id: "credentials",
                value}: credentials_version; {_id: "contributions:<projection>", value}:
                the last contribution `n` handed out (projections.py).
writes          the batches in flight: {_id, floor, stored, at}; a batch deletes its own
                document inside its transaction.
attachments     {_id: sha2, content_type, length, chunks} and attachment_chunks
                {_id: "<sha2>:<n>", data}: written inside the batch's transaction (GridFS
                cannot be), in chunks well under the 16 MiB document limit.
activities      {_id: activity id, definition (JSON bytes)}: the merged canonical definition.
agent_names     {key, name, since}, unique (key, name).
merges          {_id: the batch's token, first, last, at}, (at): a batch whose activity
                definitions and agent names are not merged yet. Inserted in the batch's
                transaction, deleted by the merge's own transaction right after it; one left
                behind (the process died in between) is redone by the next writer
                (statements.py, `_redo_merges`).
documents       {kind, scope, doc_id, content, content_type, etag, updated}, unique
                (kind, scope, doc_id).
contributions   {projection, statement_id, key, data, voided, n}, unique (projection,
                statement_id, key); (projection, key, voided, n). `n` is the recorded
                order (projections.py), not the ObjectId `_id`, which MongoDB does not
                promise to increase.
retractions     {projection, statement_id}, unique.
states          {projection, key, state, idx: [{f, v}]}, unique (projection, key);
                (projection, idx.f, idx.v).
outbox          {_id: first seq, seq, last, n}, (seq): the statements of seqs seq..last are
                not published yet (n of them, fewer if some seqs were repeats), inserted in
                their batch's transaction; `seq` moves past the statements the relay
                published, and the entry goes with the last of them (log.py). An entry
                without `last` (written before entries were per batch) holds its one seq. A
                flag in the statement itself (`published`, before) made every publication
                rewrite the statement's index entries on SecantusDB, which updates every
                index of a document it changes; an entry per statement cost an insert and a
                delete of a document and its index entries for each.
offsets         {_id: consumer, position}; {_id: "tally:stored", position, counts: [{key, n}]}:
                the statements stored per credential key (stored_counts.py);
                credentials {_id: key, ...}.
definitions     {_id: {kind, id}, kind, id, data}; (kind, id).
access_log      the hash-chained access log: {seq, at, action, credential, name, role, org,
                what, learner, query, count, prev, hash}, unique (seq); access_head
                {_id: "head", seq, hash}, moved in the same transaction as each append.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import ASCENDING, MongoClient, ReadPreference
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from lrs.domain.errors import StoreUnavailable
from lrs.domain.times import format_stored, parse_stored
from lrs.ops.orgs import CredentialOrgs
from lrs.xapi.statements import Term

T = TypeVar("T")


NAMESPACE_EXISTS = 48  # create_collection of a collection that is already there
INDEX_NOT_FOUND = 27  # drop_index of an index that is not there (any more)


# Journaled on a majority before the API answers: SERVICES.md, kill -9 loses unjournaled writes.
DURABLE = WriteConcern(w="majority", j=True)


COUNTER = "statements"


CREDENTIALS_COUNTER = "credentials"  # bumped by every save_credential: credentials_version


class WriteExpired(RuntimeError):
    """A batch stayed in flight longer than `write_timeout`; readers stopped waiting for it.

    Its transaction is refused so that it can never become visible behind a watermark that
    readers already moved past. Nothing was stored: the client may send the batch again.
    """


# The most values one `$in` names where the answer may hold many documents. SecantusDB
# checks each document it finds against every value of the list (no set), so one
# `$in` of n values answering n documents costs n x n comparisons; MongoDB does not care.
IN_CHUNK = 64


def in_chunks(values: Sequence[T]) -> Iterator[list[T]]:
    """`values` in lists of at most IN_CHUNK, for `$in` filters (see IN_CHUNK)."""
    for start in range(0, len(values), IN_CHUNK):
        yield list(values[start : start + IN_CHUNK])


def term_key(kind: Term | int, value: str) -> str:
    return f"{int(kind)}:{value}"


def unavailable(exc: Exception) -> StoreUnavailable | None:
    """A database that cannot be reached is unavailable for now (retry later)."""
    if isinstance(exc, ConnectionFailure):
        return StoreUnavailable(
            f"the database is unavailable ({type(exc).__name__}); retry shortly", None
        )
    return None


class MongoBase:
    """The client, collections, transactions and the settled watermark; each capability's
    adapter is a mixin over this."""

    def __init__(
        self,
        url: str,
        *,
        clock_skew: timedelta = timedelta(milliseconds=100),
        write_timeout: float = 60.0,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        # Fail fast while the database is away, so clients get a 503 to retry, not a hang.
        # `client_options` go to MongoClient as they are (command monitoring in the tests
        # and benchmarks/mongo_budget.py).
        options: dict[str, Any] = (
            {} if "serverSelectionTimeoutMS" in url else {"serverSelectionTimeoutMS": 5000}
        )
        options.update(client_options or {})
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
        self._outbox: Collection[dict[str, Any]] = db["outbox"]
        self._merges: Collection[dict[str, Any]] = db["merges"]
        self._clock_skew = clock_skew
        self._write_timeout = write_timeout
        self._lock = threading.Lock()
        self._access_lock = threading.Lock()
        self._merge_lock = threading.Lock()  # this process's merges, one at a time
        self._next_redo = 0.0  # time.monotonic() of the next look for merges left behind
        self._last_stored = ""
        self._seq_mark = 0  # every seq at or below it is committed or abandoned
        self._stored_mark = ""  # the last consistent_through this process answered
        try:
            self._create_indexes()
            try:  # before any batch: concurrent first upserts of one document may fail
                self._counters.update_one(
                    {"_id": COUNTER}, {"$setOnInsert": {"value": 0}}, upsert=True
                )
            except DuplicateKeyError:  # another process created it at the same moment
                pass
        except ConnectionFailure as exc:
            self._client.close()
            raise StoreUnavailable(f"cannot reach MongoDB: {exc}", None) from exc

    def _create_collections(self) -> None:
        """Every collection, up front and outside any transaction: several are first written
        inside one (activities, attachments, attachment_chunks, access_head, offsets, writes),
        and MongoDB 7 cannot create a collection inside a cross-shard write transaction."""
        for collection in (
            self._statements,
            self._counters,
            self._writes,
            self._attachments,
            self._chunks,
            self._activities,
            self._names,
            self._documents,
            self._contributions,
            self._retractions,
            self._states,
            self._offsets,
            self._credentials,
            self._definitions,
            self._links,
            self._access_log,
            self._access_head,
            self._outbox,
            self._merges,
        ):
            try:
                self._db.create_collection(collection.name, check_exists=False)
            except OperationFailure as exc:
                if exc.code != NAMESPACE_EXISTS:  # there already, or just made by another process
                    raise

    def _create_indexes(self) -> None:
        self._create_collections()
        s = self._statements
        s.create_index([("terms", ASCENDING), ("seq", ASCENDING)], name="terms_seq")
        self._seq_index()
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
            [
                ("projection", ASCENDING),
                ("key", ASCENDING),
                ("voided", ASCENDING),
                ("n", ASCENDING),
            ],
            name="key_voided_n",
        )
        self._retractions.create_index(
            [("projection", ASCENDING), ("statement_id", ASCENDING)], unique=True
        )
        self._states.create_index([("projection", ASCENDING), ("key", ASCENDING)], unique=True)
        self._links.create_index([("person", ASCENDING)])
        # SecantusDB answers a range on `_id` by scanning; on `seq`, from this index
        self._outbox.create_index([("seq", ASCENDING)], name="seq")
        self._merges.create_index([("at", ASCENDING)], name="at")
        # list_definitions, for the competency processor's rules on every batch
        self._definitions.create_index([("kind", ASCENDING), ("id", ASCENDING)], name="kind_id")
        # Two appenders that read the same head both try the next seq: one of them fails.
        self._access_log.create_index([("seq", ASCENDING)], name="seq", unique=True)
        self._access_log.create_index([("at", ASCENDING)], name="at")
        self._access_log.create_index([("learner", ASCENDING), ("seq", ASCENDING)])
        self._access_log.create_index([("credential", ASCENDING), ("seq", ASCENDING)])
        self._states.create_index(
            [("projection", ASCENDING), ("idx.f", ASCENDING), ("idx.v", ASCENDING)]
        )

    def _seq_index(self) -> None:
        """Unique on `seq`, sparse: placeholders have no seq, so they are left out.

        It was partial (`seq: {$exists: true}`), which is the same set of documents, but a
        partial index only serves a query that implies its filter, and a seq range does not
        spell out `$exists`: SecantusDB then scanned the collection for every log read,
        page and outbox mark (MongoDB 7 does infer it from a range; SecantusDB never does).
        A store made before keeps its documents; only the index is made again, once."""
        s = self._statements
        old = s.index_information().get("seq")
        if old is not None and "partialFilterExpression" in old:
            try:
                s.drop_index("seq")
            except OperationFailure as exc:
                if exc.code != INDEX_NOT_FOUND:  # another process dropped it first
                    raise
        s.create_index([("seq", ASCENDING)], name="seq", unique=True, sparse=True)

    # Provided by the credentials mixin that MongoStore composes (the organisation lookups
    # of the write path start here, with the collections).
    def _load_org(self, key: str) -> str | None:
        raise NotImplementedError

    def credentials_version(self) -> str:
        raise NotImplementedError

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
        counter = self._counters.find_one({"_id": COUNTER})
        return 0 if counter is None else int(counter["value"])

    def _allocate(self, count: int) -> int:
        """Take `count` consecutive seqs; return the first. Outside any transaction, so
        concurrent writers never conflict on the counter."""
        counter = self._counters.find_one_and_update(
            {"_id": COUNTER}, {"$inc": {"value": count}}, upsert=True, return_document=True
        )
        assert counter is not None  # upserted
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
