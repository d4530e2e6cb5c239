"""What an operator sees of a credential (CLI and admin API): everything but its secrets."""

from __future__ import annotations

from typing_extensions import TypedDict  # pydantic reads these on 3.11

from lrs.domain.records import Credential
from lrs.readmodels.types import Timestamp


class CredentialView(TypedDict):
    key: str
    name: str
    scopes: list[str]
    role: str
    org: str | None
    audits: list[str]
    created: Timestamp | None
    expires: Timestamp | None
    revoked: Timestamp | None
    # a rotated-out secret keeps working until then
    previous_secret_until: Timestamp | None
    # written at most once a minute per process (lrs.auth.TOUCH_INTERVAL)
    last_used: Timestamp | None


class NewCredentialView(CredentialView):
    """A credential just created or rotated: the only time its secret is shown."""

    secret: str


def credential_view(credential: Credential) -> CredentialView:
    return {
        "key": credential.key,
        "name": credential.name,
        "scopes": list(credential.scopes),
        "role": credential.role,
        "org": credential.org,
        "audits": list(credential.audits),
        "created": credential.created or None,
        "expires": credential.expires,
        "revoked": credential.revoked,
        "previous_secret_until": credential.previous_until,
        "last_used": credential.last_used,
    }


def new_credential_view(credential: Credential, secret: str) -> NewCredentialView:
    return {**credential_view(credential), "secret": secret}
