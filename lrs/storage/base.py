"""The storage port: what the API and processors need from a store, whatever the database.

Adapters (`sqlite`, later `mongodb`) implement `Store`; the shared contract tests in
tests/contract run unchanged against each. Decisions that must not differ between adapters
(statement comparison, preconditions, JSON merge) are pure functions here or in lrs.xapi.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from lrs.xapi.errors import Conflict, PreconditionFailed, ValidationError, XAPIError
from lrs.xapi.statements import Term, is_voiding


class StoreUnavailable(XAPIError):
    """The database cannot be reached: nothing was stored, the client should retry."""

    status = 503
    code = "unavailable"


@dataclass(frozen=True)
class Attachment:
    sha2: str
    content_type: str
    data: bytes


@dataclass
class StatementQuery:
    """One page of a statement query. Agents are learner keys (lrs.xapi.identity.agent_key)."""

    agent: str | None = None
    verb: str | None = None
    activity: str | None = None
    registration: str | None = None
    related_agents: bool = False
    related_activities: bool = False
    since: str | None = None  # stored > since (stored-format UTC timestamp)
    until: str | None = None  # stored <= until
    limit: int = 100
    ascending: bool = False
    cursor: int | None = None  # continue after this position (opaque to clients, in `more`)
    authority: str | None = None  # statements/read/mine: only what this credential stored
    # Organisations (lrs.access): only statements stored by `credentials`, or, when
    # `exclude_credentials`, every statement except those. None: no such filter.
    credentials: list[str] | None = None
    exclude_credentials: bool = False


@dataclass
class StatementPage:
    statements: list[bytes]  # stored JSON documents, in query order
    cursor: int | None  # where the next page starts; None when this page is the last


@dataclass
class HistoryQuery:
    """One page of a learner's complete record (`Store.statement_history`).

    Unlike `StatementQuery` it keeps voided statements and reports where each came from;
    its cursor is a `seq`, so pages stay stable while statements arrive (they come after).
    """

    learners: list[str]  # learner keys: statements with one of them as actor or object
    since: str | None = None  # stored > since (stored-format UTC timestamp)
    until: str | None = None  # stored <= until
    verb: str | None = None
    activity: str | None = None  # the object activity
    course: str | None = None  # a context parent or grouping activity
    credentials: list[str] | None = None  # as in StatementQuery: whose statements it sees
    exclude_credentials: bool = False
    after: int = 0  # continue after this seq
    limit: int = 500


@dataclass(frozen=True)
class HistoryRecord:
    """One statement of a history, with what the statement JSON alone does not say."""

    seq: int
    stored: str
    credential: str  # the credential key (or connector source) that stored it
    voided: bool
    data: bytes  # the stored statement JSON


@dataclass
class HistoryPage:
    records: list[HistoryRecord]
    cursor: int | None  # the seq to continue after; None when this page is the last


def in_course(statement: dict[str, Any], course: str) -> bool:
    """Whether a statement names `course` as a context parent or grouping activity.

    A StatementRef (a voiding statement, say) counts when its target does: stores find it
    through the target's inherited index terms, as xAPI filters do, so it is kept here.
    """
    obj = statement.get("object") or {}
    if isinstance(obj, dict) and obj.get("objectType") == "StatementRef":
        return True
    context = statement.get("context") or {}
    activities = context.get("contextActivities") or {} if isinstance(context, dict) else {}
    for group in ("parent", "grouping"):
        found = activities.get(group) if isinstance(activities, dict) else None
        if isinstance(found, dict):
            found = [found]
        for activity in found or []:
            if isinstance(activity, dict) and activity.get("id") == course:
                return True
    return False


def history_terms(query: HistoryQuery) -> list[tuple[Term, str]]:
    """The index terms besides the learner that a history's statements must carry.

    The course narrows through RELATED_ACTIVITY (context activities included); `in_course`
    then keeps only parent and grouping.
    """
    terms: list[tuple[Term, str]] = []
    if query.activity is not None:
        terms.append((Term.ACTIVITY, query.activity))
    if query.course is not None:
        terms.append((Term.RELATED_ACTIVITY, query.course))
    if query.verb is not None:
        terms.append((Term.VERB, query.verb))
    return terms


@dataclass(frozen=True)
class LogRecord:
    """One stored statement as an event: its position in the store's log and its learner key."""

    offset: int
    key: str
    value: bytes  # the stored statement JSON


@dataclass(frozen=True)
class Contribution:
    """What one statement adds to one key's state in a projection (profiles, competencies)."""

    statement_id: str
    key: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Retraction:
    """A voided statement: whatever it contributed must be taken back."""

    statement_id: str


@dataclass
class StateQuery:
    """A page of projection states, filtered on the values the reducer indexes."""

    equals: dict[str, Any] = field(default_factory=dict)
    at_least: dict[str, Any] = field(default_factory=dict)
    limit: int = 100
    after: str | None = None  # the last key of the previous page


@dataclass(frozen=True)
class Document:
    content: bytes
    content_type: str
    etag: str
    updated: str  # stored-format UTC timestamp


ROLES = ("platform", "school", "auditor", "admin")
DEFAULT_ORG = "default"


@dataclass(frozen=True)
class Credential:
    """Who may call the API: scopes say which resources, role and org say whose data.

    `org` is the organisation the credential belongs to (a platform or a school);
    `audits` lists the organisations an auditor may read (empty: all of them).
    """

    key: str
    name: str
    scopes: tuple[str, ...]
    org: str | None = None
    secret_hash: str = field(default="", repr=False)
    role: str = "platform"
    audits: tuple[str, ...] = ()


class CredentialOrgs:
    """Which organisation each credential key belongs to, cached for the statement writers.

    A statement inherits the index terms of the statement it references (a StatementRef),
    and passes its own on to statements that reference it, only when both were stored by
    credentials of the same organisation: otherwise a platform could reference another
    organisation's statement by id and find it through its own queries by that statement's
    agent or activity. A credential with no organisation, and a key with no credential row
    (a connector or the Kafka ingest writing to the store), count as the default one.

    Lookups happen only for a StatementRef or a statement with referrers, and only between
    different keys. The cache is dropped by the store's `save_credential`, and whenever
    `version` (the store's credentials_version) moves, so a credential saved by another
    process is seen too.
    """

    def __init__(self, load: Callable[[str], str | None], version: Callable[[], str]) -> None:
        self._load = load
        self._version = version
        self._seen_version: str | None = None
        self._orgs: dict[str, str] = {}

    def forget(self) -> None:
        self._orgs = {}
        self._seen_version = None

    def org(self, key: str) -> str:
        orgs = self._orgs
        found = orgs.get(key)
        if found is None:
            found = self._load(key) or DEFAULT_ORG
            if len(orgs) > 100_000:
                orgs.clear()
            orgs[key] = found
        return found

    def same(self, a: str, b: str) -> bool:
        """Whether the statements stored by credential keys `a` and `b` share an organisation."""
        if a == b:
            return True
        orgs = self.orgs((a, b))
        return orgs[a] == orgs[b]

    def orgs(self, keys: Iterable[str]) -> dict[str, str]:
        """The organisation of each key, after one check that no credential changed since."""
        version = self._version()
        if version != self._seen_version:
            self._orgs = {}
            self._seen_version = version
        return {key: self.org(key) for key in keys}


@dataclass(frozen=True)
class AccessEntry:
    """One entry of the access log: who read (or erased) whose data, when, and how much.

    `learner` is an HMAC pseudonym (lrs.audit.pseudonym), never a learner key in clear, so
    the log can outlive an erasure without keeping the erased identifiers. `prev` is the
    previous entry's `hash` and `hash` = SHA-256(prev + canonical JSON of the rest): see
    `seal_access`. Changing, removing, inserting or reordering entries breaks the chain.
    """

    seq: int
    at: str  # stored-format UTC timestamp
    action: str  # "read" or "erase"
    credential: str
    name: str
    role: str
    org: str | None
    what: str  # which resource, e.g. "xapi/statements", "learner/profile"
    learner: str | None  # pseudonym of the learner key or person read, if one
    query: dict[str, Any]  # the request's non-identifying parameters (and erasure counts)
    count: int  # records returned (or erased)
    prev: str
    hash: str

    def body(self) -> dict[str, Any]:
        """What the hash covers: every field but the hash itself."""
        return {
            "seq": self.seq,
            "at": self.at,
            "action": self.action,
            "credential": self.credential,
            "name": self.name,
            "role": self.role,
            "org": self.org,
            "what": self.what,
            "learner": self.learner,
            "query": self.query,
            "count": self.count,
            "prev": self.prev,
        }


GENESIS = "0" * 64  # the `prev` of the first entry


def access_hash(prev: str, body: dict[str, Any]) -> str:
    """SHA-256 of the previous hash followed by the entry's canonical JSON (sorted keys)."""
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev.encode() + canonical).hexdigest()


def seal_access(record: dict[str, Any], seq: int, prev: str) -> AccessEntry:
    """The entry a store appends after (seq - 1, prev): shared so adapters cannot differ.

    `record` holds at, action, credential, name, role, org, what, learner, query, count.
    """
    fields_ = {name: record.get(name) for name in _ACCESS_FIELDS}
    fields_["query"] = dict(fields_["query"] or {})
    fields_["count"] = int(fields_["count"] or 0)
    unsealed = AccessEntry(seq=seq, prev=prev, hash="", **fields_)
    return replace(unsealed, hash=access_hash(prev, unsealed.body()))


_ACCESS_FIELDS = ("at", "action", "credential", "name", "role", "org", "what", "learner", "query", "count")


@dataclass
class AccessQuery:
    """A page of the access log, oldest first, after the entry numbered `after`."""

    since: str | None = None  # at > since
    until: str | None = None  # at <= until
    credential: str | None = None
    learner: str | None = None  # a pseudonym
    orgs: tuple[str, ...] = ()  # only entries of credentials of these organisations (empty: all)
    after: int = 0
    limit: int = 100


@dataclass(frozen=True)
class AccessHead:
    """The last entry appended, kept apart from the entries so a cut-off tail shows."""

    seq: int
    hash: str


@dataclass
class ErasureReport:
    """What `Store.erase` removed or pseudonymised (counts only: no identifiers)."""

    statements_deleted: int = 0
    statements_pseudonymised: int = 0
    attachments_deleted: int = 0
    documents_deleted: int = 0
    agent_names_deleted: int = 0
    identity_links_deleted: int = 0
    contributions_deleted: int = 0
    states_deleted: int = 0
    states_rebuilt: int = 0
    rosters_updated: int = 0  # filled by lrs.erasure, which knows what a roster is

    def counts(self) -> dict[str, int]:
        return dict(asdict(self))


class DocumentKind:
    STATE = "state"
    ACTIVITY_PROFILE = "activity_profile"
    AGENT_PROFILE = "agent_profile"


class Store(Protocol):
    # statements ----------------------------------------------------------------------------
    def save_statements(
        self,
        statements: list[dict[str, Any]],
        *,
        authority: dict[str, Any],
        credential: str,
        version: str,
        attachments: list[Attachment],
    ) -> list[str]:
        """Store a validated batch atomically; return the ids in order.

        A statement whose id is stored already with the same content is not stored again;
        with different content the whole batch fails with Conflict (409).
        """

    def get_statement(self, statement_id: str, *, voided: bool) -> bytes | None: ...

    def query_statements(self, query: StatementQuery) -> StatementPage: ...

    def get_attachments(self, sha2s: list[str]) -> list[Attachment]: ...

    def consistent_through(self) -> str: ...

    def get_activity(self, activity_id: str) -> dict[str, Any] | None: ...

    def get_agent_names(self, key: str) -> list[str]: ...

    # organisations and learner history ------------------------------------------------------
    def list_credentials(self) -> list[Credential]:
        """Every credential, ordered by key: which credential keys make up which organisation
        (a statement belongs to the organisation of the credential that stored it)."""

    def credentials_version(self) -> str:
        """A cheap token that changes whenever a credential is saved (in any process), so a
        reader may keep `list_credentials` cached until it does."""

    def statement_history(self, query: HistoryQuery) -> HistoryPage:
        """A page of the statements filed under `query.learners` (actor or object), voided
        and voiding ones included, in stored order (`seq`), after `query.after`.

        Reads only below what is settled (as `query_statements` does), so a cursor never
        skips a statement that commits later.
        """

    # the log and the outbox -----------------------------------------------------------------
    def read_log(self, after: int, limit: int) -> list[LogRecord]:
        """Stored statements with offset > after, in stored order (the embedded event log)."""

    def unpublished(self, limit: int) -> list[LogRecord]:
        """Stored statements not yet confirmed published to the event bus, oldest first."""

    def mark_published(self, records: list[LogRecord]) -> None:
        """Confirm records returned by `unpublished` (in that order) as published."""

    def reset_published(self) -> None:
        """Mark every stored statement unpublished: the bus lost its log, publish it all again."""

    def get_offset(self, consumer: str) -> int:
        """Where a named consumer of the embedded log stands (0 before its first record)."""

    def set_offset(self, consumer: str, offset: int) -> None: ...

    # documents ------------------------------------------------------------------------------
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
    ) -> Document: ...

    def delete_document(
        self, kind: str, scope: str, doc_id: str, preconditions: Preconditions
    ) -> None: ...

    def delete_documents(self, kind: str, scope: str) -> None: ...

    # projections (derived state: learner profiles, competency status) ---------------------
    def apply_changes(
        self,
        reducer: Any,
        changes: list[Contribution | Retraction],
        offset: tuple[str, int] | None = None,
    ) -> None:
        """Apply a projection's changes atomically and idempotently (see consumers.projection).

        `offset` (consumer, position): move that consumer's offset in the same transaction,
        so a processor never re-reads a batch it applied (its retries stay harmless anyway).

        A contribution already applied, or whose statement is retracted, changes nothing; a
        retraction rebuilds the key's state from its remaining contributions.
        """

    def get_state(self, projection: str, key: str) -> dict[str, Any] | None: ...

    def list_states(self, projection: str, query: StateQuery) -> list[tuple[str, dict[str, Any]]]:
        """(key, state) pairs in key order, after `query.after`."""

    def clear_projection(self, projection: str) -> None:
        """Forget a projection's state and contributions (before a replay)."""

    def get_contributions(self, projection: str, keys: list[str]) -> list[Contribution]:
        """Live (not retracted) contributions filed under any of `keys`, in recorded order.

        A person's view folds the contributions of all their learner keys together.
        """

    # definitions: imported frameworks and alignment rules ---------------------------------
    def put_definition(self, kind: str, definition_id: str, data: dict[str, Any]) -> None: ...

    def get_definition(self, kind: str, definition_id: str) -> dict[str, Any] | None: ...

    def list_definitions(self, kind: str) -> list[dict[str, Any]]:
        """Every definition of a kind, ordered by id."""

    def delete_definition(self, kind: str, definition_id: str) -> bool: ...

    # identity: learner keys linked into persons --------------------------------------------
    def link_keys(self, person: str, keys: list[str]) -> None:
        """Link keys to a person; a key belongs to one person at most, so linking moves it."""

    def unlink_key(self, key: str) -> str | None:
        """Unlink a key; the person it belonged to, if any."""

    def person_of(self, key: str) -> str | None: ...

    def keys_of(self, person: str) -> list[str]:
        """The person's keys, sorted; empty for an unknown person."""

    # credentials ----------------------------------------------------------------------------
    def save_credential(self, credential: Credential) -> None: ...

    def get_credential(self, key: str) -> Credential | None: ...

    # the access log (hash-chained) and erasure -------------------------------------------
    def append_access(self, record: dict[str, Any]) -> AccessEntry:
        """Seal `record` after the current head (`seal_access`) and append it atomically.

        Appends are serialised (the head is read and moved in one transaction), so
        concurrent requests never fork the chain.
        """

    def read_access(self, query: AccessQuery) -> list[AccessEntry]:
        """Entries matching the query, in seq order."""

    def access_head(self) -> AccessHead | None:
        """The head record (None before the first append)."""

    def erase(self, keys: list[str], reducers: list[Any]) -> ErasureReport:
        """Remove a person's data under any of `keys` (lrs.xapi.erasure decides per statement).

        Statements filed under them are deleted, others naming them are pseudonymised;
        attachments only deleted statements used, their documents, agent names, identity
        links, and projection contributions and states (rebuilt with `reducers`) go too.
        Deleted statements are recorded as retracted in every projection, so a replay or a
        late batch of a processor cannot bring them back. Idempotent: run it again to
        finish an interrupted erasure.
        """

    def close(self) -> None: ...


# Order in which a query's filters drive the index lookup: most selective first.
_DRIVER_ORDER = (
    Term.REGISTRATION,
    Term.AGENT,
    Term.RELATED_AGENT,
    Term.ACTIVITY,
    Term.RELATED_ACTIVITY,
    Term.VERB,
)


def query_terms(query: StatementQuery) -> list[tuple[Term, str]]:
    """The index terms a statement must carry to match the query, most selective first.

    Shared so that every store reads `related_*` and registration case the same way, and
    can drive its lookup by the first term.
    """
    terms: list[tuple[Term, str]] = []
    if query.agent is not None:
        terms.append((Term.RELATED_AGENT if query.related_agents else Term.AGENT, query.agent))
    if query.verb is not None:
        terms.append((Term.VERB, query.verb))
    if query.activity is not None:
        terms.append(
            (Term.RELATED_ACTIVITY if query.related_activities else Term.ACTIVITY, query.activity)
        )
    if query.registration is not None:
        terms.append((Term.REGISTRATION, query.registration.lower()))
    terms.sort(key=lambda term: _DRIVER_ORDER.index(term[0]))
    return terms


class ProjectionTransaction(Protocol):
    """What `apply_projection_changes` reads and writes, inside one adapter transaction."""

    def load_state(self, key: str) -> dict[str, Any] | None: ...

    def is_retracted(self, statement_id: str) -> bool:
        """Whether the statement's contributions must not count: a retraction is recorded
        and the statement store does not hold it unvoided. The store is the judge of
        voiding (a voiding statement of another organisation voids nothing there), so the
        projections agree with what `GET /xapi/statements` answers.
        """
        ...

    def add_contribution(self, contribution: Contribution) -> bool:
        """Record a contribution; False when it was recorded already (nothing to fold)."""
        ...

    def add_retraction(self, statement_id: str) -> bool:
        """Record a retraction; False when it was recorded already (nothing to rebuild)."""
        ...

    def retract_contributions(self, statement_id: str) -> Iterable[str]:
        """Mark the statement's contributions retracted; the keys that had live ones."""
        ...

    def live_contributions(self, key: str) -> list[Contribution]:
        """The key's contributions that are not retracted, in the order they were recorded."""
        ...


def rebuild_after_erasure(
    reducer: Any,
    tx: ProjectionTransaction,
    deleted: list[str],
    rewritten: dict[str, dict[str, Any]],
    affected: set[str],
) -> dict[str, dict[str, Any] | None]:
    """The states an erasure leaves, whatever the store (None: delete the key).

    The adapter has already removed every contribution of `deleted` and `rewritten`
    statements (`affected`: the keys they were filed under). Deleted statements become
    retractions (tombstones: a replay or a processor's late batch cannot bring them back);
    rewritten (pseudonymised) ones contribute again from their new content.
    """
    for statement_id in deleted:
        tx.add_retraction(statement_id)
    for statement in rewritten.values():
        if is_voiding(statement) or tx.is_retracted(statement["id"]):
            continue  # a voiding statement contributes nothing; a voided one stays taken back
        for contribution in reducer.contributions(statement):
            if tx.add_contribution(contribution):
                affected.add(contribution.key)
    return {key: reducer.rebuild(key, tx.live_contributions(key)) for key in sorted(affected)}


def apply_projection_changes(
    reducer: Any, changes: list[Contribution | Retraction], tx: ProjectionTransaction
) -> dict[str, dict[str, Any] | None]:
    """Which states a run of changes produces (None: delete the key), whatever the store.

    Kept out of the adapters so that idempotence and retraction-by-rebuild cannot differ
    between them; each adapter only supplies `tx` and writes the returned states.
    """
    states: dict[str, dict[str, Any] | None] = {}

    def state_of(key: str) -> dict[str, Any] | None:
        if key not in states:
            states[key] = tx.load_state(key)
        return states[key]

    for change in changes:
        if isinstance(change, Contribution):
            if tx.is_retracted(change.statement_id):
                continue
            if tx.add_contribution(change):
                states[change.key] = reducer.fold(state_of(change.key), change)
            continue
        tx.add_retraction(change.statement_id)
        if not tx.is_retracted(change.statement_id):
            continue  # the statement store kept it: the voiding came from another organisation
        for key in tx.retract_contributions(change.statement_id):
            states[key] = reducer.rebuild(key, tx.live_contributions(key))
    return states


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


def format_stored(moment: datetime) -> str:
    """Stored times: UTC, millisecond precision, lexically ordered like the instants."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_stored(stored: str) -> datetime:
    return datetime.strptime(stored, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def etag_for(content: bytes) -> str:
    return '"' + hashlib.sha1(content).hexdigest() + '"'
