"""PHP's loose conversions, where the plugin's output depends on them (numbers read from
strings, numbers written into strings), so that replayed statements carry the same values."""

from __future__ import annotations

import re
from typing import Any

_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def is_numeric(value: Any) -> bool:
    """PHP's is_numeric: a number, or a string that is wholly one."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (int, float)):
        return True
    found = _NUMBER.match(str(value))
    return found is not None and str(value)[found.end() :].strip() == ""


def php_float(value: Any) -> float:
    """PHP's floatval: the leading number of a string, else 0."""
    if isinstance(value, (int, float)):
        return float(value)
    found = _NUMBER.match(str(value or ""))
    return float(found.group(0)) if found else 0.0


def php_text(value: Any) -> str:
    """PHP string concatenation: null is empty, floats without a trailing .0."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
