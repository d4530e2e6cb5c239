"""Every storage adapter runs the same contract tests; add an adapter to ADAPTERS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lrs.storage.base import Store
from lrs.storage.sqlite import SQLiteStore


def _sqlite(tmp_path: Path) -> Store:
    return SQLiteStore(tmp_path / "contract.db", synchronous="OFF")


ADAPTERS = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(ADAPTERS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    adapter = ADAPTERS[request.param](tmp_path)
    yield adapter
    adapter.close()
