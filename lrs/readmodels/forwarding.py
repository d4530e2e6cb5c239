"""What the forwarding admin API answers: rules with their delivery state, dead letters.

Typed here so the OpenAPI document (lrs.api.v1.openapi) is generated from the same shapes
the endpoints build (lrs.forwarding.rules)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict  # pydantic reads these on 3.11

from lrs.readmodels.types import Timestamp


class RuleMatch(TypedDict):
    """Every non-empty list must match (AND); any value in a list does (OR)."""

    orgs: list[str]
    verbs: list[str]
    activities: list[str]
    activity_prefixes: list[str]
    actors: list[str]
    categories: list[str]


class DestinationView(TypedDict):
    kind: Literal["xapi", "webhook"]
    url: str
    username: str | None
    secret: str  # only its last four characters, after an ellipsis


class DeliveryState(TypedDict):
    offset: int  # the log position delivered through
    lag: int  # log positions after it
    delivered: int
    failed: int  # failed attempts, all batches
    dead_letters: int  # statements given up on, kept for replay
    attempts: int  # failed attempts of the batch now being retried
    next_attempt: Timestamp | None
    last_error: str | None
    updated: Timestamp | None


class ForwardingRule(TypedDict):
    id: str
    name: str
    paused: bool
    batch: int
    max_attempts: int
    created: Timestamp
    match: RuleMatch
    destination: DestinationView
    state: DeliveryState
    # Only in the answer that created a webhook rule without a secret: the one it was given.
    secret: NotRequired[str]


class ForwardingRules(TypedDict):
    rules: list[ForwardingRule]


class DeadLetterView(TypedDict):
    offset: int
    statement_id: str
    attempts: int
    error: str
    at: Timestamp
    replay: bool
    statement: dict[str, Any]


class DeadLetterPage(TypedDict):
    dead_letters: list[DeadLetterView]
    more: int | None  # pass as `after` for the next page; null on the last


class ForwardingCount(TypedDict):
    """How many statements an action affects (replay, dead-letter replay)."""

    rule: str
    count: int
    offset: NotRequired[int]
