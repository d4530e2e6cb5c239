"""The ingest processor: what connectors put on `xapi.inbound` is validated and stored.

Refused records go to `xapi.dlq` with the reason and the original payload; nothing a
connector sends can stop the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from lrs.storage.base import Store
from lrs.xapi.errors import XAPIError
from lrs.xapi.validation import validate_statement


@dataclass(frozen=True)
class Rejected:
    payload: bytes
    reason: str
    field: str | None


def triage(
    payloads: list[bytes], version: str = "1.0.3"
) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """Split raw inbound records into valid statements and refusals (pure)."""
    valid: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    for payload in payloads:
        try:
            statement = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            rejected.append(Rejected(payload, f"not JSON: {exc}", None))
            continue
        try:
            validate_statement(statement, version)
        except XAPIError as exc:
            rejected.append(Rejected(payload, exc.message, exc.field))
            continue
        valid.append(statement)
    return valid, rejected


def connector_authority(source: str, base_url: str) -> dict[str, Any]:
    """The authority on statements a connector delivered through Kafka."""
    return {
        "objectType": "Agent",
        "name": source,
        "account": {"homePage": base_url.rstrip("/") + "/connectors", "name": source},
    }


def store_all(
    store: Store,
    statements: list[dict[str, Any]],
    authority: dict[str, Any],
    credential: str,
    version: str = "1.0.3",
) -> list[tuple[dict[str, Any], XAPIError]]:
    """Store validated statements; if the store refuses the batch (a conflict), store them
    one by one so that only the refused ones are reported. Returns the refusals."""
    try:
        store.save_statements(
            statements, authority=authority, credential=credential, version=version, attachments=[]
        )
        return []
    except XAPIError:
        refused = []
        for statement in statements:
            try:
                store.save_statements(
                    [statement],
                    authority=authority,
                    credential=credential,
                    version=version,
                    attachments=[],
                )
            except XAPIError as exc:
                refused.append((statement, exc))
        return refused
