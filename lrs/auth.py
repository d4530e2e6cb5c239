"""Credentials: creation, storage form and checking, and what each scope allows.

Secrets are 256-bit random tokens, so a salted SHA-256 is enough to make a stolen table
useless; a deliberately slow KDF protects guessable human passwords, which these are not,
and would cost more per request than storing a statement.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from lrs.access import check_org_name
from lrs.domain.records import DEFAULT_ORG, ROLES, Credential
from lrs.ports import Credentials
from lrs.xapi.errors import Forbidden, Unauthorized

XAPI_SCOPES = (
    "statements/write",
    "statements/read",
    "statements/read/mine",
    "state",
    "define",
    "profile",
    "all/read",
    "all",
)
SCOPES = XAPI_SCOPES + ("auditor", "admin")

# What a request needs, by resource family and whether it only reads.
_ALLOWS: dict[tuple[str, bool], frozenset[str]] = {
    ("statements", True): frozenset(
        {"statements/read", "statements/read/mine", "all/read", "all", "admin", "auditor"}
    ),
    ("statements", False): frozenset({"statements/write", "all", "admin"}),
    ("state", True): frozenset({"state", "all/read", "all", "admin", "auditor"}),
    ("state", False): frozenset({"state", "all", "admin"}),
    ("profile", True): frozenset({"profile", "all/read", "all", "admin", "auditor"}),
    ("profile", False): frozenset({"profile", "all", "admin"}),
    ("define", True): frozenset(
        {"define", "all/read", "all", "admin", "auditor", "statements/read", "profile"}
    ),
    ("define", False): frozenset({"define", "all", "admin"}),
    # the query API (/api/v1): derived learner data
    ("learners", True): frozenset({"statements/read", "all/read", "all", "admin", "auditor"}),
}


@dataclass(frozen=True)
class NewCredential:
    credential: Credential
    secret: str


def hash_secret(secret: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    digest = hashlib.sha256((salt + ":" + secret).encode()).hexdigest()
    return f"sha256${salt}${digest}"


def secret_matches(secret: str, stored_hash: str) -> bool:
    try:
        _, salt, _ = stored_hash.split("$", 2)
    except ValueError:
        return False
    return hmac.compare_digest(hash_secret(secret, salt), stored_hash)


def role_for_scopes(scopes: list[str] | tuple[str, ...]) -> str:
    """The role a credential gets when none is given: the scopes `admin` and `auditor` imply it."""
    if "admin" in scopes:
        return "admin"
    if "auditor" in scopes:
        return "auditor"
    return "platform"


def create_credential(
    store: Credentials,
    name: str,
    scopes: list[str],
    org: str | None = None,
    *,
    role: str | None = None,
    audits: list[str] | tuple[str, ...] = (),
) -> NewCredential:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(SCOPES)}")
    if not scopes:
        raise ValueError("give at least one --scope")
    role = role or role_for_scopes(scopes)
    if role not in ROLES:
        raise ValueError(f"unknown role {role}; choose from {', '.join(ROLES)}")
    if audits and role != "auditor":
        raise ValueError("only an auditor is assigned organisations to audit")
    # Platforms and schools always belong to an organisation, so every statement and
    # document they write is someone's; one-organisation deployments never name it.
    if org is None and role in ("platform", "school"):
        org = DEFAULT_ORG
    for org_name in ([org] if org is not None else []) + list(audits):
        check_org_name(org_name)
    key = secrets.token_hex(10)
    secret = secrets.token_hex(32)  # hex: never starts with "-", which CLIs read as an option
    credential = Credential(key, name, tuple(scopes), org, hash_secret(secret), role, tuple(audits))
    store.save_credential(credential)
    return NewCredential(credential, secret)


class BearerTokens(Protocol):
    """Bearer tokens as credentials (lrs.oidc.BearerVerifier); raises Unauthorized."""

    def authenticate(self, token: str) -> Credential: ...


class Authenticator:
    """Checks HTTP Basic credentials; remembers good ones so each request costs one HMAC.
    With `bearer`, `Authorization: Bearer <JWT>` is checked by it (OIDC issuers)."""

    def __init__(self, store: Credentials, bearer: BearerTokens | None = None) -> None:
        self.store = store
        self.bearer = bearer
        self._verified: dict[str, tuple[str, Credential]] = {}

    def authenticate(self, header: str | None) -> Credential:
        if not header:
            raise Unauthorized(
                "send HTTP Basic credentials (lrs credentials create)", "Authorization"
            )
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self.bearer is not None:
            return self.bearer.authenticate(value)
        if scheme.lower() != "basic":
            raise Unauthorized("only HTTP Basic authentication is supported", "Authorization")
        try:
            key, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials", "Authorization") from None
        fingerprint = hashlib.sha256(value.strip().encode()).hexdigest()
        cached = self._verified.get(key)
        if cached is not None and hmac.compare_digest(cached[0], fingerprint):
            return cached[1]
        credential = self.store.get_credential(key)
        if credential is None or not secret_matches(secret, credential.secret_hash):
            raise Unauthorized("unknown key or wrong secret", "Authorization")
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[key] = (fingerprint, credential)
        return credential


def authorize(credential: Credential, resource: str, read_only: bool) -> None:
    if not _ALLOWS[(resource, read_only)].intersection(credential.scopes):
        action = "read" if read_only else "write"
        raise Forbidden(
            f"credential {credential.key} has no scope to {action} {resource}", "Authorization"
        )


def reads_only_own(credential: Credential) -> bool:
    """statements/read/mine without a wider read scope: only statements this credential stored."""
    wider = {"statements/read", "all/read", "all", "admin", "auditor"}
    return "statements/read/mine" in credential.scopes and not wider.intersection(credential.scopes)


def authority_for(credential: Credential, base_url: str) -> dict[str, Any]:
    """The authority the LRS puts on statements stored with this credential."""
    return {
        "objectType": "Agent",
        "name": credential.name,
        "account": {"homePage": base_url.rstrip("/") + "/credentials", "name": credential.key},
    }
