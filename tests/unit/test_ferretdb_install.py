"""A machine that cannot build FerretDB gets a ServerUnavailable saying what to do, not a
traceback from deep inside subprocess, and a build that failed leaves nothing half-made."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.servers import ServerUnavailable, ferretdb
from tests.servers.ferretdb import ferretdb_binary


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_without_go_it_says_to_install_go(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ferretdb.shutil, "which", lambda name: None)
    monkeypatch.setattr(ferretdb.os, "access", lambda path, mode: False)
    with pytest.raises(ServerUnavailable, match="needs Go 1.24 or newer.*install Go"):
        ferretdb_binary()


def test_a_failing_go_is_reported_with_its_output(
    empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "go"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'proxy.example: 403 Forbidden' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}/usr/bin{os.pathsep}/bin")
    with pytest.raises(ServerUnavailable, match=r"(?s)downloading .*FerretDB@v1.*403 Forbidden"):
        ferretdb_binary()
    assert not (ferretdb.cache_dir() / "ferretdb").exists()
