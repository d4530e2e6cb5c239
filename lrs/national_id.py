"""People across systems: pseudonymous national-ID accounts (pure).

A national ID number must never be stored in clear. Connectors and `lrs identity
pseudonymise` turn one into an xAPI account whose name is an HMAC of the number under a
deployment secret: the same person gets the same account in every system that shares the
secret, and the number cannot be read back or guessed by hashing candidate numbers
without the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Any

from lrs.xapi.errors import ValidationError

DEFAULT_HOME_PAGE = "https://vneid.gov.vn"
_SEPARATORS = re.compile(r"[\s.\-/]")


def normalise_national_id(number: str) -> str:
    """The number as issued: separators people type are dropped, letters upper-cased."""
    # NFKC: full-width digits typed through an IME are the same number; anything else that
    # is not ASCII would silently give the same person a second account, so it is refused
    cleaned = _SEPARATORS.sub("", unicodedata.normalize("NFKC", number)).upper()
    if not cleaned or not (cleaned.isascii() and cleaned.isalnum()):
        raise ValidationError("a national ID number has digits (and letters) only", "number")
    return cleaned


def pseudonymise(number: str, secret: bytes, home_page: str = DEFAULT_HOME_PAGE) -> dict[str, Any]:
    """The xAPI account standing for a national ID number."""
    if len(secret) < 16:
        raise ValidationError(
            "the deployment secret must be at least 16 bytes (set LRS_IDENTITY_SECRET)", "secret"
        )
    digest = hmac.new(secret, normalise_national_id(number).encode(), hashlib.sha256).hexdigest()
    return {"homePage": home_page, "name": digest}
