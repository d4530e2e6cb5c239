"""The documents port: state, activity profile and agent profile documents."""

from __future__ import annotations

from typing import Protocol

from lrs.domain.documents import Preconditions
from lrs.domain.records import Document


class Documents(Protocol):
    def get_document(self, kind: str, scope: str, doc_id: str) -> Document | None: ...

    def list_documents(self, kind: str, scope: str, since: str | None) -> list[str]: ...

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
        """Write after `preconditions.check(current)` in the same transaction; JSON merge
        follows lrs.xapi.documents.merge_documents."""
        ...

    def delete_document(
        self, kind: str, scope: str, doc_id: str, preconditions: Preconditions
    ) -> None: ...

    def delete_documents(self, kind: str, scope: str) -> None: ...
