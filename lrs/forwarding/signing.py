"""Webhook signatures (pure): HMAC-SHA256 over `timestamp + "." + body`, as Stripe and
Standard Webhooks sign, so receivers can use what they know.

A delivery carries three headers:

    X-LRS-Webhook-Id:        the batch's id, the same on every retry (deduplicate on it,
                             or on the statement ids in the body)
    X-LRS-Webhook-Timestamp: Unix seconds when this attempt was signed
    X-LRS-Webhook-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

To verify, a receiver takes the raw body bytes (before any JSON parsing), computes the
HMAC with the rule's secret, compares it in constant time with each `v1=` value in the
signature header (space-separated: a future rotation may send two), and refuses a
timestamp more than five minutes from its clock, so a captured request cannot be replayed
later. `verify` below is that check; it is what the tests' receiver runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ID_HEADER = "X-LRS-Webhook-Id"
TIMESTAMP_HEADER = "X-LRS-Webhook-Timestamp"
SIGNATURE_HEADER = "X-LRS-Webhook-Signature"
SCHEME = "v1"
TOLERANCE = 300  # seconds between the signer's and the receiver's clock, at most
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A signing secret for a webhook rule created without one (256 random bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes, delivery_id: str) -> dict[str, str]:
    """The headers that authenticate `body` for a receiver holding `secret`."""
    return {
        ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SCHEME}={signature(secret, timestamp, body)}",
    }


def verify(
    secret: str,
    timestamp: str,
    signatures: str,
    body: bytes,
    now: float,
    *,
    tolerance: int = TOLERANCE,
) -> bool:
    """Whether a delivery is authentic and fresh (see the module docstring)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    expected = signature(secret, int(timestamp), body)
    return any(
        hmac.compare_digest(expected, value)
        for scheme, _, value in (part.partition("=") for part in signatures.split())
        if scheme == SCHEME
    )
