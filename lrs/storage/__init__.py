"""Storage: one port (`base`), one module per adapter. Pick one with `open_store(url)`."""

from __future__ import annotations

from lrs.storage.base import Store


def open_store(url: str) -> Store:
    """`sqlite:///path/to/file.db` (embedded default) or `mongodb://...` (scaled out)."""
    if url.startswith("sqlite://"):
        from lrs.storage.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite://"))
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from lrs.storage.mongodb import MongoStore

        return MongoStore(url)
    raise ValueError(f"unknown store URL {url!r}: use sqlite:///path or mongodb://host/db")


__all__ = ["Store", "open_store"]
