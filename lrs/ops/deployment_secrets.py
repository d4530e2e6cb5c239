"""Secrets every process of a deployment must share (the access log's pseudonyms, the pages'
session signatures): from an environment variable when set, else made on first use and kept
in the store, so that processes sharing a store agree without configuration."""

from __future__ import annotations

import os
import secrets
import weakref
from typing import Any

from lrs.ports import Definitions

SECRET_KIND = "secret"
_known: weakref.WeakKeyDictionary[Any, dict[str, bytes]] = weakref.WeakKeyDictionary()


def deployment_secret(store: Definitions, variable: str, name: str) -> bytes:
    """`variable`'s value when set, else the store's secret `name` (made on first use)."""
    configured = os.environ.get(variable, "")
    if configured:
        return configured.encode()
    cache = _known.setdefault(store, {})
    known = cache.get(name)
    if known is not None:
        return known
    stored = store.get_definition(SECRET_KIND, name)
    if stored is None:
        store.put_definition(SECRET_KIND, name, {"secret": secrets.token_hex(32)})
        stored = store.get_definition(SECRET_KIND, name) or {}
    secret = str(stored["secret"]).encode()
    cache[name] = secret
    return secret
