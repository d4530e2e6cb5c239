"""Moved to lrs.adapters.mongodb (one module per capability); kept so imports still work."""

from __future__ import annotations

from lrs.adapters.mongodb import MongoStore, WriteExpired

__all__ = ["MongoStore", "WriteExpired"]
