"""Sign-in sessions for the pages: a signed cookie naming the credential, never its secret.

The cookie carries the credential key, a fingerprint of its stored secret hash (so rotating
or revoking the credential ends every session made with it) and the session's CSRF token;
it is signed with itsdangerous under a secret kept like the access log's
(`LRS_SESSION_SECRET`, else one made and stored on first use, so every process of a
deployment shares it). HttpOnly, SameSite=Lax, and Secure unless `LRS_COOKIE_SECURE=0`
or the server listens on loopback only (plain http while developing).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from lrs.domain.records import Credential
from lrs.ops.deployment_secrets import deployment_secret
from lrs.ports import Store

COOKIE = "lrs_session"
PRE_COOKIE = "lrs_signin"  # the CSRF token of the sign-in form, before any session
MAX_AGE = 8 * 3600  # a working day
SECRET_ID = "web-sessions"  # its name among the deployment secrets
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Session:
    credential: Credential
    csrf: str


def _secret(store: Store) -> bytes:
    return deployment_secret(store, "LRS_SESSION_SECRET", SECRET_ID)


def _serializer(store: Store) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret(store), salt="lrs-web-session")


def _fingerprint(credential: Credential) -> str:
    return hashlib.sha256(credential.secret_hash.encode()).hexdigest()[:16]


def secure_cookies(host: str) -> bool:
    configured = os.environ.get("LRS_COOKIE_SECURE", "").strip().lower()
    if configured in ("0", "false", "no", "off"):
        return False
    if configured in ("1", "true", "yes", "on"):
        return True
    return host not in LOOPBACK


def set_cookie(response: Response, name: str, value: str, secure: bool, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax"
    )


def issue(store: Store, credential: Credential) -> tuple[str, str]:
    """Blocking: (cookie value, CSRF token) of a new session."""
    csrf = secrets.token_urlsafe(24)
    value = _serializer(store).dumps({"k": credential.key, "f": _fingerprint(credential), "c": csrf})
    return value, csrf


def load(store: Store, value: str | None) -> Session | None:
    """Blocking: the session a cookie names, if it is ours, unexpired, and its credential
    still exists with the same secret."""
    if not value:
        return None
    try:
        data = _serializer(store).loads(value, max_age=MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    credential = store.get_credential(str(data.get("k")))
    if credential is None or not hmac.compare_digest(_fingerprint(credential), str(data.get("f"))):
        return None
    return Session(credential, str(data.get("c")))


def csrf_ok(expected: str | None, form: Any) -> bool:
    given = form.get("csrf")
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(given, str(expected))


def signin_token(request: Request) -> str:
    """The sign-in form's token: the cookie's if it has one (double submit)."""
    return request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
