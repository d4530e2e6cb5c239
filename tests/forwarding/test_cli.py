"""`lrs forwarding ...`: the same rules as the admin API, secrets out of flags and output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lrs.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["forwarding", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_rules_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LRS_STORE", "LRS_DATA", "LRS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    data = ["--data", str(tmp_path)]
    monkeypatch.setenv("LRS_FORWARD_SECRET", "a password from the environment")
    code, out, _ = run(
        capsys, "add", *data, "--name", "district", "--kind", "xapi",
        "--url", "https://district.example/xapi", "--username", "school",
        "--verb", "http://adlnet.gov/expapi/verbs/completed", "--org", "school-a",
    )  # fmt: skip
    assert code == 0
    rule = json.loads(out)
    assert rule["match"]["verbs"] == ["http://adlnet.gov/expapi/verbs/completed"]
    assert rule["destination"]["secret"] == "…ment" and "password" not in out
    code, out, _ = run(capsys, "pause", *data, rule["id"])
    assert code == 0 and json.loads(out)["paused"] is True
    code, out, _ = run(capsys, "list", *data)
    assert [r["id"] for r in json.loads(out)["rules"]] == [rule["id"]]
    code, out, _ = run(capsys, "replay", *data, rule["id"], "--since", "2026-01-01")
    assert code == 0 and json.loads(out)["offset"] == 0
    code, out, err = run(capsys, "replay", *data, rule["id"], "--since", "soon")
    assert code == 2 and "since" in err
    monkeypatch.delenv("LRS_FORWARD_SECRET")
    monkeypatch.setattr("sys.stdin", io.StringIO("whsec_from-standard-input-123\n"))
    code, out, _ = run(
        capsys, "add", *data, "--name", "hook", "--kind", "webhook",
        "--url", "https://hooks.example/lrs", "--secret-stdin",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["destination"]["secret"] == "…-123"
    code, out, err = run(capsys, "add", *data, "--name", "x", "--kind", "xapi", "--url", "nope")
    assert code == 2 and "destination.url" in err
    code, out, _ = run(capsys, "delete", *data, rule["id"])
    assert code == 0
    code, out, err = run(capsys, "show", *data, rule["id"])
    assert code == 2 and "no forwarding rule" in err
