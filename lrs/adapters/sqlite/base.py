"""What every SQLite adapter shares: the files, their connections and transactions.

Writes go through one connection under a lock (SQLite allows one writer); reads use one
connection per thread and never wait for writes. The statements table's `seq` is the
stored order, which is also the order of the embedded event log. A locked, busy or
unopenable file is `StoreUnavailable` (HTTP 503 with Retry-After), never a 500."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from lrs.adapters.sqlite.log_positions import never_reuse_positions
from lrs.adapters.sqlite.schema import (
    CREDENTIAL_COLUMNS_ADDED,
    PROJECTION_SCHEMA,
    SCHEMA,
    add_missing_columns,
)
from lrs.domain.errors import StoreUnavailable
from lrs.domain.records import Attachment
from lrs.domain.times import format_stored
from lrs.memory import kept_bytes
from lrs.ops.orgs import CredentialOrgs
from lrs.xapi.statements import Term

WAL_CHECKPOINT_PAGES = 16_384


# The projections file's WAL may grow to 256 MiB (4 KiB pages) between checkpoints.
PROJECTION_CHECKPOINT_PAGES = 65_536


# The unindexed tail the writer lets grow before indexing it, and how much one transaction
# indexes: bigger batches share more index pages, smaller ones hold the write lock shorter.
INDEX_AT = 20_000


INDEX_CHUNK = 20_000


# Rows per multi-row INSERT (and ids per IN list) at most.
_ROWS_PER_CALL = 256


def pieces(items: list[Any]) -> Iterator[list[Any]]:
    """`items` in runs of 256, 128, 64, ... 1 rows: few distinct SQL texts.

    Every row count is a different statement for SQLite, and a prepared multi-row INSERT is
    large; cutting by powers of two keeps the connection's statement cache to a few dozen
    shapes, and so the server's memory bounded (benchmarks/README.md, "Figures behind the
    SQLite adapter").
    """
    start = 0
    while start < len(items):
        size = min(_ROWS_PER_CALL, 1 << ((len(items) - start).bit_length() - 1))
        yield items[start : start + size]
        start += size


# A statement's index terms are stored as one sorted JSON list of integers, each
# kind * TERM_SPAN + term id: the bulk indexer splits them with integer arithmetic instead of
# two json_extract calls per pair, and with kinds 1-6 and term ids below 10**12 every one is
# exactly 13 digits, so `instr` finds one in a row's list exactly (no digit run is a part of
# another). Rows written before this encoding hold [kind, term] pairs; every reader (this
# module's `unpack_terms` and `term_needles`, the indexer's INDEX_TERMS) takes both.
TERM_SPAN = 10**12


def pack_terms(terms: Iterable[tuple[int, int]]) -> bytes:
    return kept_bytes(orjson.dumps(sorted({kind * TERM_SPAN + term for kind, term in terms})))


def unpack_terms(blob: bytes) -> list[tuple[int, int]]:
    return [
        divmod(item, TERM_SPAN) if type(item) is int else (item[0], item[1])
        for item in orjson.loads(blob)
    ]


def term_needles(kind: int, term: int) -> tuple[bytes, bytes]:
    """What `instr` looks for in a row's packed terms: the term as encoded now, and as a
    [kind, term] pair of the old encoding (a read-only store may hold an unindexed old tail)."""
    return orjson.dumps(kind * TERM_SPAN + term), orjson.dumps([kind, term])


def term_needles_any_kind(term: int) -> list[bytes]:
    """What `instr` looks for to find a term under any kind, in either encoding."""
    return [orjson.dumps(int(kind) * TERM_SPAN + term) for kind in Term] + [f",{term}]".encode()]


@dataclass
class PendingWrite:
    statements: list[dict[str, Any]]
    authority: dict[str, Any]
    credential: str
    version: str
    attachments: list[Attachment]
    ids: list[str] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


# SQLite's answers that mean "not now", not "never": the file is locked or busy past the
# busy timeout, cannot be opened, or its disk failed or filled. Clients get 503 with
# Retry-After (lrs.api.errors), as for an unreachable MongoDB, never 500.
_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL")


def unavailable(exc: Exception) -> StoreUnavailable | None:
    """An SQLite error that means the store is unavailable for now (retry later)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    name = getattr(exc, "sqlite_errorname", "") or ""
    message = str(exc).lower()
    if name.startswith(_UNAVAILABLE) or any(
        word in message for word in ("locked", "busy", "unable to open")
    ):
        return StoreUnavailable(f"the database is busy or unavailable ({exc}); retry shortly")
    return None


class SQLiteBase:
    """Connections, locks and caches; each capability's adapter is a mixin over this."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 10.0,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = int(busy_timeout * 1000)
        # Read-only: the files of a data directory nothing may write (a read-only mount, a
        # backup an auditor checks). Opened immutable: SQLite then needs no -wal or -shm
        # file beside them, which it could not create; no schema is created or upgraded.
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[PendingWrite] = []
        self.projections_path = self.path.with_name(
            f"{self.path.stem}-projections{self.path.suffix}"
        )
        self._writer = self._connect(self.path)
        if not read_only:
            self._writer.executescript(SCHEMA)
            never_reuse_positions(self._writer, self.projections_path)
            # A store from before the deferred index had every statement indexed as it was
            # stored.
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
        if not read_only:
            self._indexer.start()
            add_missing_columns(self._writer, "credentials", CREDENTIAL_COLUMNS_ADDED)
        self._projection_lock = threading.Lock()
        # Derived state can always be rebuilt from the log, and its offsets commit with it, so
        # it needs no fsync per batch (NORMAL in WAL mode is still safe against crashes).
        self._projection_writer = self._connect(self.projections_path)
        self._projection_writer.execute("PRAGMA synchronous=NORMAL")
        # Every batch rewrites its learners' states and the index pages its contributions
        # land on (statement ids are random), tens of MiB for a batch of 10,000: a checkpoint
        # after several batches, not after each, copies such a page to the database once for
        # all of them (benchmarks/README.md, "Figures behind the SQLite adapter").
        self._projection_writer.execute(f"PRAGMA wal_autocheckpoint={PROJECTION_CHECKPOINT_PAGES}")
        self._projection_writer.execute(
            f"PRAGMA journal_size_limit={PROJECTION_CHECKPOINT_PAGES * 4096}"
        )
        if not read_only:
            self._projection_writer.executescript(PROJECTION_SCHEMA)
        self._open_audit_log()
        self._term_cache: dict[str, int] = {}
        self._last_stored = ""
        self._writing_since: str | None = None
        self._known_definitions: dict[str, bytes] = {}
        self._known_names: set[tuple[str, str]] = set()
        # Only read while writing statements, under the write lock, on the writer connection.
        self._orgs = CredentialOrgs(self._load_org, self._writer_credentials_version)

    # Provided by the capability mixins that SQLiteStore composes (the indexer thread, the
    # access-log file and the organisation lookups start here, with the connections).
    _audit_writer: sqlite3.Connection

    def _index_when_idle(self) -> None:
        raise NotImplementedError

    def _open_audit_log(self) -> None:
        raise NotImplementedError

    def _load_org(self, key: str) -> str | None:
        raise NotImplementedError

    def _writer_credentials_version(self) -> str:
        raise NotImplementedError

    def _connect(self, path: Path, cache_mib: int = 64) -> sqlite3.Connection:
        if self.read_only:
            uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=1")
            conn.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
            return conn
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
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
        if self._indexer.ident is not None:  # started (not in read-only mode)
            self._indexer.join()
        # Under the write lock: a write still running in another thread (a credential's
        # last use, lrs.auth) finishes first; one that starts later meets a closed connection
        # (an error it reports), never one being closed under it (a crash in SQLite).
        with self._write_lock:
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

    def _term_id(self, conn: sqlite3.Connection, value: str) -> int:
        term = self._term_cache.get(value)
        if term is not None:
            return term
        # A growing store meets new terms more often than uncached old ones: insert first.
        cursor = conn.execute("INSERT OR IGNORE INTO terms(value) VALUES (?)", (value,))
        if cursor.rowcount and cursor.lastrowid is not None:
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

    def _forget_caches(self) -> None:
        """After a rollback, cached term ids and definitions may name rows that are gone."""
        self._term_cache.clear()
        self._known_definitions.clear()
        self._known_names.clear()
