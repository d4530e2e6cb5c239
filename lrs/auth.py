"""Credentials: creation, storage form and checking, and what each scope allows.

Secrets are 256-bit random tokens, so a salted SHA-256 is enough to make a stolen table
useless; a deliberately slow KDF protects guessable human passwords, which these are not,
and would cost more per request than storing a statement.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from lrs.access import check_org_name
from lrs.domain.records import DEFAULT_ORG, ROLES, Credential
from lrs.domain.times import format_stored
from lrs.ports import Credentials
from lrs.xapi.errors import Forbidden, NotFound, Unauthorized, ValidationError

log = logging.getLogger("lrs.auth")

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
    expires: datetime | None = None,
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
    now = datetime.now(UTC)
    if expires is not None and expires <= now:
        raise ValueError("the expiry is in the past; give a later one")
    credential = Credential(
        key,
        name,
        tuple(scopes),
        org,
        hash_secret(secret),
        role,
        tuple(audits),
        created=format_stored(now),
        expires=None if expires is None else format_stored(expires),
    )
    store.save_credential(credential)
    return NewCredential(credential, secret)


class BearerTokens(Protocol):
    """Bearer tokens as credentials (lrs.oidc.BearerVerifier); raises Unauthorized."""

    def authenticate(self, token: str) -> Credential: ...


_UNITS = {"m": 60, "h": 3600, "d": 86400}


def parse_period(text: str, field: str) -> timedelta:
    """`90d`, `12h`, `30m` or `0`: a grace period or a lifetime."""
    text = text.strip().lower()
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "")
    if text == "0":
        return timedelta(0)
    if not unit or not number.isdigit():
        raise ValidationError(f"{field} is a number of days, hours or minutes: 90d, 12h, 30m", field)
    return timedelta(seconds=int(number) * _UNITS[unit])


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """When a credential stops working: a period from now (`90d`), a date (valid through
    that day, UTC) or a date and time with its zone."""
    now = now or datetime.now(UTC)
    stripped = text.strip()
    if stripped[-1:].lower() in _UNITS and stripped[:-1].isdigit():
        return now + parse_period(stripped, "expires")
    try:
        if len(stripped) == 10:
            return datetime.fromisoformat(stripped).replace(tzinfo=UTC) + timedelta(days=1)
        moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationError(
            "expires is a period (90d, 12h), a date (2027-06-30) or a date and time with its "
            "zone (2027-06-30T17:00:00+07:00)",
            "expires",
        )
    return moment.astimezone(UTC)


DEFAULT_GRACE = timedelta(days=1)  # how long a rotated-out secret keeps working by default


def find_credential(store: Credentials, key: str) -> Credential:
    credential = store.get_credential(key)
    if credential is None:
        raise NotFound(f"no credential {key!r}; see `lrs credentials list`", "key")
    return credential


def revoke_credential(store: Credentials, key: str) -> Credential:
    """Refused from the next request on, in every process (the save moves the version every
    Authenticator checks). Kept, not deleted: statements and the access log name its key."""
    credential = find_credential(store, key)
    if credential.revoked is not None:
        return credential
    revoked = replace(credential, revoked=format_stored(datetime.now(UTC)))
    store.save_credential(revoked)
    return revoked


def rotate_credential(
    store: Credentials, key: str, grace: timedelta = DEFAULT_GRACE
) -> NewCredential:
    """A new secret for the same key; the old one still works for `grace` (0: not at all),
    so the clients holding it can be moved over one by one."""
    credential = find_credential(store, key)
    if credential.revoked is not None:
        raise ValidationError(f"credential {key} is revoked; create a new one", "key")
    if grace < timedelta(0):
        raise ValidationError("the grace period cannot be negative", "grace")
    secret = secrets.token_hex(32)
    until = datetime.now(UTC) + grace
    rotated = replace(
        credential,
        secret_hash=hash_secret(secret),
        previous_hash=credential.secret_hash if grace else "",
        previous_until=format_stored(until) if grace else None,
    )
    store.save_credential(rotated)
    return NewCredential(rotated, secret)


def refusal(credential: Credential, now: str) -> str | None:
    """Pure: why a credential whose secret matched may not be used at `now`, or None."""
    if credential.revoked is not None:
        return f"credential {credential.key} was revoked at {credential.revoked}"
    if credential.expires is not None and credential.expires <= now:
        return f"credential {credential.key} expired at {credential.expires}"
    return None


def accepted_secret(credential: Credential, secret: str, now: str) -> bool:
    """The current secret, or the one rotated out while its grace period lasts."""
    if secret_matches(secret, credential.secret_hash):
        return True
    return bool(
        credential.previous_hash
        and credential.previous_until is not None
        and now < credential.previous_until
        and secret_matches(secret, credential.previous_hash)
    )


TOUCH_INTERVAL = 60.0  # seconds: a credential's last use is written at most this often


class Authenticator:
    """Checks HTTP Basic credentials; remembers good ones so each request costs one HMAC.

    With `bearer`, `Authorization: Bearer <JWT>` is checked by it (OIDC issuers).

    The cache holds what was true at one `credentials_version`; every request reads the
    version first (one indexed read) and drops the cache when it moved, so a credential
    revoked or rotated by any process (`lrs credentials revoke`, the admin API of another
    server) is refused by this one from its next request. Expiry and grace periods are
    checked against the clock on every request. Last use is written at most once per
    `TOUCH_INTERVAL` per credential, off the request's path.
    """

    def __init__(
        self,
        store: Credentials,
        bearer: BearerTokens | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bearer = bearer
        self._clock = clock
        self._verified: dict[str, tuple[str, Credential]] = {}
        self._version: str | None = None
        self._touched: dict[str, float] = {}
        self._touch_lock = threading.Lock()
        self._toucher: ThreadPoolExecutor | None = None

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
        version = self.store.credentials_version()
        if version != self._version:
            self._verified = {}
            self._version = version
        now = format_stored(datetime.fromtimestamp(self._clock(), UTC))
        fingerprint = hashlib.sha256(value.strip().encode()).hexdigest()
        cached = self._verified.get(key)
        if cached is not None and hmac.compare_digest(cached[0], fingerprint):
            credential = cached[1]
        else:
            found = self.store.get_credential(key)
            if found is None or not accepted_secret(found, secret, now):
                raise Unauthorized("unknown key or wrong secret", "Authorization")
            credential = found
            if len(self._verified) > 10_000:
                self._verified.clear()
            # Only the current secret is cached: an old one is checked against its grace
            # period on every request.
            if secret_matches(secret, credential.secret_hash):
                self._verified[key] = (fingerprint, credential)
        why = refusal(credential, now)
        if why is not None:
            raise Unauthorized(why, "Authorization")
        self._touch(key, now)
        return credential

    def _touch(self, key: str, now: str) -> None:
        moment = self._clock()
        with self._touch_lock:
            if moment - self._touched.get(key, -TOUCH_INTERVAL) < TOUCH_INTERVAL:
                return
            self._touched[key] = moment
            if self._toucher is None:
                self._toucher = ThreadPoolExecutor(1, thread_name_prefix="lrs-credential-use")
            self._toucher.submit(self._write_touch, key, now)

    def _write_touch(self, key: str, now: str) -> None:
        try:
            self.store.touch_credential(key, now)
        except Exception as exc:  # a last-used time is not worth failing a request for
            log.warning("could not record the last use of credential %s: %s", key, exc)

    def flush(self) -> None:
        """Wait for the last-used writes handed off so far (tests, shutdown)."""
        with self._touch_lock:
            toucher, self._toucher = self._toucher, None
        if toucher is not None:
            toucher.shutdown(wait=True)


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
