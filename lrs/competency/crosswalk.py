"""Crosswalks between frameworks: evidence aligned to one framework counts in another.

A crosswalk file pairs competences of two frameworks (`exactMatch` pairs carry evidence,
`related` ones only inform) and pairs levels, so a level attained in one framework maps
to a level of the other. Crosswalks are data, like frameworks: bundled ones ship in
`lrs/competency/crosswalks/`, a site imports its own (CLI, admin API) and they are stored
as definitions of kind "crosswalk".

Crosswalked evidence is applied when status is read, not when statements are folded:
the stored contributions stay per framework, so importing or changing a crosswalk needs
no rebuild, and the status can say through which crosswalk each piece of evidence came.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Any

from lrs.competency.framework import Framework
from lrs.domain.records import Contribution
from lrs.xapi.errors import ValidationError

CROSSWALK = "crosswalk"
_RELATIONS = ("exactMatch", "related")


@dataclass(frozen=True)
class Crosswalk:
    """A loaded crosswalk: competence IRIs and level ranks resolved against both frameworks."""

    id: str
    source_framework: str
    target_framework: str
    both_ways: bool
    pairs: tuple[tuple[str, str, str], ...]  # (from IRI, to IRI, relation)
    level_pairs: tuple[tuple[int, int], ...]  # (from rank, to rank), rising
    data: Mapping[str, Any]  # the file as given (shown back by the API)

    def direction(self, source: str, target: str) -> Direction | None:
        """The crosswalk read from `source` to `target`, if it joins them that way."""
        if (self.source_framework, self.target_framework) == (source, target):
            pairs = [(a, b) for a, b, rel in self.pairs if rel == "exactMatch"]
            return Direction(self, source, pairs, list(self.level_pairs))
        if self.both_ways and (self.target_framework, self.source_framework) == (source, target):
            pairs = [(b, a) for a, b, rel in self.pairs if rel == "exactMatch"]
            return Direction(self, source, pairs, [(b, a) for a, b in self.level_pairs])
        return None


@dataclass(frozen=True)
class Direction:
    walk: Crosswalk
    source: str
    pairs: list[tuple[str, str]]
    level_pairs: list[tuple[int, int]]

    def rank(self, source_rank: int) -> int:
        """The highest target rank whose paired source level is reached (0: none)."""
        reached = [to for frm, to in self.level_pairs if frm <= source_rank]
        return max(reached, default=0)

    @cached_property
    def targets(self) -> dict[str, list[str]]:
        """Source competence IRI -> the target competences it counts for."""
        by_source: dict[str, list[str]] = {}
        for frm, to in self.pairs:
            by_source.setdefault(frm, []).append(to)
        return by_source

    def translate(
        self, item: Contribution, target: Framework, target_key: str
    ) -> Contribution | None:
        """One contribution to the source framework as one to the target framework."""
        by_source = self.targets
        evidence: list[dict[str, Any]] = []
        for entry in item.data.get("evidence", ()):
            for to in by_source.get(entry["competence"], ()):
                rank = self.rank(int(entry["rank"]))
                level = target.levels_by_rank.get(rank)
                evidence.append(
                    {
                        "rule": f"{self.walk.id}:{entry['rule']}",
                        "competence": to,
                        "level": level.id if level else None,
                        "rank": rank,
                        "needs": entry["needs"],
                        "met": entry["met"],
                        "via": {
                            "crosswalk": self.walk.id,
                            "framework": self.source,
                            "competence": entry["competence"],
                        },
                    }
                )
        if not evidence:
            return None
        data = {**item.data, "framework": target.id, "evidence": evidence}
        return Contribution(item.statement_id, target_key, data)


def _resolve_competence(framework: Framework, value: str) -> str | None:
    found = framework.competence(value) or framework.competence_by_code(value)
    return found.id if found else None


def load_crosswalk(data: Any, frameworks: Mapping[str, Framework]) -> Crosswalk:
    """Check a crosswalk against both frameworks; every error names its field."""
    if not isinstance(data, dict):
        raise ValidationError("a crosswalk must be a JSON object", None)
    for name in ("id", "from", "to"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise ValidationError(f"{name}: a non-empty string is required", name)
    source, target = frameworks.get(data["from"]), frameworks.get(data["to"])
    for name, framework in (("from", source), ("to", target)):
        if framework is None:
            known = ", ".join(sorted(frameworks))
            raise ValidationError(
                f"{name}: unknown framework {data[name]!r} (known: {known})", name
            )
    assert source is not None and target is not None
    if source.id == target.id:
        raise ValidationError("to: a crosswalk joins two different frameworks", "to")
    if not isinstance(data.get("both_ways", False), bool):
        raise ValidationError("both_ways: must be true or false", "both_ways")
    competences = data.get("competences")
    if not isinstance(competences, list) or not competences:
        raise ValidationError("competences: a non-empty array of pairs is required", "competences")
    pairs: list[tuple[str, str, str]] = []
    for index, pair in enumerate(competences):
        at = f"competences[{index}]"
        if not isinstance(pair, dict):
            raise ValidationError(f"{at}: must be an object", at)
        relation = pair.get("relation", "exactMatch")
        if relation not in _RELATIONS:
            raise ValidationError(
                f"{at}.relation: one of {', '.join(_RELATIONS)}", f"{at}.relation"
            )
        ends = []
        for end, framework in (("from", source), ("to", target)):
            value = pair.get(end)
            iri = _resolve_competence(framework, value) if isinstance(value, str) else None
            if iri is None:
                raise ValidationError(
                    f"{at}.{end}: {value!r} is not a competence (IRI or code) of {framework.id}",
                    f"{at}.{end}",
                )
            ends.append(iri)
        pairs.append((ends[0], ends[1], relation))
    levels = data.get("levels")
    if not isinstance(levels, list) or not levels:
        raise ValidationError("levels: a non-empty array of level pairs is required", "levels")
    level_pairs: list[tuple[int, int]] = []
    for index, pair in enumerate(levels):
        at = f"levels[{index}]"
        ranks = []
        for end, framework in (("from", source), ("to", target)):
            value = pair.get(end) if isinstance(pair, dict) else None
            level = framework.level(value) if isinstance(value, str) else None
            if level is None:
                raise ValidationError(
                    f"{at}.{end}: {value!r} is not a level (IRI or code) of {framework.id}",
                    f"{at}.{end}",
                )
            ranks.append(level.rank)
        level_pairs.append((ranks[0], ranks[1]))
    level_pairs.sort()
    if any(a[1] > b[1] for a, b in zip(level_pairs, level_pairs[1:], strict=False)):
        # a higher level in one framework must never map to a lower one in the other
        raise ValidationError("levels: pairs must rise together in both frameworks", "levels")
    return Crosswalk(
        id=data["id"],
        source_framework=source.id,
        target_framework=target.id,
        both_ways=data.get("both_ways", False),
        pairs=tuple(pairs),
        level_pairs=tuple(level_pairs),
        data=data,
    )


@cache
def _bundled_files() -> tuple[dict[str, Any], ...]:
    folder = resources.files("lrs.competency.crosswalks")
    return tuple(
        json.loads(entry.read_text(encoding="utf-8"))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    )


def bundled_crosswalk_data() -> list[dict[str, Any]]:
    """The crosswalk files shipped with the LRS (DigComp 2.2, Circular 02, Decision 757)."""
    return [dict(d) for d in _bundled_files()]


def crosswalks(
    frameworks: Mapping[str, Framework], imported: Iterable[dict[str, Any]]
) -> list[Crosswalk]:
    """Bundled then imported crosswalks; an imported one replaces a bundled one of its id.
    A stored crosswalk whose framework is gone is skipped rather than failing every read."""
    by_id: dict[str, dict[str, Any]] = {d["id"]: d for d in bundled_crosswalk_data()}
    for data in imported:
        by_id[data["id"]] = data
    found: list[Crosswalk] = []
    for data in by_id.values():
        try:
            found.append(load_crosswalk(data, frameworks))
        except ValidationError:
            continue
    return found


def into(walks: Iterable[Crosswalk], target: str) -> list[Direction]:
    """Every crosswalk direction that brings evidence into framework `target`."""
    found: list[Direction] = []
    for walk in walks:
        for source in (walk.source_framework, walk.target_framework):
            direction = walk.direction(source, target) if source != target else None
            if direction is not None:
                found.append(direction)
    return found
