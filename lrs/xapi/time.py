"""Timestamps as xAPI defines them: ISO 8601 under 1.0.x, RFC 3339 under 2.0.

Parsing lives here, apart from statement validation, because the store, the query
parameters (`since`, `until`) and the statement validator must all agree on one reading
of a timestamp, and because the two versions disagree on what is acceptable.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from lrs.xapi.errors import ValidationError

__all__ = [
    "duration_seconds",
    "format_timestamp",
    "is_v2",
    "normalize_timestamp",
    "parse_timestamp",
]

# An ISO 8601:2004 offset. Strictly, +hhmm belongs to the basic format only, but common
# clients (Java's "Z" pattern) pair it with extended dates, so either spelling is taken.
_ISO_OFFSET = r"(?P<offset>Z|(?P<sign>[+-])(?P<oh>[0-9]{2})(?::?(?P<om>[0-9]{2}))?)?"
# ISO 8601:2004 date-time, calendar date, extended format, reduced precision allowed down
# to the hour; the offset may be absent (1.0.3 only says a timestamp SHOULD carry one).
_ISO_EXTENDED = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2})(?::(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})"
    r"(?:[.,](?P<fraction>[0-9]+))?)?)?" + _ISO_OFFSET,
    re.ASCII,
)
# The same in basic format (no separators), which ISO 8601 treats as equally valid.
_ISO_BASIC = re.compile(
    r"(?P<year>[0-9]{4})(?P<month>[0-9]{2})(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2})(?:(?P<minute>[0-9]{2})(?:(?P<second>[0-9]{2})"
    r"(?:[.,](?P<fraction>[0-9]+))?)?)?" + _ISO_OFFSET,
    re.ASCII,
)
# RFC 3339 section 5.6 date-time: full precision to the second, offset required.
_RFC3339 = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"[Tt](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<oh>[0-9]{2}):(?P<om>[0-9]{2}))",
    re.ASCII,
)


def _invalid(field: str | None, message: str) -> ValidationError:
    """A ValidationError whose message leads with the field, so logs read on their own."""
    return ValidationError(f"{field}: {message}" if field else message, field)


def is_v2(version: str) -> bool:
    """Whether a request's X-Experience-API-Version selects the 2.0 rules."""
    return version.startswith("2.")


def parse_timestamp(value: str, version: str, field: str = "timestamp") -> datetime:
    """Read an xAPI timestamp into an aware datetime.

    A timestamp without an offset (accepted under 1.0.x only) is taken as UTC, which is
    what the spec recommends an LRS assume. Digits beyond microseconds are truncated, as
    the spec only asks for millisecond precision to be kept.
    """
    if not isinstance(value, str):
        raise _invalid(field, "must be a string timestamp")
    if is_v2(version):
        match = _RFC3339.fullmatch(value)
        expected = "an RFC 3339 date-time with a time zone offset"
    else:
        match = _ISO_EXTENDED.fullmatch(value) or _ISO_BASIC.fullmatch(value)
        expected = "an ISO 8601 date-time"
    if match is None:
        raise _invalid(field, f"must be {expected}, got {value!r}")
    parts = match.groupdict()
    if parts["sign"] == "-" and int(parts["oh"]) == 0 and int(parts["om"] or 0) == 0:
        # RFC 3339 reads "-00:00" as "offset unknown" and ISO 8601 forbids a negative
        # zero; the conformance suite (XAPI-00123) requires rejecting -00, -0000 and
        # -00:00 under both versions.
        raise _invalid(field, "must not use a negative zero UTC offset (-00:00)")
    try:
        moment = _to_datetime(parts)
        # Its UTC form must exist too: storing, comparing and the processors convert to UTC.
        moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise _invalid(field, f"is not a valid date-time: {exc}") from exc
    return moment


def _to_datetime(parts: dict[str, str | None]) -> datetime:
    """Build the datetime, folding a leap second into the next second."""
    offset = parts["offset"]
    tz: timezone = UTC
    if offset and offset not in ("Z", "z"):
        hours, minutes = int(parts["oh"] or 0), int(parts["om"] or 0)
        if hours > 23 or minutes > 59:
            raise ValueError("UTC offset out of range")
        delta = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-delta if parts["sign"] == "-" else delta)
    second = int(parts["second"] or 0)
    leap = second == 60
    fraction = (parts["fraction"] or "")[:6].ljust(6, "0")
    result = datetime(
        int(parts["year"] or 0),
        int(parts["month"] or 0),
        int(parts["day"] or 0),
        int(parts["hour"] or 0),
        int(parts["minute"] or 0),
        59 if leap else second,
        int(fraction),
        tzinfo=tz,
    )
    return result + timedelta(seconds=1) if leap else result


def format_timestamp(dt: datetime) -> str:
    """Render in UTC ending in "Z", with milliseconds, or microseconds when they matter.

    Naive datetimes are taken to be UTC already; the store only produces aware ones.
    """
    utc = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    base = utc.strftime("%Y-%m-%dT%H:%M:%S")
    micro = utc.microsecond
    if micro % 1000:
        return f"{base}.{micro:06d}Z"
    return f"{base}.{micro // 1000:03d}Z"


# UTC with milliseconds and "Z": the form normalize_timestamp gives, and most clients send.
_NORMAL_FORM = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z", re.ASCII
)


def is_normal_form(value: object) -> bool:
    """Whether a timestamp (already validated) is stored exactly as given under 2.0."""
    return isinstance(value, str) and _NORMAL_FORM.fullmatch(value) is not None


def normalize_timestamp(value: str, version: str, field: str = "timestamp") -> str:
    """The form in which the store keeps a client's timestamp.

    2.0 requires an LRS to convert timestamps to UTC; 1.0.x asks that the value be kept
    as given (only its precision must survive), so it is only validated.
    """
    parsed = parse_timestamp(value, version, field)
    if is_v2(version):
        return format_timestamp(parsed)
    return value


_DURATION = re.compile(
    r"P(?:(?P<years>[0-9.,]+)Y)?(?:(?P<months>[0-9.,]+)M)?(?:(?P<weeks>[0-9.,]+)W)?"
    r"(?:(?P<days>[0-9.,]+)D)?(?:T(?:(?P<hours>[0-9.,]+)H)?(?:(?P<minutes>[0-9.,]+)M)?"
    r"(?:(?P<seconds>[0-9.,]+)S)?)?",
    re.ASCII,
)
_SECONDS_PER = {
    "years": 365.25 * 86400,
    "months": 30.44 * 86400,
    "weeks": 7 * 86400,
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
    "seconds": 1,
}


def duration_seconds(value: str) -> float:
    """An ISO 8601 duration in seconds (years and months at their average length).

    Used to sum time spent; the statement was validated, so an unreadable value counts 0.
    """
    match = _DURATION.fullmatch(value)
    if match is None:
        return 0.0
    total = 0.0
    for unit, amount in match.groupdict().items():
        if amount:
            total += float(amount.replace(",", ".")) * _SECONDS_PER[unit]
    return total
