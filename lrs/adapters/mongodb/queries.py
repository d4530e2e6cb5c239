"""Statements, the read path: below the settled watermark only, so a cursor never skips a
statement that commits later."""

from __future__ import annotations

from typing import Any

import orjson
from pymongo import ASCENDING, DESCENDING

from lrs.adapters.mongodb.base import MongoBase, term_key
from lrs.domain.queries import history_terms, in_course, query_terms
from lrs.domain.records import (
    Attachment,
    HistoryPage,
    HistoryQuery,
    HistoryRecord,
    StatementPage,
    StatementQuery,
)
from lrs.xapi.statements import Term


class MongoStatementReads(MongoBase):
    def get_statement(self, statement_id: str, *, voided: bool) -> bytes | None:
        doc = self._statements.find_one({"_id": statement_id.lower()}, {"data": 1, "voided": 1})
        if doc is None or "data" not in doc or bool(doc.get("voided")) != voided:
            return None  # absent, a placeholder, or voided where asked for unvoided (or back)
        return bytes(doc["data"])

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
        terms = [term_key(kind, value) for kind, value in query_terms(query)]
        if len(terms) == 1:
            selector["terms"] = terms[0]
        elif terms:
            selector["terms"] = {"$all": terms}  # the first, most selective, drives the index
        if query.authority is not None:
            selector["credential"] = query.authority
        visible = credential_selector(query.credentials, query.exclude_credentials)
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

    def statement_history(self, query: HistoryQuery) -> HistoryPage:
        """By seq through the (terms, seq) index, below the settled watermark like
        `query_statements`; voided statements included, `stored` filtered on itself."""
        learners = [term_key(Term.AGENT, key) for key in dict.fromkeys(query.learners)]
        if not learners:
            return HistoryPage([], None)
        high, _ = self._settled()
        conditions: list[dict[str, Any]] = [
            {"terms": learners[0] if len(learners) == 1 else {"$in": learners}}
        ]
        extra = [term_key(kind, value) for kind, value in history_terms(query)]
        if extra:
            conditions.append({"terms": {"$all": extra}})
        visible = credential_selector(query.credentials, query.exclude_credentials)
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
            rows = list(self._statements.find(selector, fields).sort("seq", ASCENDING).limit(chunk))
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


def credential_selector(credentials: list[str] | None, exclude: bool) -> dict[str, Any] | None:
    """The condition on `credential` that keeps what an organisation may see (None: all)."""
    if credentials is None or (exclude and not credentials):
        return None
    return {"$nin" if exclude else "$in": list(credentials)}
