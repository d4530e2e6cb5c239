"""Whose data a credential may see: one policy, used by every xAPI and /api/v1 route.

Scopes (lrs.auth) say WHICH resources a credential may use; its role and organisation say
WHOSE data:

* platform: writes statements and documents, reads its organisation's;
* school: reads its organisation's learners, classes and statements (and may write, as the
  connector of its LMS does, when its scopes allow);
* auditor: reads everything in its assigned organisations (all of them when none are
  assigned), never writes;
* admin: everything.

What belongs to an organisation, decided without any per-statement write:

* a statement: the organisation of the credential that stored it (the store keeps the
  credential key with every statement; the authority names it too). Statements stored by
  something that is not a credential (a connector writing to the store, the Kafka ingest)
  belong to the default organisation, as does a credential with no organisation (admin);
* a document (state, activity or agent profile): the organisation of the writer, through
  a namespace prefixed to its scope, so one organisation never reads or overwrites
  another's; the default organisation's namespace is the empty prefix, so data written
  before organisations existed stays where it was;
* a learner: every organisation that stored a statement about them (the memberships
  projection, lrs.readmodels.memberships). A learner nobody stored anything about (a key
  linked into a person before any activity) is seen by admins and auditors of every
  organisation only, unless the deployment has just one organisation;
* a class roster: the organisation named in it (default when none).

Whatever an organisation may not see is answered exactly as if it did not exist (same
status, same body), so a refusal never tells whether the thing exists elsewhere.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lrs.domain.records import DEFAULT_ORG, Credential, StatementQuery
from lrs.ports import Credentials, Store
from lrs.readmodels.memberships import NAME as MEMBERSHIPS
from lrs.readmodels.memberships import authority_key
from lrs.xapi.errors import Forbidden, ValidationError

ORG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_NAMESPACE_END = "\x1e"  # never in an organisation name, nor in an IRI or learner key prefix


def check_org_name(org: str, field_name: str = "org") -> str:
    """Organisation names are short and plain, so they can prefix document scopes safely."""
    if not ORG_NAME.match(org):
        raise ValueError(
            f"{field_name} {org!r}: use letters, digits, '.', '_' or '-' (at most 64)"
        )
    return org


def org_of(credential: Credential) -> str:
    """The organisation a credential writes for (admins without one: the default)."""
    return credential.org or DEFAULT_ORG


def readable_orgs(credential: Credential) -> frozenset[str] | None:
    """The organisations whose data the credential reads; None for every organisation."""
    if credential.role == "admin":
        return None
    if credential.role == "auditor":
        return frozenset(credential.audits) if credential.audits else None
    return frozenset({org_of(credential)})


def is_admin(credential: Credential) -> bool:
    """The one test for an administrator: the admin role, or the admin scope (a credential
    created with `--scope admin` and another role keeps the administrator's acts)."""
    return credential.role == "admin" or "admin" in credential.scopes


def is_auditor(credential: Credential) -> bool:
    return credential.role == "auditor" or "auditor" in credential.scopes


def may_write(credential: Credential) -> bool:
    """Auditors only ever read."""
    return credential.role != "auditor"


def check_may_write(credential: Credential) -> None:
    if not may_write(credential):
        raise Forbidden(f"credential {credential.key} is an auditor's: it only reads", "Authorization")


@dataclass(frozen=True)
class StatementScope:
    """Which stored statements a reader sees, as a filter on the storing credential.

    `credentials` None: every statement. Otherwise the statements stored by `credentials`,
    or, when `exclude`, every statement but those (the default organisation's view: it owns
    what no credential stored, so it is the complement of the other organisations').
    """

    credentials: tuple[str, ...] | None = None
    exclude: bool = False
    orgs: dict[str, str] = field(default_factory=dict)  # credential key -> organisation

    @property
    def everything(self) -> bool:
        return self.credentials is None or (self.exclude and not self.credentials)

    def apply(self, query: Any) -> Any:
        """Set the filter on a StatementQuery or HistoryQuery (stores do the filtering)."""
        if self.everything:
            query.credentials, query.exclude_credentials = None, False
        else:
            query.credentials = list(self.credentials or ())
            query.exclude_credentials = self.exclude
        return query

    def sees_credential(self, key: str | None) -> bool:
        if self.everything:
            return True
        inside = key is not None and key in (self.credentials or ())
        return not inside if self.exclude else inside

    def sees_statement(self, statement: dict[str, Any]) -> bool:
        return self.sees_credential(authority_key(statement))

    def org_of_key(self, key: str | None) -> str:
        """The organisation of a storing credential key (connector sources: the default)."""
        return self.orgs.get(key or "", DEFAULT_ORG)


class _Deployment:
    """Every credential of a store, as of one `credentials_version`, with the scopes
    computed from it: built once per change, not once per request (a province may have
    thousands of school credentials)."""

    def __init__(self, version: str, credentials: list[Credential]) -> None:
        self.version = version
        self.credentials = credentials
        self.scopes: dict[tuple[str, str, tuple[str, ...]], StatementScope] = {}

    def scope_of(self, credential: Credential) -> StatementScope:
        memo = (credential.role, org_of(credential), credential.audits)
        scope = self.scopes.get(memo)
        if scope is None:
            scope = self.scopes[memo] = statement_scope(credential, self.credentials)
        return scope


_DEPLOYMENTS: weakref.WeakKeyDictionary[Any, _Deployment] = weakref.WeakKeyDictionary()
_DEPLOYMENTS_LOCK = threading.Lock()


def deployment_scope(store: Credentials, credential: Credential) -> StatementScope:
    """`statement_scope` against the store's credentials, re-read only when they changed."""
    version = store.credentials_version()  # read before the list: a save in between reloads
    with _DEPLOYMENTS_LOCK:
        deployment = _DEPLOYMENTS.get(store)
    if deployment is None or deployment.version != version:
        deployment = _Deployment(version, store.list_credentials())
        with _DEPLOYMENTS_LOCK:
            _DEPLOYMENTS[store] = deployment
    return deployment.scope_of(credential)


def statement_scope(credential: Credential, credentials: Iterable[Credential]) -> StatementScope:
    """Pure: the scope of `credential`, given every credential of the deployment."""
    orgs = {c.key: org_of(c) for c in credentials}
    readable = readable_orgs(credential)
    if readable is None:
        return StatementScope(None, False, orgs)
    if DEFAULT_ORG in readable:
        others = tuple(sorted(key for key, org in orgs.items() if org not in readable))
        return StatementScope(others, True, orgs)
    inside = tuple(sorted(key for key, org in orgs.items() if org in readable))
    return StatementScope(inside, False, orgs)


class Access:
    """One request's view: the credential, its scope, and learner checks against the store.

    Built per request (blocking: call from a worker thread); an admin's costs no reads.
    """

    def __init__(self, store: Store, credential: Credential) -> None:
        self.store = store
        self.credential = credential
        self.orgs = readable_orgs(credential)
        self._scope: StatementScope | None = None

    @property
    def everything(self) -> bool:
        return self.orgs is None

    @property
    def scope(self) -> StatementScope:
        if self._scope is None:
            self._scope = (
                StatementScope(None)
                if self.orgs is None
                else deployment_scope(self.store, self.credential)
            )
        return self._scope

    def sees_org(self, org: str | None) -> bool:
        return self.orgs is None or (org or DEFAULT_ORG) in self.orgs

    def sees_learner(self, key: str) -> bool:
        """Whether the learner belongs to an organisation the credential reads.

        The memberships projection answers in one lookup. A learner it does not know yet
        (never seen, or not folded yet) is checked on the statements themselves, so the
        processors' lag never shows another organisation's learner.
        """
        if self.orgs is None or self.scope.everything:
            return True  # (everything: one organisation in the deployment, nothing to part)
        state = self.store.get_state(MEMBERSHIPS, key)
        if state is not None:
            return bool(self.orgs.intersection(state.get("orgs") or ()))
        own = self.scope.apply(StatementQuery(agent=key, limit=1))
        return bool(self.store.query_statements(own).statements)

    def visible_keys(self, keys: Iterable[str]) -> list[str]:
        return [key for key in keys if self.sees_learner(key)]

    def sees_activity(self, activity_id: str) -> bool:
        """Whether any statement the credential sees names the activity."""
        if self.scope.everything:
            return True
        query = StatementQuery(activity=activity_id, related_activities=True, limit=1)
        return bool(self.store.query_statements(self.scope.apply(query)).statements)

    def sees_agent(self, key: str) -> bool:
        """Whether any statement the credential sees names the agent (xAPI Agents resource)."""
        if self.scope.everything:
            return True
        query = StatementQuery(agent=key, related_agents=True, limit=1)
        return bool(self.store.query_statements(self.scope.apply(query)).statements)

    def sees_roster(self, definition: dict[str, Any] | None) -> bool:
        return definition is not None and self.sees_org(definition.get("org"))


def org_resolver(store: Store) -> Callable[[str | None], str]:
    """Credential key -> organisation for the memberships processor, cached: a credential's
    organisation never changes, and an unknown key (a connector source) is the default's."""
    cache: dict[str, str] = {}

    def resolve(key: str | None) -> str:
        if key is None:
            return DEFAULT_ORG
        org = cache.get(key)
        if org is None:
            credential = store.get_credential(key)
            org = DEFAULT_ORG if credential is None else org_of(credential)
            if len(cache) > 100_000:
                cache.clear()
            cache[key] = org
        return org

    return resolve


def document_namespace(credential: Credential, requested: str | None) -> str:
    """The prefix of the document scopes a request reads and writes.

    Platforms and schools use their own organisation's; admins and auditors may name one
    with `org=` (an auditor only one it is assigned). The default organisation's prefix is
    empty, so documents stored before organisations existed are still found.
    """
    org = org_of(credential)
    if requested is not None:
        if credential.role not in ("admin", "auditor"):
            raise ValidationError("parameter org is for administrators and auditors", "org")
        readable = readable_orgs(credential)
        if readable is not None and requested not in readable:
            raise Forbidden(f"credential {credential.key} does not audit {requested}", "org")
        org = requested
    return "" if org == DEFAULT_ORG else org + _NAMESPACE_END
