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
    processor_batch: int = 10_000  # statements a processor folds per store transaction (at most)
    processor_process: bool = True  # embedded: run the processors in a child process
    processor_wait: float = 0.1  # seconds a processor waits to fill a batch
    # embedded: the processors' process hands over to a fresh one once its memory grew by
    # this much (MiB) since its first large batch (consumers/runner.py); 0: never
    processor_max_growth_mib: int = 128
    kafka_partitions: int = 6
    kafka_session_timeout: float = 10.0
    # Put before every topic and consumer-group name, so that several LRSs (or tests) can
    # share one Kafka cluster: "prod." gives prod.xapi.statements and prod.lrs-processors.
    kafka_topic_prefix: str = ""
    # faust's processing_guarantee for `lrs process`: at_least_once (the default: the
    # processors' effects are made exactly once by the store's offsets and idempotent
    # folds) or exactly_once (Kafka transactions; benchmarks/PIPELINE.md has its cost).
    kafka_processing_guarantee: str = "at_least_once"
    kafka_lag_log_interval: float = 30.0  # `lrs process` logs its consumer lag this often (s)
    log_level: str = "info"
    base_url: str = ""  # public URL, used in authority homePage and `more` links
    # Limits (lrs/api/limits.py; each is also an `lrs serve` flag, e.g. --max-body-bytes).
    # Chosen far above anything the ADL conformance suite or a real LMS sends (its largest
    # bodies are a few KB; SCORM suspend data is 64,000 characters), low enough that one
    # request cannot take the server's memory; 0 switches a limit off.
    max_body_bytes: int = 16 * 1024 * 1024  # any request body -> 413
    max_batch: int = 10_000  # statements per POST -> 413
    max_attachment_bytes: int = 10 * 1024 * 1024  # one attachment part -> 413
    max_json_depth: int = 64  # nesting of statement JSON -> 400 (never above 250)
    max_string_length: int = 256 * 1024  # characters in one JSON string or key -> 413
    max_number: float = 1e18  # magnitude of a JSON number (integers also within int64) -> 400
    # Per-credential token bucket (lrs/api/ratelimit.py): requests per second, 0 = off.
    rate_limit: float = 0.0
    rate_burst: int = 100  # requests a credential may make at once before the rate applies
    # Timeouts, in seconds (lrs/api/timeouts.py), 0 = off.
    request_timeout: float = 60.0  # a request not answered in time -> 503
    header_timeout: float = 10.0  # a connection must send complete request headers in time
    keep_alive_timeout: float = 5.0  # an idle keep-alive connection is closed after this
    # Response headers (lrs/api/headers.py).
    cors_origins: str = "*"  # comma-separated origins allowed by CORS; "*" any, "" none
    hsts_max_age: int = 0  # Strict-Transport-Security max-age, 0 = not sent (set behind TLS)
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
        elif known[name] == "str" and isinstance(value, list):  # TOML lists, e.g. cors_origins
            values[name] = ",".join(str(item) for item in value)
    return replace(settings, **values)


# Settings that `lrs serve` also takes as flags (`--max-body-bytes N`, ...), with their help.
SERVE_FLAGS: dict[str, str] = {
    "max_body_bytes": "largest request body in bytes (default 16 MiB; 0 = no limit)",
    "max_batch": "most statements in one POST (default 10000)",
    "max_attachment_bytes": "largest attachment part in bytes (default 10 MiB)",
    "max_json_depth": "deepest nesting of statement JSON (default 64, at most 250)",
    "max_string_length": "longest JSON string or key in a statement, in characters (default 262144)",
    "max_number": "largest magnitude of a JSON number (default 1e18)",
    "rate_limit": "requests per second per credential (token bucket; default 0 = off)",
    "rate_burst": "requests a credential may send at once (default 100)",
    "request_timeout": "seconds before an unanswered request gets 503 (default 60; 0 = off)",
    "header_timeout": "seconds a connection has to send its request headers (default 10)",
    "keep_alive_timeout": "seconds an idle keep-alive connection stays open (default 5)",
    "cors_origins": "comma-separated origins CORS allows (default '*'; '' = none)",
    "hsts_max_age": "Strict-Transport-Security max-age in seconds (default 0 = not sent)",
}
