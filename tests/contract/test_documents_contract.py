"""The documents port: every adapter stores, lists, merges and guards documents alike."""

from __future__ import annotations

import orjson
import pytest

from lrs.domain.documents import Preconditions
from lrs.domain.records import DocumentKind
from lrs.ports import Store
from lrs.xapi.errors import Conflict, PreconditionFailed, ValidationError


def test_documents_put_get_list_delete(store: Store) -> None:
    kind, scope = DocumentKind.STATE, "act\x1fagent\x1f"
    document = store.put_document(
        kind, scope, "s1", b"hello", "text/plain", merge=False, preconditions=Preconditions()
    )
    assert document.etag.startswith('"') and document.etag.endswith('"')
    got = store.get_document(kind, scope, "s1")
    assert got is not None and got.content == b"hello" and got.content_type == "text/plain"
    store.put_document(
        kind, scope, "s2", b"{}", "application/json", merge=False, preconditions=Preconditions()
    )
    assert store.list_documents(kind, scope, None) == ["s1", "s2"]
    assert store.list_documents(kind, "other", None) == []
    store.delete_documents(kind, scope)
    assert store.list_documents(kind, scope, None) == []


def test_document_preconditions(store: Store) -> None:
    kind, scope = DocumentKind.AGENT_PROFILE, "agent"
    first = store.put_document(
        kind, scope, "p", b"1", "text/plain", merge=False, preconditions=Preconditions()
    )
    with pytest.raises(PreconditionFailed):
        store.put_document(
            kind,
            scope,
            "p",
            b"2",
            "text/plain",
            merge=False,
            preconditions=Preconditions(if_match='"nope"'),
        )
    with pytest.raises(PreconditionFailed):
        store.put_document(
            kind,
            scope,
            "p",
            b"2",
            "text/plain",
            merge=False,
            preconditions=Preconditions(if_none_match="*"),
        )
    with pytest.raises(Conflict):
        store.put_document(
            kind,
            scope,
            "p",
            b"2",
            "text/plain",
            merge=False,
            preconditions=Preconditions(required=True),
        )
    store.put_document(
        kind,
        scope,
        "p",
        b"3",
        "text/plain",
        merge=False,
        preconditions=Preconditions(if_match=first.etag),
    )
    got = store.get_document(kind, scope, "p")
    assert got is not None and got.content == b"3"


def test_document_post_merges_json_objects(store: Store) -> None:
    kind, scope = DocumentKind.ACTIVITY_PROFILE, "act"
    store.put_document(
        kind,
        scope,
        "p",
        b'{"a": 1, "b": 1}',
        "application/json",
        merge=True,
        preconditions=Preconditions(),
    )
    store.put_document(
        kind,
        scope,
        "p",
        b'{"b": 2, "c": 3}',
        "application/json",
        merge=True,
        preconditions=Preconditions(),
    )
    got = store.get_document(kind, scope, "p")
    assert got is not None and orjson.loads(got.content) == {"a": 1, "b": 2, "c": 3}
    store.put_document(
        kind, scope, "t", b"text", "text/plain", merge=False, preconditions=Preconditions()
    )
    with pytest.raises(ValidationError):
        store.put_document(
            kind,
            scope,
            "t",
            b'{"x": 1}',
            "application/json",
            merge=True,
            preconditions=Preconditions(),
        )
