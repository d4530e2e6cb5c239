"""Forwarding's delivery state as metric families, read from the store: /metrics of any
API process shows it, whichever process (the embedded processors' child, a Kafka worker)
does the sending."""

from __future__ import annotations

from lrs.domain.metrics import Family
from lrs.ports import Store

_SERIES = (
    ("lrs_forward_delivered_total", "counter", "Statements the destination accepted."),
    ("lrs_forward_failed_total", "counter", "Failed delivery attempts (of whole batches)."),
    ("lrs_forward_dead_letters", "gauge", "Statements given up on, kept for replay."),
    ("lrs_forward_lag", "gauge", "Log positions after the rule's offset, not yet looked at."),
    ("lrs_forward_retrying", "gauge", "Failed attempts of the batch being retried now."),
    ("lrs_forward_paused", "gauge", "1 while the rule is paused."),
)


def forwarding_families(store: Store) -> list[Family]:
    rules = store.list_forward_rules()
    if not rules:
        return []
    end = store.log_end()
    families = {name: Family(name, kind, text) for name, kind, text in _SERIES}
    for rule in rules:
        state = store.forward_state(rule.id)
        labels = {"rule": rule.id, "name": rule.name, "kind": rule.destination.kind}
        families["lrs_forward_delivered_total"].add(state.delivered, **labels)
        families["lrs_forward_failed_total"].add(state.failed, **labels)
        families["lrs_forward_dead_letters"].add(state.dead, **labels)
        families["lrs_forward_lag"].add(max(end - state.offset, 0), **labels)
        families["lrs_forward_retrying"].add(state.attempts, **labels)
        families["lrs_forward_paused"].add(int(rule.paused), **labels)
    return list(families.values())
