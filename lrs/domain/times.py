"""The stored-time format: UTC, milliseconds, ordered as text like the instants it names."""

from __future__ import annotations

from datetime import UTC, datetime


def format_stored(moment: datetime) -> str:
    """Stored times: UTC, millisecond precision, lexically ordered like the instants."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_stored(stored: str) -> datetime:
    return datetime.strptime(stored, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
