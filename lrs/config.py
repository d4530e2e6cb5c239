"""Settings: defaults, then a TOML file, then `LRS_*` environment variables, then flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data: str = "./lrs-data"
    store: str = ""  # LRS_STORE; default sqlite:///<data>/lrs.db
    bus: str = "local"  # LRS_BUS: local or kafka://host:port
    processors: bool = True  # run the stream processors in this process (embedded mode)
    processor_batch: int = 1000  # statements a processor folds per store transaction
    processor_process: bool = True  # embedded: run the processors in a child process
    processor_wait: float = 0.1  # seconds a processor waits to fill a batch
    kafka_partitions: int = 6
    kafka_session_timeout: float = 10.0
    log_level: str = "info"
    base_url: str = ""  # public URL, used in authority homePage and `more` links
    max_body_bytes: int = 64 * 1024 * 1024
    max_batch: int = 10_000
    page_size: int = 100  # statements per page when the client asks for limit=0
    # The version named in answers to requests that name none (they are refused anyway).
    # xAPI says "the latest version": 2.0.0, or 1.0.3 for a deployment serving 1.0.x clients.
    default_xapi_version: str = "2.0.0"

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite:///{Path(self.data).resolve() / 'lrs.db'}"

    @property
    def public_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    settings = Settings()
    values: dict[str, Any] = {}
    path = config_file or os.environ.get("LRS_CONFIG")
    if path:
        with open(path, "rb") as handle:
            values.update(tomllib.load(handle).get("lrs", {}))
    for f in fields(Settings):
        env = os.environ.get("LRS_" + f.name.upper())
        if env is not None:
            values[f.name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name: f.type for f in fields(Settings)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    for name, value in list(values.items()):
        if known[name] == "int" and not isinstance(value, int):
            values[name] = int(value)
        elif known[name] == "float" and not isinstance(value, float):
            values[name] = float(value)
        elif known[name] == "bool" and isinstance(value, str):
            values[name] = value.strip().lower() in ("1", "true", "yes", "on")
    return replace(settings, **values)
