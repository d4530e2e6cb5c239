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
from lrs.config import OTHER_VARIABLES, Settings, load_settings

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
    unknown = {
        v
        for v in lrs_variables
        if v.removeprefix("LRS_").lower() not in SETTINGS and v not in OTHER_VARIABLES
    }
    assert not unknown, f"not settings of lrs/config.py: {sorted(unknown)}"


def _secrets_env() -> dict[str, str]:
    lines = (DEPLOY / "kubernetes" / "secrets.env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def _configmap() -> dict[str, str]:
    (found,) = [d for d in kubernetes() if d.get("kind") == "ConfigMap" and "LRS_BUS" in d["data"]]
    data: dict[str, str] = found["data"]
    return data


def test_every_secret_a_multi_process_deployment_needs_is_set() -> None:
    """README: LRS_AUDIT_SECRET wherever several processes share a store (the access log's
    pseudonyms would otherwise differ from process to process)."""
    environment = compose()["x-lrs-service"]["environment"]
    assert "LRS_AUDIT_SECRET" in environment and ":?" in environment["LRS_AUDIT_SECRET"]
    example = (DEPLOY / "example.env").read_text()
    assert "LRS_AUDIT_SECRET=CHANGE_ME_AUDIT" in example
    assert "CHANGE_ME_AUDIT" in (DEPLOY / "README.md").read_text()  # the sed that replaces it
    assert "LRS_AUDIT_SECRET" in _secrets_env()


def _bytes(size: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    return int(size[:-1]) * units[size[-1].lower()] if size[-1].lower() in units else int(size)


def test_the_proxies_body_limit_is_the_lrs_one() -> None:
    nginx = re.search(r"client_max_body_size\s+(\w+);", (DEPLOY / "nginx.conf").read_text())
    assert nginx is not None
    ingress = next(d for d in kubernetes() if d.get("kind") == "Ingress")
    proxy = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    compose_limit = int(compose()["x-lrs-service"]["environment"]["LRS_MAX_BODY_BYTES"])
    assert _bytes(nginx.group(1)) == compose_limit
    assert _bytes(proxy) == int(_configmap()["LRS_MAX_BODY_BYTES"])


def test_the_image_declares_its_volume_and_installs_the_pinned_versions() -> None:
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    assert 'VOLUME ["/var/lib/lrs"]' in dockerfile
    assert "mkdir -p /var/lib/lrs/checkpoints" in dockerfile and "chown -R 10001:10001" in dockerfile
    assert "pip install -c constraints.txt" in dockerfile and "constraints.txt ./" in dockerfile
    mounts = compose()["services"]["connector-moodle"]["volumes"]
    assert any(m.endswith(":/var/lib/lrs/checkpoints") for m in mounts)


def test_installs_use_the_constraints_file_and_it_pins_every_dependency() -> None:
    root = DEPLOY.parent
    for script in ("scripts/test", "scripts/serve"):
        assert "-c constraints.txt" in (root / script).read_text(), script
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (root / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    assert {"faust-streaming", "starlette", "uvicorn", "pymongo", "kafka-python"} <= pinned
    project = (root / "pyproject.toml").read_text()
    assert '"faust-streaming>=0.15,<0.16"' in project  # the transport subclasses its internals


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
