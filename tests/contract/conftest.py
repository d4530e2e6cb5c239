"""Every port runs against every adapter: one test module per port, one fixture for all.

Add an adapter to ADAPTERS.

An adapter factory gets the test's request (to ask for server fixtures only when that
adapter runs) and a fresh temporary directory, and returns an empty store.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from lrs.adapters.mongodb import MongoStore
from lrs.adapters.sqlite import SQLiteStore
from lrs.ports import Store
from tests.servers import MongoServer


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """One SecantusDB per test process (each xdist worker has its own, on its own port)."""
    with MongoServer(tmp_path_factory.mktemp("secantus") / "data") as server:
        yield server


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return SQLiteStore(tmp_path / "contract.db", synchronous="OFF")


class _IndexingSQLiteStore(SQLiteStore):
    """Indexes each statement as soon as it is stored, so queries read the statement index
    rather than the not-yet-indexed tail that a plain SQLiteStore answers from at first."""

    def save_statements(self, *args: Any, **kwargs: Any) -> list[str]:
        ids = super().save_statements(*args, **kwargs)
        self.index_now()
        return ids


def _sqlite_indexed(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return _IndexingSQLiteStore(tmp_path / "contract.db", synchronous="OFF")


def _mongodb(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A fresh database per test on the shared server, dropped afterwards."""
    server: MongoServer = request.getfixturevalue("mongo_server")
    url = server.url(f"contract_{uuid.uuid4().hex[:16]}")

    def drop() -> None:
        client: MongoClient[dict[str, object]] = MongoClient(url)
        try:
            client.drop_database(client.get_default_database())
        finally:
            client.close()

    request.addfinalizer(drop)
    return MongoStore(url)


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest, Path], Store]] = {
    "sqlite": _sqlite,
    "sqlite-indexed": _sqlite_indexed,
    "mongodb": _mongodb,
}


@pytest.fixture(params=sorted(ADAPTERS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    adapter = ADAPTERS[request.param](request, tmp_path)
    yield adapter
    adapter.close()
