"""Document concurrency (xAPI Communication 3.1): decided here, never in an adapter."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from lrs.domain.records import Document
from lrs.xapi.errors import Conflict, PreconditionFailed, ValidationError


@dataclass(frozen=True)
class Preconditions:
    """HTTP concurrency headers of a document write (xAPI Communication 3.1)."""

    if_match: str | None = None
    if_none_match: str | None = None
    required: bool = False  # PUT with neither header on an existing document -> 409
    required_when_new: bool = False  # xAPI 1.0.3 profiles: ... and on a new one -> 400

    def check(self, current: Document | None) -> None:
        if self.if_match is not None:
            tags = {t.strip() for t in self.if_match.split(",")}
            if current is None or ("*" not in tags and current.etag not in tags):
                raise PreconditionFailed("If-Match does not match the document's ETag", "If-Match")
        if self.if_none_match is not None and current is not None:
            tags = {t.strip() for t in self.if_none_match.split(",")}
            if "*" in tags or current.etag in tags:
                raise PreconditionFailed(
                    "If-None-Match matches the existing document", "If-None-Match"
                )
        if (
            self.required
            and current is not None
            and self.if_match is None
            and self.if_none_match is None
        ):
            raise Conflict(
                "the document exists: send If-Match with its ETag (or If-None-Match: *) "
                "to say whether to overwrite it",
                "If-Match",
            )
        if (
            self.required_when_new
            and current is None
            and self.if_match is None
            and self.if_none_match is None
        ):
            raise ValidationError(
                "send If-None-Match: * to create this document (or If-Match to replace one)",
                "If-None-Match",
            )


def etag_for(content: bytes) -> str:
    return '"' + hashlib.sha1(content).hexdigest() + '"'
