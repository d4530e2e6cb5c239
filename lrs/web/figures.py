"""The operations page's figures: the families /metrics publishes (lrs.api.metrics), read
as data, so the page shows every figure /metrics gains without a change here."""

from __future__ import annotations

from typing import Any

from lrs.api.metrics import Figures, families


def rows(figures: Figures) -> list[dict[str, Any]]:
    """Pure: one row per sample, with its family's help."""
    return [
        {"name": s.name, "labels": s.label_text, "value": s.value, "help": family.help}
        for family in families(figures)
        for s in family.samples
    ]


def figures(app: Any) -> list[dict[str, Any]]:
    """Blocking (the store is read, the broker may be asked for consumer lag)."""
    return rows(app.state.figures())
