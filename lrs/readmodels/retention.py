"""The shapes of retention's admin API (lrs.ops.retention keeps and returns them), typed
once so the OpenAPI document is generated from them."""

from __future__ import annotations

from typing import (
    Literal,
    NotRequired,  # pydantic reads these on 3.11
)

from typing_extensions import TypedDict

from lrs.readmodels.types import Timestamp

DataClass = Literal["statements", "documents", "attachments", "access_log"]


class RetentionPolicy(TypedDict):
    """Data of `data_class` in organisation `org` ('*': the access log) older than `days`
    is deleted or anonymised; `projections` (statements): recompute or keep as facts."""

    id: str
    org: str
    data_class: DataClass
    action: Literal["delete", "anonymise"]
    days: int
    projections: Literal["recompute", "keep"]


class RetentionPolicies(TypedDict):
    policies: list[RetentionPolicy]


class LegalHold(TypedDict):
    """Nothing of the subject is removed or anonymised while the hold stands."""

    id: str
    subject_type: Literal["person", "learner", "org"]
    subject: str
    reason: str
    placed: NotRequired[Timestamp]
    placed_by: NotRequired[str]


class LegalHolds(TypedDict):
    holds: list[LegalHold]


class PolicyOutcome(TypedDict):
    policy: str
    matched: int  # older than the policy allows
    held: int  # of which a legal hold covers
    deleted: int
    anonymised: int
    attachments_deleted: int
    states_rebuilt: int


class RetentionRunResult(TypedDict):
    dry_run: bool
    at: Timestamp
    policies: list[PolicyOutcome]
    access_log_entry: int | None  # the entry recording the run (none for a dry run)
