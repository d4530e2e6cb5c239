"""Forwarding's delivery state as Prometheus lines, read from the store: /metrics of any
API process shows it, whichever process (the embedded processors' child, a Kafka worker)
does the sending."""

from __future__ import annotations

from lrs.ports import Store

_SERIES = (
    ("lrs_forward_delivered_total", "counter", "Statements the destination accepted."),
    ("lrs_forward_failed_total", "counter", "Failed delivery attempts (of whole batches)."),
    ("lrs_forward_dead_letters", "gauge", "Statements given up on, kept for replay."),
    ("lrs_forward_lag", "gauge", "Log positions after the rule's offset, not yet looked at."),
    ("lrs_forward_retrying", "gauge", "Failed attempts of the batch being retried now."),
    ("lrs_forward_paused", "gauge", "1 while the rule is paused."),
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def forwarding_lines(store: Store) -> list[str]:
    rules = store.list_forward_rules()
    if not rules:
        return []
    end = store.log_end()
    values: dict[str, list[tuple[str, int]]] = {name: [] for name, _, _ in _SERIES}
    for rule in rules:
        state = store.forward_state(rule.id)
        labels = f'rule="{rule.id}",name="{_label(rule.name)}",kind="{rule.destination.kind}"'
        values["lrs_forward_delivered_total"].append((labels, state.delivered))
        values["lrs_forward_failed_total"].append((labels, state.failed))
        values["lrs_forward_dead_letters"].append((labels, state.dead))
        values["lrs_forward_lag"].append((labels, max(end - state.offset, 0)))
        values["lrs_forward_retrying"].append((labels, state.attempts))
        values["lrs_forward_paused"].append((labels, int(rule.paused)))
    lines: list[str] = []
    for name, kind, text in _SERIES:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{{{labels}}} {value}" for labels, value in values[name]]
    return lines
