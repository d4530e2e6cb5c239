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
from lrs.ports.forwarding import DeadLetterCopies


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


def settle_dead_letters(store: DeadLetterCopies, batch: int = 500) -> tuple[int, int]:
    """Make every dead letter what the store holds now: a copy of a statement the store no
    longer keeps is dropped, one of a statement it changed (anonymised, pseudonymised)
    takes the new bytes, so a replay sends nothing an erasure or retention removed. A dead letter is the log record's
    bytes, which are the stored statement's, so an unchanged one compares equal. Reads
    each letter's statement: run after the statements changed, and again after a crash
    (it finds what is left); (dropped, replaced)."""
    dropped = replaced = 0
    for rule in store.list_forward_rules():
        after = 0
        while letters := store.list_dead_letters(rule.id, after, batch):
            deleted: list[int] = []
            rewritten: dict[int, bytes] = {}
            for letter in letters:
                now = store.get_statement(letter.statement_id, voided=False)
                if now is None:
                    now = store.get_statement(letter.statement_id, voided=True)
                if now is None:
                    deleted.append(letter.offset)
                elif bytes(now) != letter.data:
                    rewritten[letter.offset] = bytes(now)
            if deleted or rewritten:
                store.redact_dead_letters(rule.id, deleted, rewritten)
                dropped += len(deleted)
                replaced += len(rewritten)
            after = letters[-1].offset
    return dropped, replaced
