"""Every command in the shell blocks of README.md and deploy/README.md (issue 17, point 6).

Each command is either run, exactly as pasted, with bash in a scratch directory laid out
like a checkout after `./scripts/serve`'s first run (`.venv` and the repository's files at
hand, `lrs-data` made the way scripts/serve makes it), or named in DENIED with the reason it
cannot run here. A command in neither list fails the test, so a new README command is
classified when it is written. Placeholders a reader replaces (KEY:SECRET, rules.json) are
denied, or run where the README shows that a placeholder is refused with a message.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", "deploy/README.md")

# What a command that cannot run here starts with (after `.venv/bin/`), and why.
DENIED: dict[str, str] = {
    "./scripts/serve": "runs a server until stopped, and installs: scripts/serve itself is "
    "tested by tests/cli (the credential it makes) and the live_lrs fixture",
    "./scripts/test": "the test suite itself",
    "lrs serve": "runs a server until stopped; a real `lrs serve` serving the pages is tested "
    "by tests/web/test_serve.py and the API by the live_lrs fixture",
    "curl ": "needs a server on port 8000 of a shared machine; the same requests are tested "
    "in tests/api against a real `lrs serve` (live_lrs)",
    "docker ": "needs a Docker engine (deploy/ is checked by tests/unit/test_deploy.py)",
    "kubectl ": "needs a Kubernetes cluster (manifests checked by tests/unit/test_deploy.py)",
    "helm ": "needs a Kubernetes cluster",
    "(cd deploy/kubernetes && kustomize": "needs kustomize and a registry",
    "git clone ": "downloads the ADL suite from the network",
    "python scripts/conformance.py": "needs the ADL suite and Node.js",
    "lrs frameworks import my-framework.json": "placeholder for a site's own file; import is "
    "tested in tests/unit/test_frameworks.py",
    "lrs alignments import rules.json": "placeholder for a site's own rule set; the shipped "
    "ones are loaded without a command (examples/ shows them at work)",
    "lrs connect xapi --input export.jsonl --to kafka://kafka:9092": "the host `kafka` exists "
    "in the compose network only; tests/integration/test_kafka_ingest.py runs it on a broker",
    "lrs connect xapi --input export.jsonl --to https://lrs.example.org": "another LRS on the "
    "network; tests/connectors cover --to URL against a live LRS",
}

# Placeholders the README shows being refused: run, and expect exit 2 with a message.
REFUSED = {
    "lrs audit verify --anchor SEQ:HASH": "--anchor is SEQ:HASH",
    "LRS_IDENTITY_SECRET=... ": "the deployment secret must be at least 16 bytes",
}

# Files a reader is assumed to have (the README names them as theirs).
READER_FILES = {
    "export.jsonl": '{"actor": {"mbox": "mailto:an@example.org"}, "verb": {"id": '
    '"http://adlnet.gov/expapi/verbs/completed"}, "object": {"id": "http://example.org/c/1"}}\n',
}


def shell_commands(document: str) -> list[str]:
    """Every command of every ```sh block: continuation lines joined, comments dropped."""
    text = (ROOT / document).read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for command in re.sub(r"\\\n\s*", " ", block).splitlines():
            if command.strip() and not command.lstrip().startswith("#"):
                commands.append(command.strip())
    return commands


def bare(command: str) -> str:
    return command.replace(".venv/bin/", "")


def reason_denied(command: str) -> str | None:
    for start, reason in DENIED.items():
        if bare(command).startswith(start) or command.startswith(start):
            return reason
        if start.startswith("python ") and start in bare(command):
            return reason
    return None


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout after `./scripts/serve`'s first run, without touching the real one."""
    where = tmp_path_factory.mktemp("readme")
    (where / ".venv").mkdir()
    (where / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    for name in ("examples", "schemas", "lrs"):
        (where / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "deploy", where / "deploy")  # commands copy and edit files in it
    for name, content in READER_FILES.items():
        (where / name).write_text(content)
    serve = (ROOT / "scripts" / "serve").read_text()
    first_run = re.search(r"(\.venv/bin/lrs credentials create .*?)\n(?!\s)", serve, re.S)
    assert first_run, "scripts/serve no longer creates the first credential as expected"
    run(first_run.group(1).replace("\\\n", " "), where)
    return where


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


COMMANDS = [(document, command) for document in DOCUMENTS for command in shell_commands(document)]
RUN = [(document, command) for document, command in COMMANDS if reason_denied(command) is None]


def test_every_command_is_run_or_denied_with_a_reason() -> None:
    unclassified = [
        command
        for _, command in COMMANDS
        if reason_denied(command) is None and not command.startswith(("cp ", "sed ", "export "))
        and not bare(command).startswith("lrs ")
        and not command.startswith(("LRS_IDENTITY_SECRET=", "LRS_FORWARD_SECRET="))
    ]
    assert not unclassified, f"classify these README commands in {__file__}: {unclassified}"
    assert len(RUN) >= 20
    assert all(reason for reason in DENIED.values())


def test_readme_commands_run_as_pasted_in_order(scratch: Path) -> None:
    """One test, in the README's order: later commands use what earlier ones made (the
    person `identity link` made is the one `erase` erases), as for a reader."""
    failures = []
    for document, command in RUN:
        done = run(command, scratch)
        refused = next((says for start, says in REFUSED.items() if bare(command).startswith(start)), None)
        if "Traceback" in done.stderr:
            failures.append(f"{document}: `{command}` printed a traceback:\n{done.stderr}")
        elif refused is not None:
            if done.returncode != 2 or refused not in done.stderr:
                failures.append(f"{document}: `{command}` was to be refused: {done.stderr}")
        elif done.returncode != 0:
            failures.append(f"{document}: `{command}` exited {done.returncode}:\n{done.stderr}")
    assert not failures, "\n\n".join(failures)


def test_the_examples_give_competency_status_from_the_first_statements(scratch: Path) -> None:
    """README's promise for examples/: the gradebook's passed rows reach level 1."""
    from lrs.competency.reading import read_status
    from lrs.competency.registry import find_framework
    from lrs.storage import open_store

    # its own store: the README's `lrs demo` imported rule sets of its own into lrs-data
    done = run(
        ".venv/bin/lrs connect csv --data new-site --init --input examples/gradebook.csv "
        "--mapping examples/gradebook-mapping.json && .venv/bin/lrs rebuild competencies "
        "--data new-site",
        scratch,
    )
    assert done.returncode == 0, done.stderr
    store = open_store(f"sqlite:///{scratch}/new-site/lrs.db")
    try:
        framework = find_framework(store, "digcomp-2.2")
        assert framework is not None
        status, _ = read_status(store, framework, ["account:https://sis.example.edu.vn|hs-0042"])
        achieved = {c.rsplit("/", 1)[-1] for c, s in status["competences"].items()
                    if s["state"] == "achieved"}
        assert achieved == {"1.1", "2.1"}
    finally:
        store.close()
