"""The records the ports exchange: plain data, no I/O and no database types.

Queries, pages, documents, credentials, access-log entries and erasure reports are the
vocabulary shared by the operations layer (lrs.ops), the ports (lrs.ports) and every
adapter (lrs.adapters), so that no adapter defines a shape of its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Attachment:
    sha2: str
    content_type: str
    data: bytes


@dataclass
class StatementQuery:
    """One page of a statement query. Agents are learner keys (lrs.xapi.agent_keys.agent_key)."""

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
    # Life cycle (stored times, lrs.domain.times.format_stored; "" / None: not set).
    # `previous_hash` is the secret replaced by the last rotation, accepted until
    # `previous_until` so the clients using it can be moved over without an outage.
    created: str = ""
    expires: str | None = None
    revoked: str | None = None
    previous_hash: str = field(default="", repr=False)
    previous_until: str | None = None
    last_used: str | None = None


@dataclass(frozen=True)
class AccessEntry:
    """One entry of the access log: who read (or erased) whose data, when, and how much.

    `learner` is an HMAC pseudonym (lrs.ops.audit.pseudonym), never a learner key in clear, so
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
    """What an erasure (lrs.ops.erasure) removed or pseudonymised (counts only: no identifiers)."""

    statements_deleted: int = 0
    statements_pseudonymised: int = 0
    attachments_deleted: int = 0
    documents_deleted: int = 0
    agent_names_deleted: int = 0
    identity_links_deleted: int = 0
    contributions_deleted: int = 0
    states_deleted: int = 0
    states_rebuilt: int = 0
    dead_letters_deleted: int = 0  # forwarding's undelivered copies of deleted statements
    dead_letters_pseudonymised: int = 0
    aggregate_rows_deleted: int = 0  # stored competency aggregates (issue 14)
    rosters_updated: int = 0  # filled by lrs.erasure_requests, which knows what a roster is

    def counts(self) -> dict[str, int]:
        return dict(asdict(self))

    def add(self, other: ErasureReport) -> None:
        """Count what `other` (a step of the same run) removed in this report too."""
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


class DocumentKind:
    STATE = "state"
    ACTIVITY_PROFILE = "activity_profile"
    AGENT_PROFILE = "agent_profile"
