"""Moved to lrs.adapters.sqlite (one module per capability); kept so imports still work."""

from __future__ import annotations

from lrs.adapters.sqlite import SQLiteStore
from lrs.adapters.sqlite.access_log import ACCESS_COLUMNS as _ACCESS_COLUMNS
from lrs.adapters.sqlite.access_log import access_row as _access_row

__all__ = ["SQLiteStore", "_ACCESS_COLUMNS", "_access_row"]
