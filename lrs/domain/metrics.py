"""Metric families as plain data, and their Prometheus text form (version 0.0.4).

/metrics and the operations page read the same families (lrs.api.metrics.families): the
page shows what Prometheus reads without parsing it back from text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    name: str  # the family's name, or a histogram's _bucket, _sum, _count
    labels: tuple[tuple[str, str], ...]
    value: str  # as written: a counter's integer, a gauge's rounding

    @property
    def label_text(self) -> str:
        """`a="x",b="y"`, escaped as the text format asks."""
        return ",".join(f'{name}="{escape(value)}"' for name, value in self.labels)


@dataclass
class Family:
    name: str
    kind: str  # counter, gauge, histogram
    help: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: object, /, **labels: object) -> None:
        self.sample(self.name, value, **labels)

    def sample(self, name: str, value: object, /, **labels: object) -> None:
        self.samples.append(
            Sample(name, tuple((k, str(v)) for k, v in labels.items()), str(value))
        )


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_lines(families: Iterable[Family]) -> list[str]:
    lines: list[str] = []
    for family in families:
        lines += [f"# HELP {family.name} {family.help}", f"# TYPE {family.name} {family.kind}"]
        for s in family.samples:
            lines.append(f"{s.name}{{{s.label_text}}} {s.value}" if s.labels else f"{s.name} {s.value}")
    return lines
