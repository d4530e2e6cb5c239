"""OAuth 2.0 bearer tokens (JWTs) from configured OpenID Connect issuers, as credentials.

Why PyJWT (with `cryptography`, already a dependency): it is small, widely deployed and
maintained, verifies `exp`/`nbf`/`iat`/`aud`/`iss` with a leeway, takes the allowed
algorithms as an explicit list on every call, and refuses to use an asymmetric public key
as an HMAC secret. Its JWKS client is not used: fetching is done here with httpx so that
refetches on an unknown `kid` can be rate-limited and the cache shared per issuer.

What is refused, before any key is looked at: a token whose header names an algorithm the
issuer's settings do not list (so `alg: none` and an `HS256` token "signed" with the
issuer's public key never reach verification), a token from an issuer that is not
configured, and a key whose type does not fit the algorithm. Every refusal raises
`InvalidToken` (401 with `WWW-Authenticate: Bearer error="invalid_token"`).

Fetching blocks the caller (the authenticators are synchronous): discovery and the key set
are fetched once (at startup, in a thread: `warm`), then again only when a token names a key id the cache does not hold
(key rotation) and at most once per `jwks_min_refetch` seconds, or when the cache is older
than `jwks_max_age`; each fetch has a short timeout so a dead issuer costs seconds, once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from lrs.access import check_org_name
from lrs.auth import SCOPES, role_for_scopes
from lrs.config import OidcIssuer
from lrs.domain.records import DEFAULT_ORG, Credential
from lrs.ports import Credentials
from lrs.xapi.errors import Unauthorized

log = logging.getLogger(__name__)

FETCH_TIMEOUT = 3.0  # seconds for discovery or the key set


class InvalidToken(Unauthorized):
    """A bearer token that is not accepted; answered with a Bearer challenge (RFC 6750)."""

    def __init__(self, message: str, error: str = "invalid_token") -> None:
        super().__init__(message, "Authorization")
        self.challenge = _challenge(error, message)


def _challenge(error: str, description: str) -> str:
    safe = description.replace("\\", "").replace('"', "'")
    return f'Bearer realm="xAPI", error="{error}", error_description="{safe}"'


Fetch = Callable[[str], Any]


def _fetch_json(url: str) -> Any:
    response = httpx.get(url, timeout=FETCH_TIMEOUT, follow_redirects=False)
    response.raise_for_status()
    return response.json()


@dataclass
class _KeySet:
    """One issuer's keys by kid, with when they were fetched (monotonic seconds)."""

    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    unnamed: list[jwt.PyJWK] = field(default_factory=list)  # keys without a kid
    fetched: float = -1e18
    jwks_uri: str = ""


class IssuerKeys:
    """The signing keys of one issuer: discovery once, the JWKS cached, refetched on rotation."""

    def __init__(
        self,
        issuer: OidcIssuer,
        fetch: Fetch = _fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._set = _KeySet(jwks_uri=issuer.jwks_uri)
        self.fetches = 0  # key-set fetches so far (the tests read it)

    def key_for(self, kid: str | None, alg: str) -> jwt.PyJWK:
        with self._lock:
            now = self._clock()
            age = now - self._set.fetched
            if age > self.issuer.jwks_max_age:
                self._refresh(now)
            key = self._find(kid)
            if key is None and age >= self.issuer.jwks_min_refetch and self._set.fetched != now:
                self._refresh(now)  # a rotated key: fetch again, at most this often
                key = self._find(kid)
        if key is None:
            raise InvalidToken(f"the issuer has no signing key {kid!r} (rotated out?)")
        if key.algorithm_name != alg:
            raise InvalidToken(f"the key {kid!r} is not a {alg} key")
        return key

    def warm(self) -> None:
        with self._lock:
            if self._set.fetched < 0:
                self._refresh(self._clock())

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is not None:
            return self._set.keys.get(kid)
        return self._set.unnamed[0] if len(self._set.unnamed) == 1 else None

    def _refresh(self, now: float) -> None:
        try:
            uri = self._set.jwks_uri or self._discover()
            document = self._fetch(uri)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("cannot fetch the keys of %s: %s", self.issuer.issuer, exc)
            self._set.fetched = now  # do not hammer a failing issuer on every request
            return
        keys: dict[str, jwt.PyJWK] = {}
        unnamed: list[jwt.PyJWK] = []
        for entry in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            algorithm = entry.get("alg") or _default_alg(entry)
            if algorithm not in self.issuer.algorithms:
                continue  # never a key for an algorithm the settings do not allow
            try:
                key = jwt.PyJWK(entry, algorithm=algorithm)
            except jwt.PyJWTError:
                continue
            if isinstance(entry.get("kid"), str):
                keys[entry["kid"]] = key
            else:
                unnamed.append(key)
        self.fetches += 1
        self._set = _KeySet(keys, unnamed, now, uri)

    def _discover(self) -> str:
        url = self.issuer.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = self._fetch(url)
        if not isinstance(document, dict) or document.get("issuer") != self.issuer.issuer:
            raise ValueError(f"{url} does not describe the issuer {self.issuer.issuer}")
        uri = document.get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise ValueError(f"{url} names no jwks_uri")
        return uri


def _default_alg(entry: dict[str, Any]) -> str | None:
    """The algorithm a JWK without `alg` is for: RS256 for RSA, by curve for EC."""
    kty = entry.get("kty")
    if kty == "RSA":
        return "RS256"
    if kty == "EC":
        return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(entry.get("crv", ""))
    return None


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path (`realm_access.roles`), None if any step is missing."""
    value: Any = claims
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


class BearerVerifier:
    """Turns a bearer JWT into a `Credential`, or raises `InvalidToken`.

    The credential is saved in the store the first time it is seen (and again when its
    claims map to another org, role or scopes), with no secret, so Basic login with its key
    is impossible: statements belong to the organisation of the credential that stored
    them (lrs.access), and the access log and `lrs credentials list` name token clients
    like any other.
    """

    def __init__(
        self,
        issuers: tuple[OidcIssuer, ...],
        credentials: Credentials | None = None,
        fetch: Fetch = _fetch_json,
    ) -> None:
        self.issuers = {issuer.issuer: issuer for issuer in issuers}
        self.keys = {issuer.issuer: IssuerKeys(issuer, fetch) for issuer in issuers}
        self.credentials = credentials
        self._saved: dict[str, Credential] = {}

    def warm(self) -> None:
        """Fetch every issuer's keys now (at startup, in a thread): otherwise the first
        token of each issuer waits for discovery and the key set."""
        for keys in self.keys.values():
            keys.warm()

    def authenticate(self, token: str) -> Credential:
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise InvalidToken("the bearer token is not a JWT") from None
        issuer = self.issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise InvalidToken("the token's issuer (iss) is not one this LRS trusts")
        alg = header.get("alg")
        if alg not in issuer.algorithms:
            raise InvalidToken(
                f"the token's algorithm {alg!r} is not allowed; this issuer signs with "
                + ", ".join(issuer.algorithms)
            )
        kid = header.get("kid")
        key = self.keys[issuer.issuer].key_for(kid if isinstance(kid, str) else None, alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=list(issuer.audience),
                issuer=issuer.issuer,
                leeway=issuer.clock_skew,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet (nbf or iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is not meant for this LRS (aud)") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the token is not valid: {exc}") from None
        credential = credential_of(issuer, claims)
        if self.credentials is not None and self._saved.get(credential.key) != credential:
            if self.credentials.get_credential(credential.key) != credential:
                self.credentials.save_credential(credential)
            if len(self._saved) > 10_000:
                self._saved.clear()
            self._saved[credential.key] = credential
        return credential


def credential_of(issuer: OidcIssuer, claims: dict[str, Any]) -> Credential:
    """The credential a verified token stands for: claims mapped by the issuer's settings.

    Scopes the LRS does not know (`openid`, `email`, ...) are ignored; a token that maps to
    no LRS scope, or to a role the issuer may not grant, is refused.
    """
    raw = _words(_claim(claims, issuer.scopes_claim))
    mapping = issuer.scopes_for
    scopes: list[str] = []
    for word in raw:
        for scope in mapping.get(word, (word,) if not mapping else ()):
            # the admin and auditor scopes carry those roles' powers (lrs.access.is_admin):
            # only from an issuer the settings let grant the role
            if scope in ("admin", "auditor") and scope not in issuer.roles:
                continue
            if scope in SCOPES and scope not in scopes:
                scopes.append(scope)
    if not scopes:
        raise InvalidToken("the token grants no scope this LRS knows")
    role = issuer.role or role_for_scopes(scopes)
    if issuer.role_claim:
        named = [word for word in _words(_claim(claims, issuer.role_claim)) if word in issuer.roles]
        role = named[0] if named else role
    if role not in issuer.roles:
        raise InvalidToken(f"this issuer may not grant the role {role!r}")
    org: str | None = issuer.org or None
    if issuer.org_claim:
        value = _claim(claims, issuer.org_claim)
        if not isinstance(value, str) or not value:
            raise InvalidToken(f"the token has no organisation claim {issuer.org_claim!r}")
        try:
            org = check_org_name(value, issuer.org_claim)
        except ValueError as exc:
            raise InvalidToken(str(exc)) from None
    if org is None and role in ("platform", "school"):
        org = DEFAULT_ORG
    subject = str(claims["sub"])
    name = str(claims.get("azp") or claims.get("client_id") or subject)
    return Credential(f"oidc:{issuer.label}:{subject}", name, tuple(scopes), org, "", role)
