"""The `lrs` command as an operator meets it, run as a real process (issue 17, points 1-3):
the data directory is never made by a typo, is its owner's alone, serves reads when it is
read-only and one server at a time; erasure asks first; credentials have a life cycle; and
nothing a user can do ends in a traceback (exit 2 for how it was called, 1 for what it met).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import wait_until
from tests.servers.process import free_port, stop_child

ROOT = Path(__file__).resolve().parents[2]


def lrs(*args: str, user: int | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "lrs.cli", *args]
    if user is not None:  # root ignores permission bits: run as an ordinary user instead
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, input=stdin
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def made(data: Path, *extra: str) -> dict[str, str]:
    done = lrs("credentials", "create", "--data", str(data), "--init", "--name", "admin",
               "--scope", "all", "--scope", "admin", "--role", "admin", "--json", *extra)
    assert done.returncode == 0, done.stderr
    created: dict[str, str] = json.loads(done.stdout)
    return created


def test_a_data_directory_that_does_not_exist_is_refused_not_created(tmp_path: Path) -> None:
    typo = tmp_path / "lrs-dat"
    for command in (["audit", "verify"], ["credentials", "list"], ["rebuild"], ["demo", "--help"]):
        done = lrs(*command, "--data", str(typo))
        if command[-1] == "--help":
            continue
        assert done.returncode == 2, command
        assert f"no LRS store at {typo}/lrs.db" in done.stderr and "--init" in done.stderr
    assert not typo.exists()


def test_init_creates_files_only_their_owner_may_read(tmp_path: Path) -> None:
    data = tmp_path / "new"
    made(data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = list(data.iterdir())
    assert {p.name for p in files} >= {"lrs.db", "lrs-projections.db", "lrs-audit.db"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory an unprivileged user can reach (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="lrs-ro-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_a_read_only_data_directory_serves_the_commands_that_only_read(shared_dir: Path) -> None:
    data = shared_dir / "data"
    made(data)
    assert lrs("persons", "set", "p-1", "--name", "An", "--data", str(data)).returncode == 0
    for path in data.iterdir():
        path.chmod(0o444)
    data.chmod(0o555)
    user = 65534 if os.geteuid() == 0 else None
    verified = lrs("audit", "verify", "--data", str(data), user=user)
    assert verified.returncode == 0, verified.stderr
    assert "access log intact" in verified.stdout
    exported = lrs("results", "export", "--data", str(data), user=user)
    assert exported.returncode == 0, exported.stderr
    listed = lrs("credentials", "list", "--data", str(data), user=user)
    assert listed.returncode == 0 and "admin" in listed.stdout
    for command in (["audit", "head"], ["results", "statements"], ["frameworks", "list"],
                    ["frameworks", "show", "digcomp-2.2"], ["alignments", "list"],
                    ["crosswalks", "list"], ["identity", "show", "p-1"],
                    ["credentials", "show", listed.stdout.split()[0]]):
        done = lrs(*command, "--data", str(data), user=user)
        assert done.returncode in (0, 2) and "read-only" not in done.stderr, (command, done.stderr)
    refused = lrs("persons", "set", "p-1", "--name", "Binh", "--data", str(data), user=user)
    assert refused.returncode == 1
    assert "read-only" in refused.stderr and "`lrs persons` writes" in refused.stderr
    assert sorted(p.name for p in data.iterdir()) == ["lrs-audit.db", "lrs-projections.db", "lrs.db"]


def test_a_second_server_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made(data)
    port = free_port()
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(
        [sys.executable, "-m", "lrs.cli", "serve", "--data", str(data), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )
    try:
        wait_until(lambda: "pid" in (data / "lrs.lock").read_text(), 60, "the first server's lock")
        second = lrs("serve", "--data", str(data), "--port", str(free_port()))
        assert second.returncode == 1
        assert f"already serves {data}" in second.stderr and f"pid {first.pid}" in second.stderr
    finally:
        stop_child(first)
        log.close()


def test_erase_shows_what_it_would_do_and_asks_first(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made(data)
    key = "account:https://lms.example.org|42"
    assert lrs("identity", "link", "--data", str(data), "--person", "an", key).returncode == 0
    dry = lrs("erase", "--data", str(data), "--person", "an", "--dry-run")
    assert dry.returncode == 0 and json.loads(dry.stdout)["keys"] == [key]
    unasked = lrs("erase", "--data", str(data), "--person", "an", stdin="")
    assert unasked.returncode == 2 and "--yes" in unasked.stderr
    assert json.loads(lrs("identity", "show", "--data", str(data), "an").stdout)["keys"] == [key]
    done = lrs("erase", "--data", str(data), "--person", "an", "--yes")
    assert done.returncode == 0 and json.loads(done.stdout)["keys"] == 1
    assert lrs("identity", "show", "--data", str(data), "an").returncode == 2


def test_a_key_cut_short_by_a_shell_pipe_is_refused_not_stored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made(data)
    cut = lrs("identity", "link", "--data", str(data), "--person", "an",
              "account:https://lms.example.org")
    assert cut.returncode == 2 and "account:<homePage>|<name>" in cut.stderr
    assert lrs("identity", "show", "--data", str(data), "an").returncode == 2
    for bad in ("mbox:an@x.org", "mbox_sha1sum:abc", "nonsense"):
        assert lrs("erase", "--data", str(data), "--key", bad, "--dry-run").returncode == 2


def test_credentials_list_show_rotate_revoke_expire(tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin = made(data)
    assert admin["role"] == "admin" and admin["expires"] is None
    school = made(data, "--expires", "2099-12-31")
    assert school["expires"] == "2100-01-01T00:00:00.000Z"
    listed = json.loads(lrs("credentials", "list", "--data", str(data), "--json").stdout)
    assert {c["key"] for c in listed} == {admin["key"], school["key"]}
    assert all("secret" not in c and "secret_hash" not in c for c in listed)
    rotated = json.loads(
        lrs("credentials", "rotate", school["key"], "--grace", "2h", "--data", str(data),
            "--json").stdout
    )
    assert rotated["secret"] != school["secret"] and rotated["previous_secret_until"]
    revoked = lrs("credentials", "revoke", school["key"], "--data", str(data))
    assert revoked.returncode == 0
    shown = json.loads(lrs("credentials", "show", school["key"], "--data", str(data)).stdout)
    assert shown["revoked"] is not None
    assert lrs("credentials", "rotate", school["key"], "--data", str(data)).returncode == 2
    missing = lrs("credentials", "show", "nope", "--data", str(data))
    assert missing.returncode == 2 and "lrs credentials list" in missing.stderr
    past = lrs("credentials", "create", "--data", str(data), "--name", "x", "--scope", "all",
               "--expires", "2001-01-01")
    assert past.returncode == 2 and "past" in past.stderr


def test_auditors_take_several_organisations_in_one_flag(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made(data)
    done = lrs("credentials", "create", "--data", str(data), "--name", "Inspector", "--scope",
               "auditor", "--audits", "school-1", "school-2", "--audits", "school-3", "--json")
    assert json.loads(done.stdout)["audits"] == ["school-1", "school-2", "school-3"]


@pytest.mark.parametrize(
    ("setup", "args", "status", "says"),
    [
        ("", ["--config", "missing.toml"], 2, "cannot read the settings file missing.toml"),
        ("[lrs\n", ["--config", "bad.toml"], 2, "bad.toml is not TOML"),
        ("[lrs]\nport = 'x'\n", ["--config", "bad.toml"], 2, "port='x': must be an integer"),
        ("", ["--store", "mongodb://127.0.0.1:1/lrs?serverSelectionTimeoutMS=300"], 1,
         "the store is not reachable"),
    ],
)
def test_bad_settings_and_unreachable_stores_get_one_message(
    tmp_path: Path, setup: str, args: list[str], status: int, says: str
) -> None:
    if setup:
        (tmp_path / "bad.toml").write_text(setup)
    done = subprocess.run(
        [sys.executable, "-m", "lrs.cli", "audit", "verify", *args],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == status, done.stderr
    assert says in done.stderr


def test_an_unwritable_output_file_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made(data)
    done = lrs("results", "export", "--data", str(data), "--out", str(tmp_path / "no" / "x.csv"))
    assert done.returncode == 1 and f"{tmp_path}/no/x.csv" in done.stderr


def test_output_piped_to_head_ends_quietly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made(data)
    done = subprocess.run(
        f"{sys.executable} -m lrs.cli frameworks show digcomp-2.2 --data {data} | head -c 10",
        shell=True, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert done.stdout == '{\n  "id": '[:10] and done.stderr == ""


def test_connecting_to_a_broker_that_is_not_there_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made(data)
    lines = tmp_path / "s.jsonl"
    statement = {"actor": {"mbox": "mailto:a@example.org"}, "verb": {"id": "http://x.org/v"},
                 "object": {"id": "http://x.org/o"}}
    lines.write_text(json.dumps(statement) + "\n")
    done = lrs("connect", "xapi", "--data", str(data), "--input", str(lines),
               "--to", "kafka://127.0.0.1:1")
    assert done.returncode == 1, done.stderr
    assert "127.0.0.1:1" in done.stderr and "is the broker running?" in done.stderr


def test_access_log_in_json_lines_with_credentials_redacted(tmp_path: Path) -> None:
    import urllib.request

    data = tmp_path / "data"
    admin = made(data)
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "lrs.cli", "serve", "--data", str(data), "--port", str(port),
             "--access-log", "--log-format", "json"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
    try:
        url = f"http://127.0.0.1:{port}/xapi/about?secret={admin['secret']}"
        wait_until(lambda: urllib.request.urlopen(url, timeout=1).status == 200, 60, "the server")
        wait_until(lambda: '"uvicorn.access"' in log_path.read_text(), 10, "an access line")
    finally:
        stop_child(server)
    text = log_path.read_text()
    assert admin["secret"] not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert access and access[0]["method"] == "GET" and access[0]["status"] == 200
    assert access[0]["path"].startswith("/xapi/about?secret=[REDACTED]")
    assert all({"time", "level", "message"} <= set(line) for line in lines)
