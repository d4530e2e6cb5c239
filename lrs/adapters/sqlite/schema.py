"""The SQLite files' tables: statements and documents (lrs.db), projections (-projections.db),
the access log (-audit.db). Created if missing; columns added since the first release are
added to older files when they open."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS statements (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
    role TEXT NOT NULL DEFAULT 'platform', audits TEXT NOT NULL DEFAULT '',
    expires TEXT, revoked TEXT, previous_hash TEXT NOT NULL DEFAULT '', previous_until TEXT,
    last_used TEXT
);
CREATE TABLE IF NOT EXISTS credentials_version (
    id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL
);
"""


# The deferred indexer's one statement: every (kind, term) of the statements in a seq range,
# from each row's packed term list, in index-key order so that rows sharing an index page are
# written together. A list holds integers, kind * 10**12 + term id (lrs.adapters.sqlite.base
# .pack_terms), split with integer arithmetic; or, in a row a version before that encoding
# stored, [kind, term] pairs: read too, so that a directory written by the old version (or by
# one still running beside a new one) is indexed right whatever its tail holds.
INDEX_TERMS = (
    "INSERT OR IGNORE INTO statement_index(kind, term, seq) SELECT"
    " CASE WHEN j.type = 'integer' THEN j.value / 1000000000000"
    " ELSE json_extract(j.value, '$[0]') END,"
    " CASE WHEN j.type = 'integer' THEN j.value % 1000000000000"
    " ELSE json_extract(j.value, '$[1]') END,"
    " s.seq FROM statements s, json_each(CAST(s.terms AS TEXT)) j"
    " WHERE s.seq > ? AND s.seq <= ? ORDER BY 1, 2, 3"
)


# Columns added after the first release, so data directories made before them still open.
CREDENTIAL_COLUMNS_ADDED = {
    "role": "TEXT NOT NULL DEFAULT 'platform'",
    "audits": "TEXT NOT NULL DEFAULT ''",
    "expires": "TEXT",
    "revoked": "TEXT",
    "previous_hash": "TEXT NOT NULL DEFAULT ''",
    "previous_until": "TEXT",
    "last_used": "TEXT",
}


def add_missing_columns(conn: sqlite3.Connection, table: str, columns: dict[str, str]) -> None:
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
CREATE TABLE IF NOT EXISTS stored_tally (credential TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
"""


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
