"""Forwarding rules from requests, and what the admin API and the CLI answer about them.

One module for both entrances, so a rule made with `lrs forwarding add` and one POSTed to
/api/v1/forwarding/rules are validated alike. Bad input raises ValidationError naming the
field (`match.verbs[1]`, `destination.url`) and changes nothing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlsplit

import orjson

from lrs.domain.forwarding import KINDS, DeadLetter, Destination, ForwardRule, ForwardState, Match
from lrs.domain.times import format_stored
from lrs.forwarding.signing import new_secret
from lrs.ports import Store
from lrs.readmodels.forwarding import (
    DeadLetterPage,
    DeadLetterView,
    DeliveryState,
    ForwardingCount,
    ForwardingRule,
    RuleMatch,
)
from lrs.xapi.agent_keys import normalise_key
from lrs.xapi.errors import NotFound, ValidationError
from lrs.xapi.time import parse_timestamp

MATCH_FIELDS = ("orgs", "verbs", "activities", "activity_prefixes", "actors", "categories")
RULE_FIELDS = frozenset({"name", "match", "destination", "batch", "max_attempts", "paused"})
DESTINATION_FIELDS = frozenset({"kind", "url", "username", "password", "secret"})
MAX_BATCH = 1000
MAX_ATTEMPTS = 100
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{field} must be a JSON object", field)
    return value


def _text(value: Any, field: str, limit: int = 2048) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string", field)
    if len(value) > limit:
        raise ValidationError(f"{field} is longer than {limit} characters", field)
    return value


def _integer(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{field} must be a whole number from {low} to {high}", field)
    return value


def _unknown(body: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    for name in sorted(set(body) - allowed):
        field = f"{where}.{name}" if where else name
        raise ValidationError(
            f"{field} is not a rule property (allowed: {', '.join(sorted(allowed))})", field
        )


def parse_match(value: Any) -> Match:
    body = _object(value, "match")
    _unknown(body, frozenset(MATCH_FIELDS), "match")
    found: dict[str, tuple[str, ...]] = {}
    for name in MATCH_FIELDS:
        items = body.get(name, [])
        if not isinstance(items, list) or len(items) > 1000:
            raise ValidationError(
                f"match.{name} must be a list of strings (at most 1000)", f"match.{name}"
            )
        texts = [_text(item, f"match.{name}[{i}]") for i, item in enumerate(items)]
        if name == "actors":
            texts = [_actor(text, f"match.actors[{i}]") for i, text in enumerate(texts)]
        found[name] = tuple(dict.fromkeys(texts))
    return Match(**found)


def _actor(text: str, field: str) -> str:
    if not text.startswith(("mbox:", "mbox_sha1sum:", "openid:", "account:")):
        raise ValidationError(
            f"{field} must be a learner key: mbox:mailto:..., mbox_sha1sum:<hex>, "
            "openid:<uri> or account:<homePage>|<name>",
            field,
        )
    return normalise_key(text)


def _url(value: Any) -> str:
    url = _text(value, "destination.url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            "destination.url must be an http:// or https:// URL", "destination.url"
        )
    if parts.username or parts.password:
        raise ValidationError(
            "destination.url must not hold credentials: give username and password",
            "destination.url",
        )
    return url


def parse_destination(value: Any, existing: Destination | None) -> tuple[Destination, str | None]:
    """The destination, and the signing secret when one was generated for it."""
    body = _object(value, "destination")
    _unknown(body, DESTINATION_FIELDS, "destination")
    kind = body.get("kind")
    if kind not in KINDS:
        raise ValidationError(
            f"destination.kind must be one of {', '.join(KINDS)}", "destination.kind"
        )
    url = _url(body.get("url"))
    kept = existing.secret if existing is not None and existing.kind == kind else None
    if kind == "xapi":
        if "secret" in body:
            raise ValidationError(
                "destination.secret is for webhooks; an xAPI destination takes a password",
                "destination.secret",
            )
        username = _text(body.get("username"), "destination.username", 256)
        if ":" in username:
            raise ValidationError(
                "destination.username must not contain ':'", "destination.username"
            )
        password = body.get("password")
        if password is None and kept is not None:
            return Destination(kind, url, kept, username), None
        return Destination(kind, url, _text(password, "destination.password", 1024), username), None
    for name in ("username", "password"):
        if name in body:
            raise ValidationError(
                f"destination.{name} is for xAPI destinations; a webhook takes a secret",
                f"destination.{name}",
            )
    secret = body.get("secret")
    if secret is None:
        if kept is not None:
            return Destination(kind, url, kept), None
        generated = new_secret()
        return Destination(kind, url, generated), generated
    secret = _text(secret, "destination.secret", 1024)
    if len(secret) < 16:
        raise ValidationError(
            "destination.secret must be at least 16 characters (or leave it out to get one)",
            "destination.secret",
        )
    return Destination(kind, url, secret), None


def parse_rule(
    value: Any, *, rule_id: str, created: str, existing: ForwardRule | None = None
) -> tuple[ForwardRule, str | None]:
    """A whole rule from a request body (create, or replace `existing`)."""
    body = _object(value, "body")
    _unknown(body, RULE_FIELDS, "")
    destination, generated = parse_destination(
        body.get("destination"), None if existing is None else existing.destination
    )
    paused = body.get("paused", existing.paused if existing is not None else False)
    if not isinstance(paused, bool):
        raise ValidationError("paused must be true or false", "paused")
    rule = ForwardRule(
        id=rule_id,
        name=_text(body.get("name"), "name", 200),
        match=parse_match(body.get("match", {})),
        destination=destination,
        paused=paused,
        batch=_integer(body.get("batch", 100), "batch", 1, MAX_BATCH),
        max_attempts=_integer(body.get("max_attempts", 8), "max_attempts", 1, MAX_ATTEMPTS),
        created=created,
    )
    return rule, generated


def parse_since(value: Any, field: str = "since") -> str:
    """A date (midnight UTC) or an xAPI timestamp, in the stored form."""
    text = _text(value, field, 64)
    if _DATE.match(text):
        text += "T00:00:00Z"
    try:
        return format_stored(parse_timestamp(text, "2.0.0", field))
    except ValidationError:
        raise ValidationError(
            f"{field} must be a date (2026-01-31) or a time with its zone (2026-01-31T08:00:00Z)",
            field,
        ) from None


def masked(secret: str) -> str:
    return "…" + secret[-4:] if len(secret) >= 12 else "…"


def _time(seconds: float) -> str | None:
    return format_stored(datetime.fromtimestamp(seconds, UTC)) if seconds else None


def state_view(state: ForwardState, log_end: int) -> DeliveryState:
    return {
        "offset": state.offset,
        "lag": max(log_end - state.offset, 0),
        "delivered": state.delivered,
        "failed": state.failed,
        "dead_letters": state.dead,
        "attempts": state.attempts,
        "next_attempt": _time(state.next_attempt) if state.attempts else None,
        "last_error": state.last_error,
        "updated": state.updated,
    }


def rule_view(rule: ForwardRule, state: ForwardState, log_end: int) -> ForwardingRule:
    match = cast(RuleMatch, {name: list(getattr(rule.match, name)) for name in MATCH_FIELDS})
    destination = rule.destination
    return {
        "id": rule.id,
        "name": rule.name,
        "paused": rule.paused,
        "batch": rule.batch,
        "max_attempts": rule.max_attempts,
        "created": rule.created,
        "match": match,
        "destination": {
            "kind": cast(Any, destination.kind),
            "url": destination.url,
            "username": destination.username,
            "secret": masked(destination.secret),
        },
        "state": state_view(state, log_end),
    }


def dead_letter_view(letter: DeadLetter) -> DeadLetterView:
    return {
        "offset": letter.offset,
        "statement_id": letter.statement_id,
        "attempts": letter.attempts,
        "error": letter.error,
        "at": letter.at,
        "replay": letter.replay,
        "statement": orjson.loads(letter.data),
    }


# ------------------------------------------------------------------ operations (API and CLI)


def _now() -> str:
    return format_stored(datetime.now(UTC))


def get_rule(store: Store, rule_id: str) -> ForwardRule:
    rule = store.get_forward_rule(rule_id)
    if rule is None:
        raise NotFound(
            f"no forwarding rule {rule_id!r}; list them with GET /api/v1/forwarding/rules", "rule"
        )
    return rule


def show_rule(store: Store, rule_id: str) -> ForwardingRule:
    return rule_view(get_rule(store, rule_id), store.forward_state(rule_id), store.log_end())


def list_rules(store: Store) -> list[ForwardingRule]:
    end = store.log_end()
    return [rule_view(r, store.forward_state(r.id), end) for r in store.list_forward_rules()]


def create_rule(store: Store, body: Any, *, from_start: bool = False) -> ForwardingRule:
    """A new rule. It starts at the end of the log (statements stored from now on), unless
    `from_start` (or replay later from a date): forwarding a whole history is a choice."""
    rule, generated = parse_rule(body, rule_id=uuid.uuid4().hex, created=_now())
    if not from_start:
        store.rewind_forwarding(rule.id, store.log_end())
    store.save_forward_rule(rule)
    view = show_rule(store, rule.id)
    if generated is not None:
        view["secret"] = generated
    return view


def replace_rule(store: Store, rule_id: str, body: Any) -> ForwardingRule:
    existing = get_rule(store, rule_id)
    rule, generated = parse_rule(body, rule_id=rule_id, created=existing.created, existing=existing)
    store.save_forward_rule(rule)
    view = show_rule(store, rule_id)
    if generated is not None:
        view["secret"] = generated
    return view


def delete_rule(store: Store, rule_id: str) -> None:
    if not store.delete_forward_rule(rule_id):
        get_rule(store, rule_id)  # raises NotFound


def set_paused(store: Store, rule_id: str, paused: bool) -> ForwardingRule:
    store.save_forward_rule(replace(get_rule(store, rule_id), paused=paused))
    return show_rule(store, rule_id)


def replay_since(store: Store, rule_id: str, since: Any) -> ForwardingCount:
    """Send again every matching statement stored at or after `since`: the rule's offset
    moves back to the statement stored last before it. `count` is how many log positions
    the forwarder will read again (it sends those the rule matches)."""
    get_rule(store, rule_id)
    offset = store.log_offset_before(parse_since(since))
    store.rewind_forwarding(rule_id, offset)
    return {"rule": rule_id, "count": max(store.log_end() - offset, 0), "offset": offset}


def replay_dead_letters(store: Store, rule_id: str, offsets: Any) -> ForwardingCount:
    """Mark dead letters for the forwarder to send again: `offsets` a list, None for all."""
    get_rule(store, rule_id)
    if offsets is not None and (
        not isinstance(offsets, list)
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
    ):
        raise ValidationError("offsets must be a list of dead-letter offsets", "offsets")
    return {"rule": rule_id, "count": store.mark_dead_letters_for_replay(rule_id, offsets)}


def dead_letter_page(store: Store, rule_id: str, after: int, limit: int) -> DeadLetterPage:
    get_rule(store, rule_id)
    letters = store.list_dead_letters(rule_id, after, limit + 1)
    more = letters[limit - 1].offset if len(letters) > limit else None
    return {"dead_letters": [dead_letter_view(x) for x in letters[:limit]], "more": more}
