"""The stored-counts port on MongoDB: the tally is one document in `offsets`
({_id: "tally:stored", position, counts: [{key, n}]}), replaced only where its position is
still the one read, so concurrent callers never count a range twice. Credential keys are
values, not field names: a connector's source name may hold a dot."""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from lrs.adapters.mongodb.base import MongoBase

TALLY = "tally:stored"


class MongoStoredCounts(MongoBase):
    def tally_stored(self, limit: int) -> int:
        doc = self._offsets.find_one({"_id": TALLY})
        mark = 0 if doc is None else int(doc["position"])
        high, _ = self._settled()  # seqs commit out of order: never count past the settled
        through = min(high, mark + limit)
        if through <= mark:
            return 0
        counted = {
            str(d["_id"]): int(d["n"])
            for d in self._statements.aggregate(
                [
                    {"$match": {"seq": {"$gt": mark, "$lte": through}}},
                    {"$group": {"_id": "$credential", "n": {"$sum": 1}}},
                ]
            )
        }
        totals = _counts(doc)
        for key, n in counted.items():
            totals[key] = totals.get(key, 0) + n
        new = {
            "position": through,
            "counts": [{"key": key, "n": n} for key, n in sorted(totals.items())],
        }
        if doc is None:
            try:
                self._offsets.insert_one({"_id": TALLY, **new})
            except DuplicateKeyError:  # another process made the first tally meanwhile
                return 0
        elif not self._offsets.replace_one({"_id": TALLY, "position": mark}, new).matched_count:
            return 0  # another process counted this range meanwhile
        return through - mark

    def stored_counts(self) -> dict[str, int]:
        return _counts(self._offsets.find_one({"_id": TALLY}))

    def tallied_through(self) -> int:
        doc = self._offsets.find_one({"_id": TALLY}, {"position": 1})
        return 0 if doc is None else int(doc["position"])


def _counts(doc: dict[str, Any] | None) -> dict[str, int]:
    return {} if doc is None else {str(c["key"]): int(c["n"]) for c in doc.get("counts", [])}
