"""Statement forwarding as plain data: rules, where they send, how far each got, and the
statements given up on (dead letters). Shared by the forwarding port, its adapters and
lrs.forwarding, so no adapter defines a shape of its own."""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("xapi", "webhook")


@dataclass(frozen=True)
class Match:
    """Which stored statements a rule sends. Every non-empty criterion must hold (AND); a
    criterion holds when any of its values does (OR). An empty Match takes everything.

    `categories` are context.contextActivities.category ids: the xAPI way to name the
    profile (or any other category) a statement follows.
    """

    orgs: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    activities: tuple[str, ...] = ()
    activity_prefixes: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()  # learner keys (lrs.xapi.agent_keys.agent_key)
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Destination:
    """`xapi`: another LRS (its endpoint, e.g. https://lrs.example/xapi, and Basic
    credentials `username` / `secret`). `webhook`: a URL receiving JSON signed with
    HMAC-SHA256 under `secret` (lrs.forwarding.signing)."""

    kind: str
    url: str
    secret: str
    username: str | None = None


@dataclass(frozen=True)
class ForwardRule:
    id: str
    name: str
    match: Match
    destination: Destination
    paused: bool = False
    batch: int = 100  # statements per request at most
    max_attempts: int = 8  # failed tries of one batch before it goes to the dead letters
    created: str = ""


@dataclass(frozen=True)
class ForwardState:
    """Where a rule's forwarder stands: the log offset delivered through, its counters and
    the failing batch's retry schedule (attempts so far, not before `next_attempt`,
    seconds since the epoch)."""

    rule_id: str
    offset: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    attempts: int = 0
    next_attempt: float = 0.0
    last_error: str | None = None
    updated: str | None = None


@dataclass(frozen=True)
class DeadLetter:
    """A statement a rule gave up delivering after `attempts` failed tries; `replay` marks it
    for the forwarder to send again (ahead of the log)."""

    rule_id: str
    offset: int  # its place in the log: one dead letter per rule and statement
    statement_id: str
    data: bytes = field(repr=False)
    attempts: int
    error: str
    at: str
    replay: bool = False
