"""How a forwarding rule is kept by any store: one JSON record, so adapters cannot differ.

The destination's secret is kept as given (the forwarder must present it: an LRS password
or a webhook signing key cannot be hashed like a credential's secret); it is never
answered back in full (lrs.forwarding.rules.rule_view shows its last four characters).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson

from lrs.domain.forwarding import Destination, ForwardRule, Match


def rule_record(rule: ForwardRule) -> bytes:
    return orjson.dumps(asdict(rule))


def rule_from_record(data: bytes) -> ForwardRule:
    value: dict[str, Any] = orjson.loads(data)
    match = {name: tuple(values) for name, values in value["match"].items()}
    return ForwardRule(
        **{
            **value,
            "match": Match(**match),
            "destination": Destination(**value["destination"]),
        }
    )
