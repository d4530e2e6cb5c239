"""The embedded store: one SQLite file in WAL mode, no server.

Writes go through one connection under a lock (SQLite allows one writer); reads use one
connection per thread and never wait for writes. The statements table's `seq` is the
stored order, which is also the order of the embedded event log.
"""

from __future__ import annotations

import heapq
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from lrs.memory import kept_bytes
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

SCHEMA = """
CREATE TABLE IF NOT EXISTS statements (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    stored TEXT NOT NULL,
    voided INTEGER NOT NULL DEFAULT 0,
    voiding INTEGER NOT NULL DEFAULT 0,
    ref_target TEXT,
    credential TEXT NOT NULL,
    learner TEXT NOT NULL,
    terms BLOB NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS statements_stored ON statements(stored);
CREATE INDEX IF NOT EXISTS statements_ref ON statements(ref_target) WHERE ref_target IS NOT NULL;
CREATE TABLE IF NOT EXISTS terms (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS statement_index (
    kind INTEGER NOT NULL, term INTEGER NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (kind, term, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_progress (
    id INTEGER PRIMARY KEY CHECK (id = 0), through INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS attachments (
    sha2 TEXT PRIMARY KEY, content_type TEXT NOT NULL, data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS activities (id TEXT PRIMARY KEY, definition BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS agent_names (
    key TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (key, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL, scope TEXT NOT NULL, doc_id TEXT NOT NULL,
    content BLOB NOT NULL, content_type TEXT NOT NULL, etag TEXT NOT NULL, updated TEXT NOT NULL,
    PRIMARY KEY (kind, scope, doc_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS definitions (
    kind TEXT NOT NULL, id TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS identity_links (key TEXT PRIMARY KEY, person TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS identity_links_person ON identity_links(person);
CREATE TABLE IF NOT EXISTS credentials (
    key TEXT PRIMARY KEY, name TEXT NOT NULL, scopes TEXT NOT NULL, org TEXT,
    secret_hash TEXT NOT NULL, created TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'platform', audits TEXT NOT NULL DEFAULT ''
);
"""

# Columns added after the first release, so data directories made before them still open.
CREDENTIAL_COLUMNS_ADDED = {
    "role": "TEXT NOT NULL DEFAULT 'platform'",
    "audits": "TEXT NOT NULL DEFAULT ''",
}


def _add_missing_columns(conn: sqlite3.Connection, table: str, columns: dict[str, str]) -> None:
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    for name, declaration in columns.items():
        if name not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")


# Derived state (projections) and consumer offsets live in a second file with its own write
# lock: folding statements into profiles never queues behind the writer that stores them,
# nor holds it up, and a processor moves its offset in the same transaction as its state.
PROJECTION_SCHEMA = """
CREATE TABLE IF NOT EXISTS contributions (
    n INTEGER PRIMARY KEY, projection TEXT NOT NULL, statement_id TEXT NOT NULL,
    key TEXT NOT NULL, data BLOB NOT NULL, voided INTEGER NOT NULL DEFAULT 0,
    UNIQUE (projection, statement_id, key)
);
CREATE INDEX IF NOT EXISTS contributions_key ON contributions(projection, key, n);
CREATE TABLE IF NOT EXISTS retractions (
    projection TEXT NOT NULL, statement_id TEXT NOT NULL, PRIMARY KEY (projection, statement_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS states (
    projection TEXT NOT NULL, key TEXT NOT NULL, state BLOB NOT NULL, PRIMARY KEY (projection, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state_index (
    projection TEXT NOT NULL, field TEXT NOT NULL, value, key TEXT NOT NULL,
    PRIMARY KEY (projection, field, value, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS state_index_key ON state_index(projection, key);
CREATE TABLE IF NOT EXISTS offsets (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until REAL NOT NULL);
"""


WAL_CHECKPOINT_PAGES = 16_384
# The projections file's WAL may grow to 256 MiB (4 KiB pages) between checkpoints.
PROJECTION_CHECKPOINT_PAGES = 65_536

# The unindexed tail the writer lets grow before indexing it, and how much one transaction
# indexes: bigger batches share more index pages, smaller ones hold the write lock shorter.
INDEX_AT = 20_000
INDEX_CHUNK = 20_000
# Rows per multi-row INSERT (and ids per IN list) at most.
_ROWS_PER_CALL = 256


def _pieces(items: list[Any]) -> Iterator[list[Any]]:
    """`items` in runs of 256, 128, 64, ... 1 rows: few distinct SQL texts.

    Every row count is a different statement for SQLite, and a prepared multi-row INSERT is
    large; cutting by powers of two keeps the connection's statement cache to a few dozen
    shapes (with any count up to 500 it had grown the server by ~70 MiB).
    """
    start = 0
    while start < len(items):
        size = min(_ROWS_PER_CALL, 1 << ((len(items) - start).bit_length() - 1))
        yield items[start : start + size]
        start += size


def _pack_terms(terms: Iterable[tuple[int, int]]) -> bytes:
    return kept_bytes(orjson.dumps(sorted(set(terms))))


def _unpack_terms(blob: bytes) -> list[tuple[int, int]]:
    return [(k, t) for k, t in orjson.loads(blob)]


@dataclass
class _PendingWrite:
    statements: list[dict[str, Any]]
    authority: dict[str, Any]
    credential: str
    version: str
    attachments: list[Attachment]
    ids: list[str] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


class SQLiteStore:
    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_PendingWrite] = []
        self._writer = self._connect(self.path)
        self._writer.executescript(SCHEMA)
        # A store from before the deferred index had every statement indexed as it was stored.
        self._writer.execute(
            "INSERT OR IGNORE INTO index_progress(id, through)"
            " SELECT 0, coalesce(max(seq), 0) FROM statements"
        )
        self._indexed_through: int = self._writer.execute(
            "SELECT through FROM index_progress"
        ).fetchone()[0]
        self._last_seq: int = self._writer.execute(
            "SELECT coalesce(max(seq), 0) FROM statements"
        ).fetchone()[0]
        self._last_commit = time.monotonic()
        self._closed = threading.Event()
        self._index_wanted = threading.Event()
        self._indexer = threading.Thread(
            target=self._index_when_idle, name="lrs-statement-indexer", daemon=True
        )
        self._indexer.start()
        _add_missing_columns(self._writer, "credentials", CREDENTIAL_COLUMNS_ADDED)
        self.projections_path = self.path.with_name(
            f"{self.path.stem}-projections{self.path.suffix}"
        )
        self._projection_lock = threading.Lock()
        # Derived state can always be rebuilt from the log, and its offsets commit with it, so
        # it needs no fsync per batch (NORMAL in WAL mode is still safe against crashes).
        self._projection_writer = self._connect(self.projections_path)
        self._projection_writer.execute("PRAGMA synchronous=NORMAL")
        # Every batch rewrites its learners' states and the index pages its contributions
        # land on (statement ids are random), tens of MiB for a batch of 10,000: a checkpoint
        # after several batches, not after each, copies such a page to the database once for
        # all of them (23% fewer bytes written over 100,000 statements).
        self._projection_writer.execute(f"PRAGMA wal_autocheckpoint={PROJECTION_CHECKPOINT_PAGES}")
        self._projection_writer.execute(
            f"PRAGMA journal_size_limit={PROJECTION_CHECKPOINT_PAGES * 4096}"
        )
        self._projection_writer.executescript(PROJECTION_SCHEMA)
        self._open_audit_log()
        self._term_cache: dict[str, int] = {}
        self._last_stored = ""
        self._writing_since: str | None = None
        self._known_definitions: dict[str, bytes] = {}
        self._known_names: set[tuple[str, str]] = set()
        self._index_rows: list[tuple[int, int, int]] = []
        # Only read while writing statements, under the write lock, on the writer connection.
        self._orgs = CredentialOrgs(self._load_org, self._writer_credentials_version)

    # connections -----------------------------------------------------------------------------
    def _connect(self, path: Path, cache_mib: int = 64) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
        # Checkpoint every 64 MiB of WAL rather than SQLite's 4 MiB: a page rewritten by many
        # commits in between (a learner's profile, the end of an index range) reaches the
        # database file once per checkpoint instead of once per few commits.
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_CHECKPOINT_PAGES * 4096}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(self.path, cache_mib=16)  # one per thread: keep them small
            conn.execute("PRAGMA query_only=1")
            self._local.conn = conn
        return conn

    def _projection_reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "projection_conn", None)
        if conn is None:
            conn = self._connect(self.projections_path, cache_mib=16)
            conn.execute("PRAGMA query_only=1")
            self._local.projection_conn = conn
        return conn

    @contextmanager
    def _projection_transaction(self) -> Iterator[sqlite3.Connection]:
        with self._projection_lock:
            conn = self._projection_writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                self._forget_caches()
                raise
            else:
                conn.execute("COMMIT")
            finally:
                self._writing_since = None

    def close(self) -> None:
        self._closed.set()
        self._index_wanted.set()
        self._indexer.join()
        self._writer.close()
        self._projection_writer.close()
        self._audit_writer.close()
        for name in ("conn", "projection_conn", "audit_conn"):
            conn = getattr(self._local, name, None)
            if conn is not None:
                conn.close()

    def _now_stored(self) -> str:
        """A stored time never earlier than the last one, so stored order equals `seq` order."""
        stored = max(format_stored(datetime.now(UTC)), self._last_stored)
        self._last_stored = stored
        return stored

    # terms -----------------------------------------------------------------------------------
    def _term_id(self, conn: sqlite3.Connection, value: str) -> int:
        term = self._term_cache.get(value)
        if term is not None:
            return term
        # A growing store meets new terms more often than uncached old ones: insert first.
        cursor = conn.execute("INSERT OR IGNORE INTO terms(value) VALUES (?)", (value,))
        if cursor.rowcount:
            term = cursor.lastrowid
        else:
            term = conn.execute("SELECT id FROM terms WHERE value = ?", (value,)).fetchone()[0]
        if len(self._term_cache) > 500_000:
            self._term_cache.clear()
        self._term_cache[value] = term
        return term

    def _lookup_term(self, conn: sqlite3.Connection, value: str) -> int | None:
        row = conn.execute("SELECT id FROM terms WHERE value = ?", (value,)).fetchone()
        return None if row is None else row[0]

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
        """Group commit: concurrent callers share one transaction and one fsync.

        Whoever takes the write lock first commits every request queued so far, each inside
        its own savepoint, so one request's conflict never fails another's statements.
        """
        write = _PendingWrite(statements, authority, credential, version, attachments)
        with self._queue_lock:
            self._queue.append(write)
        with self._write_lock:
            if not write.done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._commit_group(group)
        if write.error is not None:
            raise write.error
        return write.ids

    def _commit_group(self, group: list[_PendingWrite]) -> None:
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            stored = self._now_stored()
            self._writing_since = stored
            for write in group:
                conn.execute("SAVEPOINT request")
                try:
                    write.ids = self._save_request(conn, write, stored)
                except Exception as exc:
                    conn.execute("ROLLBACK TO request")
                    self._forget_caches()
                    write.error = exc
                conn.execute("RELEASE request")
            conn.execute("COMMIT")
            self._last_commit = time.monotonic()
            if self._last_seq - self._indexed_through >= INDEX_AT:
                self._index_wanted.set()
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._forget_caches()
            for write in group:
                write.error = write.error or exc
            if not isinstance(exc, Exception):
                raise
        finally:
            self._writing_since = None
            for write in group:
                write.done = True

    # the deferred statement index ------------------------------------------------------------
    def _index_when_idle(self) -> None:
        """Index the tail of the log when it is long enough, or when ingest pauses.

        Writing every statement's ~10 index rows in the request's own commit dirtied about one
        random index page per row, so each commit wrote megabytes; indexed in bulk and in key
        order, many rows share a page. Until then queries read the short tail directly.
        """
        while not self._closed.is_set():
            wanted = self._index_wanted.wait(timeout=1.0)
            self._index_wanted.clear()
            if self._closed.is_set():
                return
            idle = time.monotonic() - self._last_commit >= 1.0
            if self._last_seq > self._indexed_through and (wanted or idle):
                try:
                    self._index_tail()
                except sqlite3.Error:
                    # e.g. a full disk: the statements are stored and the tail stays
                    # searchable; indexing is retried on the next turn.
                    pass

    def index_now(self) -> None:
        """Index the whole tail at once (tests, and before a benchmark's queries)."""
        while self._last_seq > self._indexed_through:
            before = self._indexed_through
            self._index_tail()
            if self._indexed_through == before:
                return

    def _index_tail(self) -> None:
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process on the same file (the processors' child, `lrs connect`)
                # may have indexed further: start from the mark, never move it back.
                self._indexed_through = max(
                    self._indexed_through,
                    conn.execute("SELECT through FROM index_progress").fetchone()[0],
                )
                through = conn.execute(
                    "SELECT max(seq) FROM (SELECT seq FROM statements WHERE seq > ?"
                    " ORDER BY seq LIMIT ?)",
                    (self._indexed_through, INDEX_CHUNK),
                ).fetchone()[0]
                if through is not None:
                    # All in SQL (JSON1 reads each row's term list; its sorter orders the
                    # rows by index key): no Python per row, and the GIL stays free for
                    # the requests being answered meanwhile.
                    conn.execute(
                        "INSERT OR IGNORE INTO statement_index(kind, term, seq)"
                        " SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'),"
                        " s.seq FROM statements s, json_each(CAST(s.terms AS TEXT)) j"
                        " WHERE s.seq > ? AND s.seq <= ? ORDER BY 1, 2, 3",
                        (self._indexed_through, through),
                    )
                    conn.execute("UPDATE index_progress SET through = max(through, ?)", (through,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if through is not None:
                self._indexed_through = through
            if self._last_seq - self._indexed_through >= INDEX_AT:
                self._index_wanted.set()

    def _forget_caches(self) -> None:
        """After a rollback, cached term ids and definitions may name rows that are gone."""
        self._term_cache.clear()
        self._known_definitions.clear()
        self._known_names.clear()

    def _save_request(
        self, conn: sqlite3.Connection, write: _PendingWrite, stored: str
    ) -> list[str]:
        every = [
            xs.prepare(s, stored=stored, authority=write.authority, version=write.version)
            for s in write.statements
        ]
        all_ids = [s["id"] for s in every]  # answered in order, repeats included
        prepared, incoming = xs.unique_in_batch(every, write.statements)
        ids = [s["id"] for s in prepared]
        existing = self._existing(conn, ids)
        stored_voiding: set[str] = set()
        for target in xs.voiding_targets(prepared):
            row = conn.execute("SELECT voiding FROM statements WHERE id = ?", (target,)).fetchone()
            if row is not None and row[0]:
                stored_voiding.add(target)
        xs.check_batch(prepared, incoming, existing, stored_voiding)
        # A statement's own index rows are written later, in bulk (`_index_tail`); only rows
        # for earlier statements that a statement reference now reaches are written here.
        self._index_rows = []
        new = [statement for statement in prepared if statement["id"] not in existing]
        if not self._insert_plain(conn, new, stored, write.credential):
            for statement in new:
                self._insert(conn, statement, stored, write.credential)
        conn.executemany(
            "INSERT OR IGNORE INTO statement_index(kind, term, seq) VALUES (?,?,?)",
            self._index_rows,
        )
        self._index_rows = []
        for attachment in write.attachments:
            conn.execute(
                "INSERT OR IGNORE INTO attachments(sha2, content_type, data) VALUES (?,?,?)",
                (attachment.sha2, attachment.content_type, attachment.data),
            )
        return all_ids

    def _existing(self, conn: sqlite3.Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for sid, data in conn.execute(
                f"SELECT id, data FROM statements WHERE id IN ({marks})", chunk
            ):
                found[sid] = orjson.loads(data)
        return found

    def _insert_plain(
        self,
        conn: sqlite3.Connection,
        statements: list[dict[str, Any]],
        stored: str,
        credential: str,
    ) -> bool:
        """Insert a request's statements in a few multi-row statements, if none is linked.

        The usual request (no StatementRef, nothing stored earlier referring to its ids)
        needs no decision per statement, so its rows, new terms and agent names each go in
        one SQL statement rather than one per row. That is also fewer hand-overs of the GIL:
        the writer thread releases it for every SQLite call and then waits to get it back
        from the threads parsing and validating the next requests, which made the
        one-call-per-row writer the bottleneck of concurrent ingest. False: nothing was
        written, and `_insert` must take each statement in turn.
        """
        if not statements or any(xs.statement_ref_target(s) is not None for s in statements):
            return not statements
        for chunk in _pieces([s["id"] for s in statements]):
            marks = ",".join("?" * len(chunk))
            if conn.execute(
                f"SELECT 1 FROM statements WHERE ref_target IN ({marks}) LIMIT 1", chunk
            ).fetchone():
                return False  # a statement stored earlier refers to one of these
        extracted = [[(int(kind), value) for kind, value in xs.index_terms(s)] for s in statements]
        term_ids = self._term_ids(conn, {value for terms in extracted for _, value in terms})
        rows = [
            (
                s["id"],
                stored,
                credential,
                xs.learner_key(s),
                _pack_terms((kind, term_ids[value]) for kind, value in terms),
                kept_bytes(orjson.dumps(s)),
            )
            for s, terms in zip(statements, extracted, strict=True)
        ]
        for chunk in _pieces(rows):
            cursor = conn.execute(
                "INSERT INTO statements(id, stored, voided, voiding, ref_target, credential,"
                " learner, terms, data) VALUES "
                + ",".join(["(?,?,0,0,NULL,?,?,?,?)"] * len(chunk)),
                [value for row in chunk for value in row],
            )
            self._last_seq = max(self._last_seq, cursor.lastrowid or 0)
        names: list[tuple[str, str]] = []
        for s in statements:
            for activity_id, definition in xs.activity_definitions(s):
                self._merge_activity(conn, activity_id, definition)
            for key, agent in xs.agents_named(s):
                name = agent.get("name")
                if isinstance(name, str) and (key, name) not in self._known_names:
                    names.append((key, name))
                    self._known_names.add((key, name))
        for chunk in _pieces(names):
            conn.execute(
                "INSERT OR IGNORE INTO agent_names(key, name) VALUES "
                + ",".join(["(?,?)"] * len(chunk)),
                [value for pair in chunk for value in pair],
            )
        if len(self._known_names) > 100_000:
            self._known_names.clear()
        return True

    def _term_ids(self, conn: sqlite3.Connection, values: set[str]) -> dict[str, int]:
        """The term id of every value, new ones inserted, in a few statements in all."""
        cache = self._term_cache
        found = {value: cache[value] for value in values if value in cache}
        missing = [value for value in values if value not in found]
        for chunk in _pieces(missing):
            marks = ",".join("?" * len(chunk))
            conn.execute(
                "INSERT OR IGNORE INTO terms(value) VALUES " + ",".join(["(?)"] * len(chunk)),
                chunk,
            )
            found.update(
                conn.execute(f"SELECT value, id FROM terms WHERE value IN ({marks})", chunk)
            )
        if missing:
            if len(cache) > 500_000:
                cache.clear()
            cache.update((value, found[value]) for value in missing)
        return found

    def _insert(
        self, conn: sqlite3.Connection, statement: dict[str, Any], stored: str, credential: str
    ) -> None:
        sid = statement["id"]
        target = xs.statement_ref_target(statement)
        voiding = xs.is_voiding(statement)
        terms = {
            (int(kind), self._term_id(conn, value)) for kind, value in xs.index_terms(statement)
        }
        same = self._orgs.same
        voids_target = False
        if target is not None:
            row = conn.execute(
                "SELECT terms, credential FROM statements WHERE id = ?", (target,)
            ).fetchone()
            if row is not None and same(credential, row[1]):
                terms.update(_unpack_terms(row[0]))
                voids_target = voiding
        rows = conn.execute(
            "SELECT seq, id, terms, voiding, credential FROM statements WHERE ref_target = ?",
            (sid,),
        ).fetchall()
        # Only statements of this statement's organisation inherit its terms, and only a
        # voiding statement of its organisation that came first voids it (CredentialOrgs):
        # another organisation could otherwise void, ahead of time, a statement whose id it
        # guessed. The projections' retractions follow this flag (`is_retracted`).
        referrers = [r[:4] for r in rows if same(credential, r[4])]
        voided = not voiding and any(r[3] for r in referrers)
        cursor = conn.execute(
            "INSERT INTO statements(id, stored, voided, voiding, ref_target, credential, learner,"
            " terms, data) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                sid,
                stored,
                int(voided),
                int(voiding),
                target,
                credential,
                xs.learner_key(statement),
                _pack_terms(terms),
                kept_bytes(orjson.dumps(statement)),
            ),
        )
        self._last_seq = max(self._last_seq, cursor.lastrowid or 0)
        if voids_target:
            conn.execute("UPDATE statements SET voided = 1 WHERE id = ? AND voiding = 0", (target,))
        if referrers:
            self._propagate_to_referrers(conn, sid, terms, referrers, credential)
        for activity_id, definition in xs.activity_definitions(statement):
            self._merge_activity(conn, activity_id, definition)
        for key, agent in xs.agents_named(statement):
            name = agent.get("name")
            if isinstance(name, str) and (key, name) not in self._known_names:
                conn.execute(
                    "INSERT OR IGNORE INTO agent_names(key, name) VALUES (?,?)", (key, name)
                )
                if len(self._known_names) > 100_000:
                    self._known_names.clear()
                self._known_names.add((key, name))

    def _propagate_to_referrers(
        self,
        conn: sqlite3.Connection,
        sid: str,
        terms: set[tuple[int, int]],
        referrers: list[tuple[int, str, bytes, int]],
        credential: str,
    ) -> None:
        """Statements stored earlier that target this one now match its filters too.

        `referrers` are already those of the same organisation; further up the chain, only
        statements of that organisation inherit (each link is between the same organisation).
        """
        pending: list[str] = []
        seen = {sid}
        rows = referrers
        while True:
            for seq, ref_id, ref_terms, _ in rows:
                if ref_id in seen:
                    continue
                seen.add(ref_id)
                merged = set(_unpack_terms(ref_terms)) | terms
                conn.execute(
                    "UPDATE statements SET terms = ? WHERE seq = ?", (_pack_terms(merged), seq)
                )
                self._index_rows.extend((kind, term, seq) for kind, term in terms)
                pending.append(ref_id)
            if not pending:
                return
            rows = [
                r[:4]
                for r in conn.execute(
                    "SELECT seq, id, terms, voiding, credential FROM statements"
                    " WHERE ref_target = ?",
                    (pending.pop(),),
                ).fetchall()
                if self._orgs.same(credential, r[4])
            ]

    def _merge_activity(
        self, conn: sqlite3.Connection, activity_id: str, definition: dict[str, Any]
    ) -> None:
        encoded = orjson.dumps(definition, option=orjson.OPT_SORT_KEYS)
        if self._known_definitions.get(activity_id) == encoded:
            return
        row = conn.execute(
            "SELECT definition FROM activities WHERE id = ?", (activity_id,)
        ).fetchone()
        merged = xs.merge_definition(orjson.loads(row[0]) if row else None, definition)
        conn.execute(
            "INSERT OR REPLACE INTO activities(id, definition) VALUES (?,?)",
            (activity_id, orjson.dumps(merged)),
        )
        if len(self._known_definitions) > 100_000:
            self._known_definitions.clear()
        self._known_definitions[activity_id] = kept_bytes(encoded)

    # the log and the outbox ------------------------------------------------------------------
    # One writer commits in seq order, so "published" is a single high-water mark.
    _PUBLISHED = "outbox:published"

    def read_log(self, after: int, limit: int) -> list[LogRecord]:
        rows = self._reader().execute(
            "SELECT seq, learner, data FROM statements WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        )
        return [LogRecord(seq, learner, bytes(data)) for seq, learner, data in rows]

    def unpublished(self, limit: int) -> list[LogRecord]:
        return self.read_log(self.get_offset(self._PUBLISHED), limit)

    def mark_published(self, records: list[LogRecord]) -> None:
        if records:
            self.set_offset(self._PUBLISHED, max(r.offset for r in records))

    def published_count(self) -> int:
        mark = self.get_offset(self._PUBLISHED)
        row = self._reader().execute("SELECT count(*) FROM statements WHERE seq <= ?", (mark,))
        return int(row.fetchone()[0])

    def reset_published(self) -> None:
        with self._projection_transaction() as conn:
            conn.execute("DELETE FROM offsets WHERE name = ?", (self._PUBLISHED,))

    def get_offset(self, consumer: str) -> int:
        row = (
            self._projection_reader()
            .execute("SELECT position FROM offsets WHERE name = ?", (consumer,))
            .fetchone()
        )
        return 0 if row is None else row[0]

    def set_offset(self, consumer: str, offset: int) -> None:
        with self._projection_transaction() as conn:
            _move_offset(conn, consumer, offset)

    def claim_lease(self, name: str, owner: str, seconds: float) -> bool:
        now = time.time()
        with self._projection_transaction() as conn:
            row = conn.execute("SELECT owner, until FROM leases WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            conn.execute(
                "INSERT INTO leases (name, owner, until) VALUES (?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET owner = excluded.owner, until = excluded.until",
                (name, owner, now + seconds),
            )
            return True

    def get_statement(self, statement_id: str, *, voided: bool) -> bytes | None:
        row = (
            self._reader()
            .execute(
                "SELECT data FROM statements WHERE id = ? AND voided = ?",
                (statement_id.lower(), int(voided)),
            )
            .fetchone()
        )
        return None if row is None else row[0]

    def query_statements(self, query: StatementQuery) -> StatementPage:
        conn = self._reader()
        # One read transaction: the index, its progress mark and the tail from one snapshot.
        conn.execute("BEGIN")
        try:
            return self._query_statements(conn, query)
        finally:
            conn.execute("COMMIT")

    def _query_statements(self, conn: sqlite3.Connection, query: StatementQuery) -> StatementPage:
        resolved: list[tuple[int, int]] = []
        for kind, value in query_terms(query):  # most selective first: resolved[0] drives
            term = self._lookup_term(conn, value)
            if term is None:
                return StatementPage([], None)
            resolved.append((int(kind), term))

        low, high = self._seq_bounds(conn, query)
        if query.cursor is not None:
            if query.ascending:
                low = max(low, query.cursor + 1)
            else:
                high = min(high, query.cursor - 1)
        limit = query.limit + 1
        where = ["s.voided = 0"]
        where_params: list[Any] = []
        if query.authority is not None:
            where.append("s.credential = ?")
            where_params.append(query.authority)
        visible_sql, visible_params = _credential_filter(
            query.credentials, query.exclude_credentials
        )
        if visible_sql:
            where.append(visible_sql)
            where_params += visible_params
        filters = _Filters(" AND ".join(where), where_params, query.ascending, resolved)
        if resolved:
            through = conn.execute("SELECT through FROM index_progress").fetchone()[0]
            parts = [(low, min(high, through), True), (max(low, through + 1), high, False)]
            if not query.ascending:
                parts.reverse()
            rows: list[tuple[int, bytes]] = []
            for part_low, part_high, indexed in parts:
                if len(rows) < limit and part_low <= part_high:
                    search = _indexed_rows if indexed else _tail_rows
                    rows += search(conn, filters, part_low, part_high, limit - len(rows))
        else:
            rows = _tail_rows(conn, filters, low, high, limit)
        if len(rows) > query.limit:
            rows = rows[: query.limit]
            return StatementPage([r[1] for r in rows], rows[-1][0])
        return StatementPage([r[1] for r in rows], None)

    def _seq_bounds(
        self, conn: sqlite3.Connection, query: StatementQuery | HistoryQuery
    ) -> tuple[int, int]:
        low, high = 0, 2**62
        if query.since is not None:
            row = conn.execute(
                "SELECT seq FROM statements WHERE stored > ? ORDER BY stored, seq LIMIT 1",
                (query.since,),
            ).fetchone()
            low = row[0] if row else 2**62
        if query.until is not None:
            row = conn.execute(
                "SELECT seq FROM statements WHERE stored <= ? ORDER BY stored DESC, seq DESC LIMIT 1",
                (query.until,),
            ).fetchone()
            high = row[0] if row else -1
        return low, high

    # organisations and learner history ------------------------------------------------------
    def list_credentials(self) -> list[Credential]:
        rows = self._reader().execute(
            "SELECT key, name, scopes, org, secret_hash, role, audits FROM credentials ORDER BY key"
        )
        return [_credential(row) for row in rows]

    def credentials_version(self) -> str:
        # INSERT OR REPLACE gives the saved row a new, highest rowid, so any save moves it;
        # max(rowid) is one b-tree descent (credentials are never deleted).
        row = self._reader().execute("SELECT coalesce(max(rowid), 0) FROM credentials").fetchone()
        return str(row[0])

    def statement_history(self, query: HistoryQuery) -> HistoryPage:
        """Driven by each learner key's AGENT index range (in seq order, so a page reads
        about a page of rows however long the history), merged when a person has several;
        statements the deferred index has not reached yet are matched on their own terms."""
        conn = self._reader()
        conn.execute("BEGIN")  # the index, its progress mark and the tail from one snapshot
        try:
            return self._statement_history(conn, query)
        finally:
            conn.execute("COMMIT")

    def _statement_history(self, conn: sqlite3.Connection, query: HistoryQuery) -> HistoryPage:
        learners = [
            term
            for key in dict.fromkeys(query.learners)
            if (term := self._lookup_term(conn, key)) is not None
        ]
        if not learners:
            return HistoryPage([], None)
        extra: list[tuple[int, int]] = []
        for kind, value in history_terms(query):
            term = self._lookup_term(conn, value)
            if term is None:
                return HistoryPage([], None)
            extra.append((int(kind), term))
        low, high = self._seq_bounds(conn, query)
        low = max(low, query.after + 1)
        visible_sql, visible_params = _credential_filter(
            query.credentials, query.exclude_credentials
        )
        filters = [  # voided statements too: the history is the complete record
            _Filters(visible_sql or "1", visible_params, True, [(int(xs.Term.AGENT), t), *extra])
            for t in learners
        ]
        through = conn.execute("SELECT through FROM index_progress").fetchone()[0]
        records: list[HistoryRecord] = []
        chunk = query.limit + 1
        while low <= high:
            rows = _history_rows(conn, filters, through, low, high, chunk)
            for seq, data in rows:
                if query.course is not None and not in_course(orjson.loads(data), query.course):
                    continue
                if len(records) == query.limit:
                    return HistoryPage(records, records[-1].seq)
                records.append(self._history_record(conn, seq, data))
            if len(rows) < chunk:
                break
            low = rows[-1][0] + 1
        return HistoryPage(records, None)

    def _history_record(self, conn: sqlite3.Connection, seq: int, data: bytes) -> HistoryRecord:
        stored, credential, voided = conn.execute(
            "SELECT stored, credential, voided FROM statements WHERE seq = ?", (seq,)
        ).fetchone()
        return HistoryRecord(seq, stored, credential, bool(voided), bytes(data))

    def get_attachments(self, sha2s: list[str]) -> list[Attachment]:
        if not sha2s:
            return []
        marks = ",".join("?" * len(sha2s))
        rows = self._reader().execute(
            f"SELECT sha2, content_type, data FROM attachments WHERE sha2 IN ({marks})", sha2s
        )
        return [Attachment(sha2, content_type, bytes(data)) for sha2, content_type, data in rows]

    def consistent_through(self) -> str:
        writing = self._writing_since
        now = datetime.now(UTC)
        if writing is not None:
            return format_stored(parse_stored(writing) - timedelta(milliseconds=1))
        return format_stored(now)

    def get_activity(self, activity_id: str) -> dict[str, Any] | None:
        row = (
            self._reader()
            .execute("SELECT definition FROM activities WHERE id = ?", (activity_id,))
            .fetchone()
        )
        return None if row is None else orjson.loads(row[0])

    def get_agent_names(self, key: str) -> list[str]:
        rows = self._reader().execute("SELECT name FROM agent_names WHERE key = ?", (key,))
        return [r[0] for r in rows]

    # documents -------------------------------------------------------------------------------
    def _read_document(
        self, conn: sqlite3.Connection, kind: str, scope: str, doc_id: str
    ) -> Document | None:
        row = conn.execute(
            "SELECT content, content_type, etag, updated FROM documents"
            " WHERE kind = ? AND scope = ? AND doc_id = ?",
            (kind, scope, doc_id),
        ).fetchone()
        return None if row is None else Document(bytes(row[0]), row[1], row[2], row[3])

    def get_document(self, kind: str, scope: str, doc_id: str) -> Document | None:
        return self._read_document(self._reader(), kind, scope, doc_id)

    def list_documents(self, kind: str, scope: str, since: str | None) -> list[str]:
        sql = "SELECT doc_id FROM documents WHERE kind = ? AND scope = ?"
        params: list[Any] = [kind, scope]
        if since is not None:
            sql += " AND updated > ?"
            params.append(since)
        return [r[0] for r in self._reader().execute(sql + " ORDER BY doc_id", params)]

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
        with self._transaction() as conn:
            current = self._read_document(conn, kind, scope, doc_id)
            preconditions.check(current)
            if merge:
                content = merge_documents(
                    current.content if current else None,
                    current.content_type if current else None,
                    content,
                    content_type,
                )
                content_type = "application/json"
            document = Document(content, content_type, etag_for(content), self._now_stored())
            conn.execute(
                "INSERT OR REPLACE INTO documents(kind, scope, doc_id, content, content_type,"
                " etag, updated) VALUES (?,?,?,?,?,?,?)",
                (kind, scope, doc_id, content, content_type, document.etag, document.updated),
            )
            return document

    def delete_document(
        self, kind: str, scope: str, doc_id: str, preconditions: Preconditions
    ) -> None:
        with self._transaction() as conn:
            current = self._read_document(conn, kind, scope, doc_id)
            preconditions.check(current)
            if current is None:
                raise NotFound("no such document", "stateId" if kind == "state" else "profileId")
            conn.execute(
                "DELETE FROM documents WHERE kind = ? AND scope = ? AND doc_id = ?",
                (kind, scope, doc_id),
            )

    def delete_documents(self, kind: str, scope: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM documents WHERE kind = ? AND scope = ?", (kind, scope))

    # projections -----------------------------------------------------------------------------
    def apply_changes(
        self,
        reducer: Any,
        changes: list[Contribution | Retraction],
        offset: tuple[str, int] | None = None,
    ) -> None:
        name = reducer.name
        with self._projection_transaction() as conn:
            tx = _SQLiteProjection(conn, name, changes, reducer, statements=self._reader())
            states = apply_projection_changes(reducer, changes, tx)
            tx.flush()
            unindex: list[tuple[str, str, Any, str]] = []
            index: list[tuple[str, str, Any, str]] = []
            deleted: list[tuple[str, str]] = []
            written: list[tuple[str, str, bytes]] = []
            for key, state in states.items():
                if key in tx.loaded_index:
                    old_rows = tx.loaded_index[key]
                elif key in tx.indexed:
                    old_rows = {
                        (f, v)
                        for f, v in conn.execute(
                            "SELECT field, value FROM state_index WHERE projection = ? AND key = ?",
                            (name, key),
                        )
                    }
                else:
                    old_rows = set()
                new_rows = _index_rows(reducer, state) if state is not None else set()
                # only what changed: most folds move one or two values
                unindex += [(name, f, v, key) for f, v in old_rows - new_rows]
                index += [(name, f, v, key) for f, v in new_rows - old_rows]
                if state is None:
                    deleted.append((name, key))
                else:
                    written.append((name, key, kept_bytes(orjson.dumps(state))))
            # One statement per kind of write for the whole batch, not several per key.
            conn.executemany(
                "DELETE FROM state_index WHERE projection = ? AND field = ? AND value = ?"
                " AND key = ?",
                unindex,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO state_index(projection, field, value, key) VALUES (?,?,?,?)",
                index,
            )
            conn.executemany("DELETE FROM states WHERE projection = ? AND key = ?", deleted)
            conn.executemany(
                "INSERT OR REPLACE INTO states(projection, key, state) VALUES (?,?,?)", written
            )
            if offset is not None:
                _move_offset(conn, *offset)

    def get_state(self, projection: str, key: str) -> dict[str, Any] | None:
        row = (
            self._projection_reader()
            .execute("SELECT state FROM states WHERE projection = ? AND key = ?", (projection, key))
            .fetchone()
        )
        return None if row is None else orjson.loads(row[0])

    def list_states(self, projection: str, query: StateQuery) -> list[tuple[str, dict[str, Any]]]:
        equals = dict(query.equals)
        if equals:
            # Drive from the index (a class of 40 among 100,000 learners reads 40 rows).
            field_name, value = next(iter(equals.items()))
            del equals[field_name]
            sql = (
                "SELECT s.key, s.state FROM state_index d JOIN states s"
                " ON s.projection = d.projection AND s.key = d.key"
                " WHERE d.projection = ? AND d.field = ? AND d.value = ? AND d.key > ?"
            )
            params: list[Any] = [projection, field_name, value, query.after or ""]
            order = "d.key"  # ordering by s.key would make SQLite walk every state instead
        else:
            sql = "SELECT s.key, s.state FROM states s WHERE s.projection = ? AND s.key > ?"
            params = [projection, query.after or ""]
            order = "s.key"
        for op, filters in (("=", equals), (">=", query.at_least)):
            for field_name, value in filters.items():
                sql += (
                    " AND EXISTS (SELECT 1 FROM state_index i WHERE i.projection = s.projection"
                    f" AND i.key = s.key AND i.field = ? AND i.value {op} ?)"
                )
                params += [field_name, value]
        sql += f" ORDER BY {order} LIMIT ?"
        params.append(query.limit)
        return [
            (key, orjson.loads(state))
            for key, state in self._projection_reader().execute(sql, params)
        ]

    def clear_projection(self, projection: str) -> None:
        with self._projection_transaction() as conn:
            for table in ("contributions", "retractions", "states", "state_index"):
                conn.execute(f"DELETE FROM {table} WHERE projection = ?", (projection,))

    def get_contributions(self, projection: str, keys: list[str]) -> list[Contribution]:
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        rows = self._projection_reader().execute(
            "SELECT statement_id, key, data FROM contributions WHERE projection = ?"
            f" AND key IN ({marks}) AND voided = 0 ORDER BY n",
            [projection, *keys],
        )
        return [Contribution(sid, key, orjson.loads(data)) for sid, key, data in rows]

    # definitions -----------------------------------------------------------------------------
    def put_definition(self, kind: str, definition_id: str, data: dict[str, Any]) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO definitions(kind, id, data) VALUES (?,?,?)",
                (kind, definition_id, orjson.dumps(data)),
            )

    def get_definition(self, kind: str, definition_id: str) -> dict[str, Any] | None:
        row = (
            self._reader()
            .execute(
                "SELECT data FROM definitions WHERE kind = ? AND id = ?", (kind, definition_id)
            )
            .fetchone()
        )
        return None if row is None else orjson.loads(row[0])

    def list_definitions(self, kind: str) -> list[dict[str, Any]]:
        rows = self._reader().execute(
            "SELECT data FROM definitions WHERE kind = ? ORDER BY id", (kind,)
        )
        return [orjson.loads(row[0]) for row in rows]

    def delete_definition(self, kind: str, definition_id: str) -> bool:
        with self._transaction() as conn:
            return bool(
                conn.execute(
                    "DELETE FROM definitions WHERE kind = ? AND id = ?", (kind, definition_id)
                ).rowcount
            )

    # identity ----------------------------------------------------------------------------------
    def link_keys(self, person: str, keys: list[str]) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO identity_links(key, person) VALUES (?,?)",
                [(key, person) for key in keys],
            )

    def unlink_key(self, key: str) -> str | None:
        with self._transaction() as conn:
            row = conn.execute("SELECT person FROM identity_links WHERE key = ?", (key,)).fetchone()
            conn.execute("DELETE FROM identity_links WHERE key = ?", (key,))
            return None if row is None else str(row[0])

    def person_of(self, key: str) -> str | None:
        row = (
            self._reader()
            .execute("SELECT person FROM identity_links WHERE key = ?", (key,))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def keys_of(self, person: str) -> list[str]:
        rows = self._reader().execute(
            "SELECT key FROM identity_links WHERE person = ? ORDER BY key", (person,)
        )
        return [row[0] for row in rows]

    # credentials -----------------------------------------------------------------------------
    def save_credential(self, credential: Credential) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO credentials(key, name, scopes, org, secret_hash, created,"
                " role, audits) VALUES (?,?,?,?,?,?,?,?)",
                (
                    credential.key,
                    credential.name,
                    " ".join(credential.scopes),
                    credential.org,
                    credential.secret_hash,
                    format_stored(datetime.now(UTC)),
                    credential.role,
                    " ".join(credential.audits),
                ),
            )
            self._orgs.forget()

    def _load_org(self, key: str) -> str | None:
        row = self._writer.execute("SELECT org FROM credentials WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _writer_credentials_version(self) -> str:
        row = self._writer.execute("SELECT coalesce(max(rowid), 0) FROM credentials").fetchone()
        return str(row[0])

    def get_credential(self, key: str) -> Credential | None:
        row = (
            self._reader()
            .execute(
                "SELECT key, name, scopes, org, secret_hash, role, audits FROM credentials"
                " WHERE key = ?",
                (key,),
            )
            .fetchone()
        )
        return None if row is None else _credential(row)

    # the access log ----------------------------------------------------------------------------
    def _open_audit_log(self) -> None:
        """The access log lives in a third file with its own write lock: logging a read never
        queues behind the statement writer's group commit, nor holds it up. Fully synced:
        unlike projections, it cannot be rebuilt from anything."""
        self.audit_path = self.path.with_name(f"{self.path.stem}-audit{self.path.suffix}")
        self._audit_lock = threading.Lock()
        self._audit_writer = self._connect(self.audit_path, cache_mib=4)
        self._audit_writer.execute("PRAGMA synchronous=FULL")
        self._audit_writer.executescript(AUDIT_SCHEMA)

    def _audit_reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "audit_conn", None)
        if conn is None:
            conn = self._connect(self.audit_path, cache_mib=4)
            conn.execute("PRAGMA query_only=1")
            self._local.audit_conn = conn
        return conn

    def append_access(self, record: dict[str, Any]) -> AccessEntry:
        """BEGIN IMMEDIATE takes SQLite's write lock before the head is read, so appends from
        other threads and other processes on the same file queue instead of forking."""
        with self._audit_lock:
            conn = self._audit_writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                head = conn.execute("SELECT seq, hash FROM access_head WHERE id = 1").fetchone()
                seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
                entry = seal_access(record, seq + 1, prev)
                conn.execute(
                    f"INSERT INTO access_log({_ACCESS_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    _access_row(entry),
                )
                conn.execute(
                    "INSERT OR REPLACE INTO access_head(id, seq, hash) VALUES (1, ?, ?)",
                    (entry.seq, entry.hash),
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return entry

    def read_access(self, query: AccessQuery) -> list[AccessEntry]:
        sql = f"SELECT {_ACCESS_COLUMNS} FROM access_log WHERE seq > ?"
        params: list[Any] = [query.after]
        for column, op, value in (
            ("at", ">", query.since),
            ("at", "<=", query.until),
            ("credential", "=", query.credential),
            ("learner", "=", query.learner),
        ):
            if value is not None:
                sql += f" AND {column} {op} ?"
                params.append(value)
        if query.orgs:
            sql += f" AND org IN ({','.join('?' * len(query.orgs))})"
            params += list(query.orgs)
        sql += " ORDER BY seq LIMIT ?"
        params.append(query.limit)
        return [_access_entry(row) for row in self._audit_reader().execute(sql, params)]

    def access_head(self) -> AccessHead | None:
        row = self._audit_reader().execute("SELECT seq, hash FROM access_head").fetchone()
        return None if row is None else AccessHead(int(row[0]), str(row[1]))

    # erasure -------------------------------------------------------------------------------------
    def erase(self, keys: list[str], reducers: list[Any]) -> ErasureReport:
        """Statements, documents, names, links and attachments in one transaction on the
        statement file, then the projections in one on theirs. `secure_delete` overwrites
        the freed pages and a WAL checkpoint drops the old page images, so the erased bytes
        do not linger in the files (readers holding old snapshots can delay the checkpoint).
        Pragmas and checkpoints run under each file's write lock: the writer connections
        are shared with the group commit and the processors."""
        erased = frozenset(keys)
        report = ErasureReport()
        with self._transaction() as conn:
            conn.execute("PRAGMA secure_delete=ON")
            try:
                deleted, rewritten = self._erase_statements(conn, erased, report)
                self._erase_around_statements(conn, erased, report)
            finally:
                conn.execute("PRAGMA secure_delete=OFF")
                # cached term ids may name deleted terms: forget them before anyone writes
                self._forget_caches()
        with self._projection_transaction() as conn:
            conn.execute("PRAGMA secure_delete=ON")
            try:
                self._erase_projections(conn, reducers, deleted, rewritten, report)
            finally:
                conn.execute("PRAGMA secure_delete=OFF")
        with self._write_lock:
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with self._projection_lock:
            self._projection_writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return report

    def _erase_statements(
        self, conn: sqlite3.Connection, erased: frozenset[str], report: ErasureReport
    ) -> tuple[list[str], dict[str, dict[str, Any]]]:
        marks = ",".join("?" * len(erased))
        term_ids = {
            row[0]
            for row in conn.execute(f"SELECT id FROM terms WHERE value IN ({marks})", list(erased))
        }
        through = _indexed_through(conn)
        seqs: set[int] = set()
        if term_ids:
            id_marks = ",".join("?" * len(term_ids))
            seqs = {
                row[0]
                for row in conn.execute(
                    "SELECT DISTINCT seq FROM statement_index WHERE kind IN (?, ?)"
                    f" AND term IN ({id_marks})",
                    [int(xs.Term.AGENT), int(xs.Term.RELATED_AGENT), *term_ids],
                )
            }
            if through is not None:  # the tail the deferred index has not reached yet
                patterns = [
                    orjson.dumps([int(kind), term])
                    for kind in (xs.Term.AGENT, xs.Term.RELATED_AGENT)
                    for term in term_ids
                ]
                seqs |= {
                    row[0]
                    for row in conn.execute(
                        "SELECT seq FROM statements WHERE seq > ? AND ("
                        + " OR ".join(["instr(terms, ?) > 0"] * len(patterns))
                        + ")",
                        [through, *patterns],
                    )
                }
        deleted: list[str] = []
        rewritten: dict[str, dict[str, Any]] = {}
        orphans: set[str] = set()
        for seq in sorted(seqs):
            row = conn.execute(
                "SELECT id, terms, data FROM statements WHERE seq = ?", (seq,)
            ).fetchone()
            if row is None:
                continue
            sid, packed, data = row[0], _unpack_terms(row[1]), orjson.loads(row[2])
            indexed = through is None or seq <= through  # else the indexer reads `terms` later
            conn.executemany(
                "DELETE FROM statement_index WHERE kind = ? AND term = ? AND seq = ?",
                [(kind, term, seq) for kind, term in packed],
            )
            kept = erase_from_statement(data, erased)
            if kept is None:
                conn.execute("DELETE FROM statements WHERE seq = ?", (seq,))
                deleted.append(sid)
                orphans |= attachment_hashes(data)
                report.statements_deleted += 1
                continue
            terms = {(k, t) for k, t in packed if t not in term_ids}
            if kept is not data:
                terms |= {
                    (int(kind), self._term_id(conn, value)) for kind, value in xs.index_terms(kept)
                }
                rewritten[sid] = kept
                report.statements_pseudonymised += 1
            conn.execute(
                "UPDATE statements SET terms = ?, data = ?, learner = ? WHERE seq = ?",
                (_pack_terms(terms), orjson.dumps(kept), xs.learner_key(kept), seq),
            )
            if indexed:
                conn.executemany(
                    "INSERT OR IGNORE INTO statement_index(kind, term, seq) VALUES (?,?,?)",
                    [(kind, term, seq) for kind, term in terms],
                )
        if term_ids:
            conn.execute(
                f"DELETE FROM terms WHERE id IN ({','.join('?' * len(term_ids))})", list(term_ids)
            )
        for sha2 in sorted(orphans):
            # No index says which statements use an attachment: look for its hash in the rest.
            if (
                conn.execute(
                    "SELECT 1 FROM statements WHERE instr(data, ?) > 0 LIMIT 1", (sha2.encode(),)
                ).fetchone()
                is None
            ):
                report.attachments_deleted += conn.execute(
                    "DELETE FROM attachments WHERE sha2 = ?", (sha2,)
                ).rowcount
        return deleted, rewritten

    def _erase_around_statements(
        self, conn: sqlite3.Connection, erased: frozenset[str], report: ErasureReport
    ) -> None:
        keys = sorted(erased)
        marks = ",".join("?" * len(keys))
        report.agent_names_deleted += conn.execute(
            f"DELETE FROM agent_names WHERE key IN ({marks})", keys
        ).rowcount
        report.identity_links_deleted += conn.execute(
            f"DELETE FROM identity_links WHERE key IN ({marks})", keys
        ).rowcount
        documents = {
            (kind, scope, doc_id)
            for key in keys
            for kind, scope, doc_id in conn.execute(
                "SELECT kind, scope, doc_id FROM documents WHERE kind IN (?, ?)"
                " AND instr(scope, ?) > 0",
                (DocumentKind.STATE, DocumentKind.AGENT_PROFILE, key),
            )
            if document_agent(kind, scope) in erased
        }
        for kind, scope, doc_id in sorted(documents):
            report.documents_deleted += conn.execute(
                "DELETE FROM documents WHERE kind = ? AND scope = ? AND doc_id = ?",
                (kind, scope, doc_id),
            ).rowcount

    def _erase_projections(
        self,
        conn: sqlite3.Connection,
        reducers: list[Any],
        deleted: list[str],
        rewritten: dict[str, dict[str, Any]],
        report: ErasureReport,
    ) -> None:
        ids = deleted + list(rewritten)
        for reducer in reducers:
            name = reducer.name
            affected: set[str] = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                affected.update(
                    row[0]
                    for row in conn.execute(
                        "SELECT DISTINCT key FROM contributions WHERE projection = ?"
                        f" AND statement_id IN ({marks})",
                        [name, *chunk],
                    )
                )
                report.contributions_deleted += conn.execute(
                    f"DELETE FROM contributions WHERE projection = ? AND statement_id IN ({marks})",
                    [name, *chunk],
                ).rowcount
            tx = _SQLiteProjection(
                conn,
                name,
                [Contribution(sid, "", {}) for sid in rewritten],
                statements=self._reader(),
            )
            states = rebuild_after_erasure(reducer, tx, deleted, rewritten, affected)
            tx.flush()
            for key, state in states.items():
                conn.execute(
                    "DELETE FROM state_index WHERE projection = ? AND key = ?", (name, key)
                )
                if state is None:
                    report.states_deleted += conn.execute(
                        "DELETE FROM states WHERE projection = ? AND key = ?", (name, key)
                    ).rowcount
                    continue
                report.states_rebuilt += 1
                conn.execute(
                    "INSERT OR REPLACE INTO states(projection, key, state) VALUES (?,?,?)",
                    (name, key, orjson.dumps(state)),
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO state_index(projection, field, value, key)"
                    " VALUES (?,?,?,?)",
                    [(name, f, v, key) for f, v in _index_rows(reducer, state)],
                )


def _indexed_through(conn: sqlite3.Connection) -> int | None:
    """Where the deferred statement index stands (None: every statement is indexed)."""
    try:
        row = conn.execute("SELECT through FROM index_progress").fetchone()
    except sqlite3.OperationalError:  # a store without a deferred index
        return None
    return 0 if row is None else int(row[0])


AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS access_log (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, action TEXT NOT NULL, credential TEXT NOT NULL,
    name TEXT NOT NULL, role TEXT NOT NULL, org TEXT, what TEXT NOT NULL, learner TEXT,
    query TEXT NOT NULL, count INTEGER NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS access_log_at ON access_log(at);
CREATE INDEX IF NOT EXISTS access_log_learner ON access_log(learner, seq);
CREATE INDEX IF NOT EXISTS access_log_credential ON access_log(credential, seq);
CREATE TABLE IF NOT EXISTS access_head (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL
);
"""
_ACCESS_COLUMNS = (
    "seq, at, action, credential, name, role, org, what, learner, query, count, prev, hash"
)


def _access_row(entry: AccessEntry) -> tuple[Any, ...]:
    return (
        entry.seq, entry.at, entry.action, entry.credential, entry.name, entry.role, entry.org,
        entry.what, entry.learner, orjson.dumps(entry.query).decode(), entry.count, entry.prev,
        entry.hash,
    )  # fmt: skip


def _access_entry(row: tuple[Any, ...]) -> AccessEntry:
    return AccessEntry(
        int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
        orjson.loads(row[9]), int(row[10]), row[11], row[12],
    )  # fmt: skip


def _history_rows(
    conn: sqlite3.Connection,
    filters: list[_Filters],
    through: int,
    low: int,
    high: int,
    limit: int,
) -> list[tuple[int, bytes]]:
    """Up to `limit` rows in seq order matching any learner's filters, each row once: per
    learner, the indexed part then the tail (as `_query_statements` reads them), merged."""
    runs: list[list[tuple[int, bytes]]] = []
    for one in filters:
        rows: list[tuple[int, bytes]] = []
        for part_low, part_high, indexed in (
            (low, min(high, through), True),
            (max(low, through + 1), high, False),
        ):
            if len(rows) < limit and part_low <= part_high:
                search = _indexed_rows if indexed else _tail_rows
                rows += search(conn, one, part_low, part_high, limit - len(rows))
        runs.append(rows)
    if len(runs) == 1:
        return runs[0]
    merged: list[tuple[int, bytes]] = []
    for row in heapq.merge(*runs, key=lambda r: r[0]):
        if not merged or merged[-1][0] != row[0]:  # actor under one key, object under another
            merged.append(row)
    return merged[:limit]


def _credential(row: tuple[Any, ...]) -> Credential:
    return Credential(
        row[0], row[1], tuple(row[2].split()), row[3], row[4], row[5], tuple(row[6].split())
    )


def _credential_filter(credentials: list[str] | None, exclude: bool) -> tuple[str, list[Any]]:
    """The SQL condition on `s.credential` that keeps what an organisation may see."""
    if credentials is None or (exclude and not credentials):
        return "", []
    if not credentials:
        return "0", []  # only the statements of no credential: nothing
    marks = ",".join("?" * len(credentials))
    return f"s.credential {'NOT IN' if exclude else 'IN'} ({marks})", list(credentials)


@dataclass(frozen=True)
class _Filters:
    """What a statement query asks of a row besides its seq range."""

    where: str  # on the statements row `s`
    params: list[Any]
    ascending: bool
    terms: list[tuple[int, int]]  # (kind, term id), the most selective first

    @property
    def order(self) -> str:
        return "ASC" if self.ascending else "DESC"


def _indexed_rows(
    conn: sqlite3.Connection, filters: _Filters, low: int, high: int, limit: int
) -> list[tuple[int, bytes]]:
    kind, term = filters.terms[0]
    sql = (
        "SELECT s.seq, s.data FROM statement_index d JOIN statements s ON s.seq = d.seq"
        " WHERE d.kind = ? AND d.term = ? AND d.seq BETWEEN ? AND ?"
    )
    params: list[Any] = [kind, term, low, high]
    for kind, term in filters.terms[1:]:
        sql += (
            " AND EXISTS (SELECT 1 FROM statement_index x"
            " WHERE x.kind = ? AND x.term = ? AND x.seq = d.seq)"
        )
        params += [kind, term]
    sql += f" AND {filters.where} ORDER BY d.seq {filters.order} LIMIT ?"
    return conn.execute(sql, [*params, *filters.params, limit]).fetchall()


def _tail_rows(
    conn: sqlite3.Connection, filters: _Filters, low: int, high: int, limit: int
) -> list[tuple[int, bytes]]:
    """Statements by seq range, matched on the term list each one carries (not the index):
    the not-yet-indexed tail, or every statement when the query names no term."""
    sql = "SELECT s.seq, s.data FROM statements s WHERE s.seq BETWEEN ? AND ?"
    params: list[Any] = [low, high]
    for kind, term in filters.terms:
        # `terms` is the JSON list of [kind,term] pairs: the brackets delimit exactly.
        sql += " AND instr(s.terms, ?) > 0"
        params.append(orjson.dumps([kind, term]))
    sql += f" AND {filters.where} ORDER BY s.seq {filters.order} LIMIT ?"
    return conn.execute(sql, [*params, *filters.params, limit]).fetchall()


def _index_rows(reducer: Any, state: dict[str, Any]) -> set[tuple[str, Any]]:
    return {(f, v) for f, values in reducer.index(state).items() for v in values}


def _move_offset(conn: sqlite3.Connection, consumer: str, offset: int) -> None:
    """Offsets only move forward."""
    conn.execute(
        "INSERT INTO offsets(name, position) VALUES (?, ?)"
        " ON CONFLICT(name) DO UPDATE SET position = MAX(position, excluded.position)",
        (consumer, offset),
    )


class _SQLiteProjection:
    """`ProjectionTransaction` on the writer connection, inside `apply_changes`' transaction."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        name: str,
        changes: list[Contribution | Retraction],
        reducer: Any = None,
        *,
        statements: sqlite3.Connection,
    ) -> None:
        self.conn = conn
        self.statements = statements  # a reader of the statement file (`is_retracted`)
        self.name = name
        self.reducer = reducer
        # keys that may have index rows already: stored before, or rebuilt in this batch
        self.indexed: set[str] = set()
        # index rows of the states as loaded, so the writer diffs without reading them back
        self.loaded_index: dict[str, set[tuple[str, Any]]] = {}
        # A few queries for the whole batch instead of one per contribution:
        # what is retracted, and which contributions are already recorded.
        ids = list({c.statement_id for c in changes if isinstance(c, Contribution)})
        self.retracted: set[str] = set()
        self._kept: dict[str, bool] = {}  # retracted, yet stored and not voided (`is_retracted`)
        self.recorded: set[tuple[str, str]] = set()
        self._pending: list[tuple[str, str, str, bytes]] = []
        # the states of the batch's keys, read together (None: no state yet)
        keys = list({c.key for c in changes if isinstance(c, Contribution)})
        self._stored_states: dict[str, bytes | None] = dict.fromkeys(keys)
        # Runs of 256, 128, ... (`_pieces`), as the writer does: a handful of SQL texts, so
        # the connection's statement cache keeps them instead of preparing new ones per batch.
        for chunk in _pieces(keys):
            marks = ",".join("?" * len(chunk))
            self._stored_states.update(
                conn.execute(
                    f"SELECT key, state FROM states WHERE projection = ? AND key IN ({marks})",
                    [name, *chunk],
                )
            )
        for chunk in _pieces(ids):
            marks = ",".join("?" * len(chunk))
            self.retracted.update(
                row[0]
                for row in conn.execute(
                    "SELECT statement_id FROM retractions WHERE projection = ?"
                    f" AND statement_id IN ({marks})",
                    [name, *chunk],
                )
            )
            self.recorded.update(
                conn.execute(
                    "SELECT statement_id, key FROM contributions WHERE projection = ?"
                    f" AND statement_id IN ({marks})",
                    [name, *chunk],
                )
            )

    def flush(self) -> None:
        """Write the contributions recorded so far (before anything reads them back)."""
        if self._pending:
            self.conn.executemany(
                "INSERT OR IGNORE INTO contributions(projection, statement_id, key, data)"
                " VALUES (?,?,?,?)",
                self._pending,
            )
            self._pending = []

    def load_state(self, key: str) -> dict[str, Any] | None:
        if key in self._stored_states:
            raw = self._stored_states[key]
        else:
            row = self.conn.execute(
                "SELECT state FROM states WHERE projection = ? AND key = ?", (self.name, key)
            ).fetchone()
            raw = None if row is None else row[0]
        if raw is None:
            return None
        self.indexed.add(key)
        state = orjson.loads(raw)
        if self.reducer is not None:
            self.loaded_index[key] = _index_rows(self.reducer, state)
        return state

    def is_retracted(self, statement_id: str) -> bool:
        if statement_id not in self.retracted:
            return False
        kept = self._kept.get(statement_id)
        if kept is None:
            row = self.statements.execute(
                "SELECT voided FROM statements WHERE id = ?", (statement_id,)
            ).fetchone()
            kept = self._kept[statement_id] = row is not None and not row[0]
        return not kept

    def add_contribution(self, contribution: Contribution) -> bool:
        recorded = (contribution.statement_id, contribution.key)
        if recorded in self.recorded:
            return False
        self.recorded.add(recorded)
        self._pending.append(
            (
                self.name,
                contribution.statement_id,
                contribution.key,
                kept_bytes(orjson.dumps(contribution.data)),
            )
        )
        return True

    def add_retraction(self, statement_id: str) -> bool:
        self.retracted.add(statement_id)
        return bool(
            self.conn.execute(
                "INSERT OR IGNORE INTO retractions(projection, statement_id) VALUES (?,?)",
                (self.name, statement_id),
            ).rowcount
        )

    def retract_contributions(self, statement_id: str) -> list[str]:
        self.flush()
        keys = [
            row[0]
            for row in self.conn.execute(
                "SELECT DISTINCT key FROM contributions"
                " WHERE projection = ? AND statement_id = ? AND voided = 0",
                (self.name, statement_id),
            )
        ]
        self.conn.execute(
            "UPDATE contributions SET voided = 1 WHERE projection = ? AND statement_id = ?",
            (self.name, statement_id),
        )
        return keys

    def live_contributions(self, key: str) -> list[Contribution]:
        self.flush()
        self.indexed.add(key)
        return [
            Contribution(sid, key, orjson.loads(data))
            for sid, data in self.conn.execute(
                "SELECT statement_id, data FROM contributions"
                " WHERE projection = ? AND key = ? AND voided = 0 ORDER BY n",
                (self.name, key),
            )
        ]
