"""The one way in: every statement, whatever its entrance, is decided here.

HTTP (`POST`/`PUT /xapi/statements`), the Kafka inbound topic (consumers.ingest) and the
connector sinks (connectors.sinks.StoreSink) all hand statements to this module, so a
statement gets the same validation for its xAPI version, the same 2.0 normalisation, the
same authority rule, the same voiding check and the same refusal wherever it enters.

Two shapes of entrance:
- `complete_batch` + `store_batch`: a client's request, all or nothing (xAPI: one bad
  statement refuses the batch, with a 4xx naming the field);
- `ingest_records`: a stream of records (Kafka, connectors), where one bad record is
  refused alone with its reason and the rest are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from lrs.domain.authority import authority_key
from lrs.domain.records import DEFAULT_ORG, Attachment, Credential
from lrs.ports import Credentials, Statements
from lrs.xapi.attachments import AttachmentPart, check_attachments
from lrs.xapi.errors import Forbidden, XAPIError
from lrs.xapi.statements import voiding_targets
from lrs.xapi.time import is_normal_form, normalize_timestamp
from lrs.xapi.validation import validate_statement_batch

DEFAULT_VERSION = "1.0.3"


class IngestStore(Statements, Credentials, Protocol):
    """What ingest needs: statements, and credentials to tell organisations apart."""


@dataclass(frozen=True)
class Writer:
    """Who stores: the credential (its organisation decides voiding) and the authority
    the LRS puts on the statements (clients cannot choose it)."""

    credential: Credential
    authority: dict[str, Any]


def connector_writer(source: str, base_url: str) -> Writer:
    """A connector or the Kafka ingest: a credential key with no credential row, so its
    statements belong to the default organisation, and an authority naming the source."""
    return Writer(
        Credential(key=source, name=source, scopes=("statements/write",)),
        {
            "objectType": "Agent",
            "name": source,
            "account": {"homePage": base_url.rstrip("/") + "/connectors", "name": source},
        },
    )


def complete_batch(
    value: Any, version: str, parts: Mapping[str, AttachmentPart] | None = None
) -> list[dict[str, Any]]:
    """Validate for `version`, check attachments and signatures, normalise: the batch as it
    will be stored (pure). Raises a ValidationError naming the field."""
    batch = validate_statement_batch(value, version)
    check_attachments(batch, dict(parts or {}))  # also verifies signed statements
    if version.startswith("2."):
        for statement in batch:
            normalise_v2(statement, version)
    return batch


def normalise_v2(statement: dict[str, Any], version: str) -> None:
    """xAPI 2.0: timestamps are stored in UTC (validated already; in place)."""
    if "timestamp" in statement and not is_normal_form(statement["timestamp"]):
        statement["timestamp"] = normalize_timestamp(statement["timestamp"], version)
    sub = statement.get("object")
    if isinstance(sub, dict) and sub.get("objectType") == "SubStatement" and "timestamp" in sub:
        statement["object"] = {
            **sub,
            "timestamp": normalize_timestamp(sub["timestamp"], version, "object.timestamp"),
        }


def check_voiding(store: IngestStore, credential: Credential, batch: list[dict[str, Any]]) -> None:
    """A statement voids only statements its own organisation stored (admins' included).

    A target that is not stored yet is accepted, as xAPI requires; the store then voids it
    on arrival only if the same organisation stores it (lrs.ops.references). One stored by
    another organisation is refused, which tells the writer that the id is taken:
    statement ids are one namespace for the whole LRS.
    """
    targets = voiding_targets(batch)
    if not targets:
        return
    mine = credential.org or DEFAULT_ORG
    for target in targets:
        raw = store.get_statement(target, voided=False) or store.get_statement(target, voided=True)
        if raw is not None and _org_of_key(store, authority_key(orjson.loads(raw))) != mine:
            raise Forbidden(
                "a statement may only void statements of its own organisation", "object.id"
            )


def _org_of_key(store: IngestStore, key: str | None) -> str:
    """The organisation of a storing credential key; a key with no credential (a connector
    source, the Kafka ingest) belongs to the default organisation."""
    found = store.get_credential(key) if key else None
    return (found.org if found is not None else None) or DEFAULT_ORG


def store_batch(
    store: IngestStore,
    batch: list[dict[str, Any]],
    writer: Writer,
    version: str,
    attachments: list[Attachment] | None = None,
) -> list[str]:
    """Store a completed batch, all or nothing; the ids in order."""
    check_voiding(store, writer.credential, batch)
    return store.save_statements(
        batch,
        authority=writer.authority,
        credential=writer.credential.key,
        version=version,
        attachments=attachments or [],
    )


@dataclass(frozen=True)
class Refusal:
    """A record that was not stored, and why (sent to `xapi.dlq` or a connector's report)."""

    payload: bytes
    reason: str
    field: str | None
    code: str = "invalid"

    @property
    def label(self) -> str:
        """The statement id if the record has one, for reports."""
        try:
            found = orjson.loads(self.payload).get("id", "?")
        except (orjson.JSONDecodeError, AttributeError):
            return "?"
        return str(found)


@dataclass
class Outcome:
    stored: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def record_version(statement: Any, version: str | None = None) -> str:
    """The xAPI version a record is checked against: the entrance's (HTTP header, Kafka
    record header) if it says one, else the statement's own `version` property (2.0.x
    statements carry it), else 1.0.3."""
    if version:
        return "2.0.0" if version.startswith("2.") else DEFAULT_VERSION
    own = statement.get("version") if isinstance(statement, dict) else None
    if isinstance(own, str) and own.startswith("2."):
        return "2.0.0"
    return DEFAULT_VERSION


def triage(
    payloads: list[bytes], version: str | None = None
) -> tuple[list[tuple[dict[str, Any], str]], list[Refusal]]:
    """Split raw records into completed statements (each with its version) and refusals."""
    valid: list[tuple[dict[str, Any], str]] = []
    refused: list[Refusal] = []
    for payload in payloads:
        try:
            statement = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            refused.append(Refusal(payload, f"not JSON: {exc}", None))
            continue
        if not isinstance(statement, dict):
            refused.append(Refusal(payload, "a record must be one statement object", None))
            continue
        checked = record_version(statement, version)
        try:
            (completed,) = complete_batch(statement, checked)
        except XAPIError as exc:
            refused.append(Refusal(payload, exc.message, exc.field, exc.code))
            continue
        valid.append((completed, checked))
    return valid, refused


def ingest_records(
    store: IngestStore, payloads: list[bytes], writer: Writer, version: str | None = None
) -> Outcome:
    """Validate, normalise and store records; each bad one is refused alone.

    Statements are stored in batches per version; if the store refuses a batch (a
    conflict, a voiding refused), its statements are stored one by one so that only the
    refused ones are reported. Unavailability (StoreUnavailable) is raised: nothing is
    acknowledged that was not stored, and the caller retries.
    """
    valid, refused = triage(payloads, version)
    outcome = Outcome(refused=refused)
    by_version: dict[str, list[dict[str, Any]]] = {}
    for statement, checked in valid:
        by_version.setdefault(checked, []).append(statement)
    for checked, statements in by_version.items():
        stored, failed = store_each(store, statements, writer, checked)
        outcome.stored += stored
        outcome.refused += failed
    return outcome


def store_each(
    store: IngestStore, statements: list[dict[str, Any]], writer: Writer, version: str
) -> tuple[list[str], list[Refusal]]:
    """Store completed statements as one batch, or one by one if the batch is refused."""
    if not statements:
        return [], []
    try:
        return store_batch(store, statements, writer, version), []
    except XAPIError as exc:
        if exc.code == "unavailable":
            raise
        if len(statements) == 1:
            return [], [Refusal(orjson.dumps(statements[0]), exc.message, exc.field, exc.code)]
    stored: list[str] = []
    refused: list[Refusal] = []
    for statement in statements:
        try:
            stored += store_batch(store, [statement], writer, version)
        except XAPIError as exc:
            if exc.code == "unavailable":
                raise
            refused.append(Refusal(orjson.dumps(statement), exc.message, exc.field, exc.code))
    return stored, refused
