"""The operations page's figures: what /metrics publishes (lrs.api.metrics.collect, as
rendered for Prometheus), so the page shows every figure /metrics gains without a change
here."""

from __future__ import annotations

from typing import Any

from lrs.api.metrics import render


def parse(text: str) -> list[dict[str, Any]]:
    """Pure: Prometheus text format -> one row per sample, with its family's help."""
    helps: dict[str, str] = {}
    rows = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            helps[name] = help_text
        elif line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            name, _, labels = series.partition("{")
            rows.append(
                {"name": name, "labels": labels.rstrip("}"), "value": value, "help": helps.get(name, "")}
            )
    return rows


def figures(app: Any) -> list[dict[str, Any]]:
    """Blocking (the broker may be asked for consumer lag): the app's /metrics samples."""
    return parse(render(app.state.figures()))
