"""Per-credential rate limiting: a token bucket per Authorization header, 429 when empty.

Why per Authorization header and not per key: the bucket is taken before the (costlier)
secret check, and a client that knows only a key must not be able to empty the bucket of
the platform that owns it. A holder of the secret shares one bucket however many
connections it opens; requests without credentials share one bucket per client address.
Off when the rate is 0 (the default: the right rate depends on the clients, and a
connector backfilling a year of Moodle logs needs far more than a browser).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from lrs.api.limits import send_error

# Probes and scrapes are not clients' work and must keep answering when a client is limited.
EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics"})


class TokenBucket:
    """`burst` tokens at most, refilled at `rate` per second; a request takes one."""

    __slots__ = ("rate", "burst", "tokens", "updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there will be."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimit:
    """ASGI middleware: one token bucket per credential, a JSON 429 with Retry-After."""

    def __init__(
        self,
        app: ASGIApp,
        rate: float,
        burst: int,
        max_buckets: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.rate = rate
        self.burst = float(burst) if burst > 0 else max(1.0, rate)
        self.max_buckets = max_buckets
        self.clock = clock
        self.buckets: dict[bytes, TokenBucket] = {}

    def _who(self, scope: Scope) -> bytes:
        for name, value in scope["headers"]:
            if name == b"authorization":
                # A digest, so the table holds no secret.
                return b"a" + hashlib.blake2b(value, digest_size=16).digest()
        client = scope.get("client") or ("", 0)
        return b"c" + str(client[0]).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.rate <= 0 or scope["path"] in EXEMPT_PATHS:
            return await self.app(scope, receive, send)
        who = self._who(scope)
        now = self.clock()
        bucket = self.buckets.pop(who, None)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, now)
            if len(self.buckets) >= self.max_buckets:
                # The least recently used bucket goes (dict order is use order, see below).
                self.buckets.pop(next(iter(self.buckets)))
        self.buckets[who] = bucket  # re-inserted: most recently used last
        wait = bucket.take(now)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            await send_error(
                scope,
                send,
                429,
                "rate_limited",
                f"too many requests for this credential (at most {self.rate:g}/s, bursts of "
                f"{self.burst:g}); retry after {retry} s",
                "Authorization",
                {"Retry-After": str(retry)},
            )
            return
        await self.app(scope, receive, send)
