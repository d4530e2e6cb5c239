"""Which organisation stored a statement: the one input every cross-statement rule needs.

Voiding and StatementRef term inheritance (lrs.ops.references) act only between statements
stored by credentials of one organisation; this cache answers that question for the
adapters' write transactions without a read per statement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from lrs.domain.records import DEFAULT_ORG


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
