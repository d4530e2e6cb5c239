"""The access log's hash chain: how an entry is sealed, decided once for every store.

Each entry's `hash` = SHA-256(previous hash + canonical JSON of the entry without its
hash), so changing, removing, inserting or reordering entries breaks the chain
(lrs.ops.audit.verify finds where). Adapters only append what `seal_access` returns, after the
head they read in the same transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import orjson

from lrs.domain.records import GENESIS, AccessEntry

__all__ = ["GENESIS", "access_hash", "seal_access"]


def access_hash(prev: str, body: dict[str, Any]) -> str:
    """SHA-256 of the previous hash followed by the entry's canonical JSON (sorted keys)."""
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev.encode() + canonical).hexdigest()


def seal_access(record: dict[str, Any], seq: int, prev: str) -> AccessEntry:
    """The entry a store appends after (seq - 1, prev): shared so adapters cannot differ.

    `record` holds at, action, credential, name, role, org, what, learner, query, count.
    """
    fields_: dict[str, Any] = {name: record.get(name) for name in _ACCESS_FIELDS}
    fields_["query"] = dict(fields_["query"] or {})
    fields_["count"] = int(fields_["count"] or 0)
    unsealed = AccessEntry(seq=seq, prev=prev, hash="", **fields_)
    return replace(unsealed, hash=access_hash(prev, unsealed.body()))


_ACCESS_FIELDS = (
    "at",
    "action",
    "credential",
    "name",
    "role",
    "org",
    "what",
    "learner",
    "query",
    "count",
)
