"""Settings: defaults, then a TOML file, then `LRS_*` environment variables, then flags.

Every value is checked against its field's type and range when it is read, so that a typo
(`LRS_PROCESSORS=flase`, `LRS_PORT=abc`) stops the command with one line naming the
setting as the user wrote it, the value and what is allowed, instead of silently switching
something off or failing later with a traceback.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import field, fields
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from annotated_types import Ge, Gt, Le
from pydantic import BeforeValidator, ConfigDict, ValidationError
from pydantic.dataclasses import dataclass

from lrs.domain.records import ROLES

log = logging.getLogger(__name__)

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
# `LRS_*` variables read elsewhere (secrets kept out of files and flags), not settings.
OTHER_VARIABLES = frozenset(
    {
        "LRS_CONFIG",
        "LRS_AUDIT_SECRET",
        "LRS_IDENTITY_SECRET",
        "LRS_FORWARD_SECRET",
        "LRS_SESSION_SECRET",
    }
)


class SettingsError(ValueError):
    """A setting has a value outside what it allows; the message is meant for the user."""


def _switch(value: Any) -> Any:
    """Only the words people mean as yes or no: anything else is a typo, not `false`."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError("not a yes/no word")
    if isinstance(value, bool):
        return value
    raise ValueError("not a boolean")


def _joined(value: Any) -> Any:
    """TOML lists (e.g. cors_origins = ["https://a", "https://b"]) as the comma form."""
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _url_of(*schemes: str, empty: bool = False) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, str) and ((empty and value == "") or value.startswith(schemes)):
            return value
        raise ValueError("unknown scheme")

    return check


Switch = Annotated[bool, BeforeValidator(_switch)]
Text = Annotated[str, BeforeValidator(_joined)]
Port = Annotated[int, Ge(0), Le(65535)]
Count = Annotated[int, Ge(0)]  # 0 means "off" or "never" where a comment says so
Positive = Annotated[int, Ge(1)]
Seconds = Annotated[float, Ge(0)]
Level = Annotated[
    Literal["critical", "error", "warning", "info", "debug"], BeforeValidator(_lower)
]
StoreURL = Annotated[
    str, BeforeValidator(_url_of("sqlite://", "mongodb://", "mongodb+srv://", empty=True))
]
BusURL = Annotated[str, BeforeValidator(lambda v: v if v == "local" else _url_of("kafka://")(v))]

# What each kind of field accepts, in the words of an error message.
_WORDS: dict[str, str] = {
    "store": "'' (sqlite in --data), sqlite:///path, mongodb://... or mongodb+srv://...",
    "bus": "local or kafka://host:port[,host:port]",
    "oidc_issuers": "a list of [[lrs.oidc_issuers]] tables (or, in LRS_OIDC_ISSUERS, a JSON "
    "list of objects), each with issuer and audience (lrs/config.py, OidcIssuer)",
}

_LOOPBACK = ("127.0.0.1", "::1", "localhost")
# Asymmetric algorithms only: an HMAC (HS*) issuer would share its secret with the LRS, and
# allowing HS* next to RS* is the classic downgrade (the public key used as the secret).
SigningAlg = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


def _issuer_url(value: Any) -> Any:
    """https, or http on loopback only (a local test issuer): keys must not travel in clear."""
    if not isinstance(value, str):
        raise ValueError("not a URL")
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return value
    raise ValueError("use https:// (http:// only on loopback)")


def _words_tuple(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


def _pairs(value: Any) -> Any:
    """A TOML table {"xapi.read": ["statements/read"]} as a tuple of pairs (hashable)."""
    if isinstance(value, dict):
        return tuple((k, _words_tuple(v)) for k, v in value.items())
    return value


def _role(value: Any) -> Any:
    if value == "" or value in ROLES:
        return value
    raise ValueError(f"one of {', '.join(ROLES)} (or '' for: by the scopes)")


def _roles(value: Any) -> Any:
    value = _words_tuple(value)
    if isinstance(value, list | tuple) and all(v in ROLES for v in value):
        return tuple(value)
    raise ValueError(f"roles from {', '.join(ROLES)}")


@dataclass(frozen=True, config=ConfigDict(allow_inf_nan=False, extra="forbid"))
class OidcIssuer:
    """One OpenID Connect issuer whose bearer JWTs are accepted as credentials (lrs.oidc).

    The claims map to a credential: `scopes_claim` (space-separated or a list) through
    `scope_map` (an issuer scope -> LRS scopes; empty: the claim's words are LRS scope
    names, unknown words ignored), `role_claim` (a word of it that is in `roles`; else
    `role`), `org_claim` (else `org`; else the default organisation). Dotted claim names
    reach into objects (`realm_access.roles`).
    """

    issuer: Annotated[str, BeforeValidator(_issuer_url)]
    audience: Annotated[tuple[str, ...], BeforeValidator(_words_tuple)]
    algorithms: Annotated[tuple[SigningAlg, ...], BeforeValidator(_words_tuple)] = ("RS256", "ES256")
    label: str = ""  # in credential keys, oidc:<label>:<sub>; default: the issuer's host
    jwks_uri: Annotated[str, BeforeValidator(lambda v: v and _issuer_url(v))] = ""  # else discovery
    scopes_claim: str = "scope"
    scope_map: Annotated[tuple[tuple[str, tuple[str, ...]], ...], BeforeValidator(_pairs)] = ()
    role_claim: str = ""
    role: Annotated[str, BeforeValidator(_role)] = "platform"
    roles: Annotated[tuple[str, ...], BeforeValidator(_roles)] = ("platform",)
    org_claim: str = ""
    org: str = ""
    clock_skew: Annotated[float, Ge(0), Le(600)] = 60.0  # seconds allowed on exp, nbf, iat
    jwks_max_age: Annotated[float, Gt(0)] = 3600.0  # seconds the key set is trusted
    jwks_min_refetch: Annotated[float, Ge(0)] = 60.0  # unknown kid: refetch at most this often

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", urlsplit(self.issuer).netloc)

    @property
    def scopes_for(self) -> dict[str, tuple[str, ...]]:
        return dict(self.scope_map)


def _issuers(value: Any) -> Any:
    """TOML gives a list of tables; an environment variable gives JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            raise ValueError("not JSON") from None
    if isinstance(value, dict):
        value = [value]
    return value


@dataclass(frozen=True, config=ConfigDict(allow_inf_nan=False))
class Settings:
    host: str = "127.0.0.1"
    port: Port = 8000
    data: str = "./lrs-data"
    store: StoreURL = ""  # LRS_STORE; default sqlite:///<data>/lrs.db
    bus: BusURL = "local"  # LRS_BUS: local or kafka://host:port
    processors: Switch = True  # run the stream processors in this process (embedded mode)
    processor_batch: Positive = 10_000  # statements a processor folds per store transaction
    processor_process: Switch = True  # embedded: run the processors in a child process
    processor_wait: Seconds = 0.1  # seconds a processor waits to fill a batch
    # embedded: the processors' process hands over to a fresh one once its memory grew by
    # this much (MiB) since its first large batch (consumers/runtime/local.py); 0: never
    processor_max_growth_mib: Count = 128
    kafka_partitions: Positive = 6
    kafka_session_timeout: Annotated[float, Gt(0)] = 10.0
    # Put before every topic and consumer-group name, so that several LRSs (or tests) can
    # share one Kafka cluster: "prod." gives prod.xapi.statements and prod.lrs-processors.
    kafka_topic_prefix: str = ""
    # faust's processing_guarantee for `lrs process`: at_least_once (the default: the
    # processors' effects are made exactly once by the store's offsets and idempotent
    # folds) or exactly_once (Kafka transactions; benchmarks/PIPELINE.md has its cost).
    kafka_processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    # `lrs process` logs its consumer lag this often (s)
    kafka_lag_log_interval: Annotated[float, Gt(0)] = 30.0
    log_level: Level = "info"
    # `lrs serve`: one line per HTTP request (uvicorn's access log, credentials redacted as
    # in every line: lrs/api/redact.py), and text or one JSON object per line
    # (lrs/api/logformat.py) for every line it logs.
    access_log: Switch = False
    log_format: Literal["text", "json"] = "text"
    base_url: str = ""  # public URL, used in authority homePage and `more` links
    # Limits (lrs/api/limits.py; each is also an `lrs serve` flag, e.g. --max-body-bytes).
    # Chosen far above anything the ADL conformance suite or a real LMS sends (its largest
    # bodies are a few KB; SCORM suspend data is 64,000 characters), low enough that one
    # request cannot take the server's memory; 0 switches a limit off.
    max_body_bytes: Count = 16 * 1024 * 1024  # any request body -> 413
    max_batch: Count = 10_000  # statements per POST -> 413
    max_attachment_bytes: Count = 10 * 1024 * 1024  # one attachment part -> 413
    # nesting of statement JSON -> 400; orjson writes no deeper than 250 (0: that limit)
    max_json_depth: Annotated[int, Ge(0), Le(250)] = 64
    max_string_length: Count = 256 * 1024  # characters in one JSON string or key -> 413
    max_number: Annotated[float, Ge(0)] = 1e18  # magnitude of a JSON number -> 400
    # Per-credential token bucket (lrs/api/ratelimit.py): requests per second, 0 = off.
    rate_limit: Annotated[float, Ge(0)] = 0.0
    rate_burst: Positive = 100  # requests a credential may make at once before the rate
    # Timeouts, in seconds (lrs/api/timeouts.py), 0 = off.
    request_timeout: Seconds = 60.0  # a request not answered in time -> 503
    header_timeout: Seconds = 10.0  # a connection must send complete request headers in time
    keep_alive_timeout: Seconds = 5.0  # an idle keep-alive connection is closed after this
    # Response headers (lrs/api/headers.py).
    cors_origins: Text = "*"  # comma-separated origins allowed by CORS; "*" any, "" none
    hsts_max_age: Count = 0  # Strict-Transport-Security max-age, 0 = not sent (behind TLS)
    page_size: Positive = 100  # statements per page when the client asks for limit=0
    # The version named in answers to requests that name none (they are refused anyway).
    # xAPI says "the latest version": 2.0.0, or 1.0.3 for a deployment serving 1.0.x clients.
    default_xapi_version: Literal["2.0.0", "1.0.3"] = "2.0.0"
    # Bearer JWTs from these OpenID Connect issuers are credentials too (lrs/oidc.py).
    oidc_issuers: Annotated[tuple[OidcIssuer, ...], BeforeValidator(_issuers)] = field(
        default_factory=tuple
    )
    # Retention (lrs/ops/retention.py): the processors apply the policies this often
    # (seconds; 0 = only `lrs retention run`), and access-log entries are never removed
    # younger than this many days, whatever a policy says (the legal minimum).
    retention_interval: Seconds = 86_400.0
    retention_access_log_min_days: Positive = 365
    # A PUT that creates a new Activity or Agent Profile without If-Match or If-None-Match:
    # xAPI asks for 409 only when the document exists, and 1.0.x clients (the `tincan`
    # package, older SCORM-to-xAPI content) cannot send If-None-Match, so it is accepted.
    # ADL's 1.0.3 conformance suite goes further and expects 400 (XAPI-00273); `true` does
    # that for 1.0.x requests (scripts/conformance.py sets it).
    strict_profile_put: Switch = False

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite:///{Path(self.data).resolve() / 'lrs.db'}"

    @property
    def public_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"


NAMES: tuple[str, ...] = tuple(f.name for f in fields(Settings))


@cache
def _hint(name: str) -> tuple[type, tuple[Any, ...]]:
    """The field's base type and its constraints (Annotated metadata)."""
    hint = get_type_hints(Settings, include_extras=True)[name]
    if get_origin(hint) is Annotated:
        base, *extras = get_args(hint)
        return base, tuple(extras)
    return hint, ()


def value_type(name: str) -> type:
    """int, float, bool or str: what an `lrs serve` flag for the setting parses."""
    base, _ = _hint(name)
    return base if base in (int, float, bool) else str


def allowed(name: str) -> str:
    """What a setting accepts, as the end of an error message."""
    if name in _WORDS:
        return _WORDS[name]
    base, extras = _hint(name)
    if get_origin(base) is Literal:
        return "one of " + ", ".join(str(choice) for choice in get_args(base))
    if base is bool:
        words = (word for pair in zip(TRUE_WORDS, FALSE_WORDS, strict=True) for word in pair)
        return "one of " + "/".join(words)
    if base is str:
        return "text"
    kind = {int: "an integer", float: "a number"}[base]
    low = next((f"{e.ge:g}" for e in extras if isinstance(e, Ge)), None)
    above = next((f"{e.gt:g}" for e in extras if isinstance(e, Gt)), None)
    high = next((f"{e.le:g}" for e in extras if isinstance(e, Le)), None)
    if low is not None and high is not None:
        return f"{kind} from {low} to {high}"
    if above is not None:
        return f"{kind} above {above}"
    return f"{kind} of at least {low}" if low is not None else kind


def load_settings(
    config_file: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] = log.warning,
    flags: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Settings from the layers, each value checked; raises `SettingsError` naming the bad one.

    `flags` names the flag a caller read each override from (`port` -> `--port`), so the
    message says what the user typed. Unknown `LRS_*` variables are passed to `warn`: a
    misspelt variable would otherwise be ignored without a word.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    path = config_file or env.get("LRS_CONFIG")
    if path:
        try:
            with open(path, "rb") as handle:
                table = tomllib.load(handle).get("lrs", {})
        except OSError as exc:
            raise SettingsError(f"cannot read the settings file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path} is not TOML: {exc}") from None
        if not isinstance(table, dict):
            raise SettingsError(f"{path}: [lrs] must be a table of settings")
        unknown = sorted(set(table) - set(NAMES))
        if unknown:
            raise SettingsError(
                f"{path} [lrs]: unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(NAMES)}"
            )
        values.update(table)
        origin.update({name: f"{path} [lrs] {name}" for name in table})
    for variable, value in env.items():
        if not variable.startswith("LRS_") or variable in OTHER_VARIABLES:
            continue
        name = variable.removeprefix("LRS_").lower()
        if name in NAMES:
            values[name] = value
            origin[name] = variable
        else:
            known = ["LRS_" + known.upper() for known in NAMES]
            close = difflib.get_close_matches(variable, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warn(f"{variable} is not a setting and is ignored{hint}")
    unknown = sorted(set(overrides) - set(NAMES))
    if unknown:  # a caller's mistake, not a user's
        raise TypeError(f"unknown setting(s): {', '.join(unknown)}")
    for name, value in overrides.items():
        if value is not None:
            values[name] = value
            origin[name] = (flags or {}).get(name, name)
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0])
            bad: object = values.get(name)
            if isinstance(bad, float) and not math.isfinite(bad):
                bad = str(bad)
            if len(error["loc"]) > 1:  # inside a table (an OIDC issuer): name the entry
                where = ".".join(str(step) for step in error["loc"][1:])
                problems.append(
                    f"{origin.get(name, name)}: {where}: {error['msg']} (value {error.get('input')!r})"
                )
                continue
            problems.append(f"{origin.get(name, name)}={bad!r}: must be {allowed(name)}")
        raise SettingsError("\n".join(problems)) from None


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
