"""deploy/ stays in step with the code: no Docker engine or cluster is needed to check that
every service runs an `lrs` command the CLI accepts, every LRS_* variable is a setting, and
the example configuration loads. (Running the stack itself needs Docker; see deploy/README.)"""

from __future__ import annotations

import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from lrs.cli import build_parser
from lrs.config import Settings, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SETTINGS = {f.name for f in fields(Settings)}


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def kubernetes() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "kubernetes").rglob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return documents


def interpolated(value: str) -> str:
    """Compose's ${VAR:-default} with the defaults, and an example for required values."""
    return re.sub(r"\$\{(\w+)(?::?[-?]([^}]*))?\}", lambda m: m.group(2) or "x", value)


def parses(argv: list[str]) -> None:
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse reports a bad command line by exiting
        raise AssertionError(f"`lrs {' '.join(argv)}` is not a valid command line") from exc


def test_compose_has_every_part_of_the_scaled_out_mode() -> None:
    services = compose()["services"]
    kafka = services["kafka"]["environment"]
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}  # KRaft
    assert not any("zookeeper" in name for name in services)
    members = [name for name in services if re.fullmatch(r"mongo\d", name)]
    assert len(members) == 3
    for name in members:
        assert "--replSet" in services[name]["command"]
    assert "--no-processors" in services["api"]["command"]
    assert services["processors"]["command"] == ["process"]
    assert "nginx" in services["lb"]["image"]
    connector = services["connector-moodle"]["command"]
    assert connector[:2] == ["connect", "moodle"]
    assert "kafka://kafka:9092" in connector


@pytest.mark.parametrize("service", ["api", "processors", "connector-moodle"])
def test_compose_commands_are_ones_the_cli_accepts(service: str) -> None:
    command = compose()["services"][service]["command"]
    parses([interpolated(str(part)) for part in command])


def test_kubernetes_commands_are_ones_the_cli_accepts() -> None:
    lrs_containers = [
        container
        for document in kubernetes()
        if document.get("kind") == "Deployment"
        for container in document["spec"]["template"]["spec"]["containers"]
        if container["image"].split(":")[0].endswith("lrs")
    ]
    assert len(lrs_containers) >= 2  # the API and the processors
    for container in lrs_containers:
        parses(container["args"])


def test_every_lrs_variable_is_a_setting() -> None:
    variables: set[str] = set()
    template = compose()["x-lrs-service"]
    variables |= set(template["environment"])
    for document in kubernetes():
        if document.get("kind") in ("ConfigMap", "Secret"):
            variables |= set(document.get("data") or {}) | set(document.get("stringData") or {})
    for line in (DEPLOY / "kubernetes" / "secrets.env.example").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            variables.add(line.split("=", 1)[0].strip())
    lrs_variables = {v for v in variables if v.startswith("LRS_")}
    assert {"LRS_STORE", "LRS_BUS"} <= lrs_variables
    unknown = {v for v in lrs_variables if v.removeprefix("LRS_").lower() not in SETTINGS}
    assert not unknown, f"not settings of lrs/config.py: {sorted(unknown)}"


def test_kubernetes_documents_are_complete_and_kustomization_lists_real_files() -> None:
    for document in kubernetes():
        assert document.get("apiVersion") and document.get("kind"), document
        if document["kind"] != "Kustomization":
            assert document["metadata"]["name"]
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (DEPLOY / "kubernetes" / resource).is_file(), resource


def test_the_example_configuration_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LRS_"):
            monkeypatch.delenv(name)
    settings = load_settings(str(DEPLOY / "example.toml"))
    assert settings.processors is False  # what the file says, so the file was read
