"""Competency frameworks as immutable run-time objects.

A framework arrives as data (our JSON format, `schemas/competency-framework.schema.json`,
or 1EdTech CASE through `lrs.competency.case`) and is used on every statement that may
carry evidence, so it is checked once, here, and then only read: lookups by IRI and code
are dictionary hits and levels compare by integer rank.

Checking has two layers, like statement validation: the JSON Schema carries every
structural rule, and `load_framework` then checks what a schema cannot say (ids unique
across the whole framework, codes unique, level ranks 1..n in order, crosswalks leaving
from one of our competences towards another framework). Every refusal is a
`lrs.xapi.errors.ValidationError` whose field is the dotted path of the offending value
(`areas[0].competences[2].id`), so the API and CLI can report it without re-parsing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import jsonschema

from lrs.xapi.errors import ValidationError
from lrs.xapi.schema_errors import explain
from lrs.xapi.schema_errors import invalid as _invalid

__all__ = [
    "SCHEMA_PATH",
    "Area",
    "Band",
    "Competence",
    "Crosswalk",
    "Framework",
    "LangMap",
    "Level",
    "NarrowerItem",
    "Source",
    "Translation",
    "bundled_frameworks",
    "framework_schema",
    "load_framework",
]

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "competency-framework.schema.json"

Relation = Literal["exactMatch", "related"]



# ------------------------------------------------------------------------------ model


class LangMap(Mapping[str, str]):
    """A read-only language map ({"en": ..., "vi": ...}) that can be hashed and compared.

    Frozen dataclasses need hashable fields; a plain dict is neither immutable nor hashable.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"LangMap({self._data!r})"

    def text(self, language: str | None = None) -> str:
        """The best entry for a reader: exact tag, then same primary language, then en, then any.

        Frameworks are multilingual but a screen shows one string; falling back rather than
        failing keeps a Vietnamese-only framework readable in an English UI.
        """
        if language:
            if language in self._data:
                return self._data[language]
            primary = language.split("-", 1)[0].lower()
            for tag, value in self._data.items():
                if tag.split("-", 1)[0].lower() == primary:
                    return value
        if "en" in self._data:
            return self._data["en"]
        return next(iter(self._data.values()))

    def as_dict(self) -> dict[str, str]:
        return dict(self._data)


@dataclass(frozen=True)
class Source:
    """Where the framework is defined, so every bundled one can be traced to a publication."""

    publisher: str
    document: str
    url: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class Translation:
    """Whether a language version is official; unofficial ones must not be quoted as law."""

    language: str
    official: bool
    note: str | None = None


@dataclass(frozen=True)
class Band:
    """A named group of consecutive levels (DigComp's Foundation = levels 1 and 2)."""

    code: str
    name: LangMap


@dataclass(frozen=True)
class Level:
    """A proficiency level; `rank` (1 = lowest) is what status computations compare."""

    id: str
    code: str
    rank: int
    name: LangMap
    band: Band | None = None
    description: LangMap | None = None
    verify: bool = False


@dataclass(frozen=True)
class NarrowerItem:
    """A finer item (indicator, sub-standard) whose evidence counts for its competence."""

    id: str
    code: str | None = None
    name: LangMap | None = None


@dataclass(frozen=True)
class Competence:
    """A leaf of the framework tree: what evidence is aligned to and status is kept for.

    `area` points back to the owning area (set by the loader); it is left out of equality,
    hashing and repr because the area already contains the competence.
    """

    id: str
    code: str
    name: LangMap
    description: LangMap | None = None
    narrower: tuple[NarrowerItem, ...] = ()
    verify: bool = False
    area: Area = field(init=False, repr=False, compare=False)


@dataclass(frozen=True)
class Area:
    """A group of competences; status is rolled up per area."""

    id: str
    code: str
    name: LangMap
    competences: tuple[Competence, ...]
    description: LangMap | None = None
    verify: bool = False


@dataclass(frozen=True)
class Crosswalk:
    """A link from one of our competences to a competence of another framework.

    exactMatch: evidence for one is evidence for the other. related: informative only.
    """

    from_iri: str
    to_iri: str
    relation: Relation


@dataclass(frozen=True)
class Framework:
    """A loaded, checked framework. Build it with `load_framework`, not directly."""

    id: str
    version: str
    title: LangMap
    source: Source
    levels: tuple[Level, ...]
    areas: tuple[Area, ...]
    crosswalks: tuple[Crosswalk, ...] = ()
    description: LangMap | None = None
    licence: str | None = None
    notes: str | None = None
    translations: tuple[Translation, ...] = ()
    _index: _Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", _Index.build(self))

    @property
    def competences(self) -> tuple[Competence, ...]:
        """All competences in document order (area by area)."""
        return self._index.competence_list

    @property
    def levels_by_rank(self) -> Mapping[int, Level]:
        """Levels keyed by rank 1..n, in rank order."""
        return self._index.levels_by_rank

    @property
    def lowest_level(self) -> Level:
        return self.levels[0]

    @property
    def highest_level(self) -> Level:
        return self.levels[-1]

    def competence(self, iri: str) -> Competence | None:
        """The competence with this IRI, or None if it is not one of this framework's."""
        return self._index.competences.get(iri)

    def competence_by_code(self, code: str) -> Competence | None:
        return self._index.competence_codes.get(code)

    def resolve(self, iri: str) -> Competence | None:
        """The competence that evidence naming `iri` counts for: the competence itself or
        the competence that lists `iri` as a narrower item (an indicator)."""
        return self._index.competences.get(iri) or self._index.narrower.get(iri)

    def area(self, id_or_code: str) -> Area | None:
        return self._index.areas.get(id_or_code) or self._index.area_codes.get(id_or_code)

    def level(self, id_or_code: str) -> Level | None:
        """A level by IRI or by code ("CB1", "5"); codes cannot contain a scheme, so the two
        namespaces never collide in practice, and ids are tried first."""
        return self._index.levels.get(id_or_code) or self._index.level_codes.get(id_or_code)

    def crosswalks_from(self, iri: str) -> tuple[Crosswalk, ...]:
        return self._index.crosswalks_from.get(iri, ())

    def as_dict(self) -> dict[str, Any]:
        """The framework in the JSON format of the schema (for storing and publishing)."""
        data: dict[str, Any] = {
            "id": self.id,
            "version": self.version,
            "title": self.title.as_dict(),
        }
        if self.description is not None:
            data["description"] = self.description.as_dict()
        source: dict[str, Any] = {
            "publisher": self.source.publisher,
            "document": self.source.document,
        }
        if self.source.url is not None:
            source["url"] = self.source.url
        if self.source.date is not None:
            source["date"] = self.source.date
        data["source"] = source
        if self.licence is not None:
            data["licence"] = self.licence
        if self.notes is not None:
            data["notes"] = self.notes
        if self.translations:
            data["translations"] = [
                {"language": t.language, "official": t.official}
                | ({"note": t.note} if t.note is not None else {})
                for t in self.translations
            ]
        data["levels"] = [_level_dict(level) for level in self.levels]
        data["areas"] = [_area_dict(area) for area in self.areas]
        if self.crosswalks:
            data["crosswalks"] = [
                {"from": c.from_iri, "to": c.to_iri, "relation": c.relation}
                for c in self.crosswalks
            ]
        return data


@dataclass(frozen=True)
class _Index:
    """Lookup tables built once per framework, so run-time lookups are dictionary hits."""

    competence_list: tuple[Competence, ...]
    competences: Mapping[str, Competence]
    competence_codes: Mapping[str, Competence]
    narrower: Mapping[str, Competence]
    areas: Mapping[str, Area]
    area_codes: Mapping[str, Area]
    levels: Mapping[str, Level]
    level_codes: Mapping[str, Level]
    levels_by_rank: Mapping[int, Level]
    crosswalks_from: Mapping[str, tuple[Crosswalk, ...]]

    @classmethod
    def build(cls, framework: Framework) -> _Index:
        competence_list = tuple(c for a in framework.areas for c in a.competences)
        walks: dict[str, list[Crosswalk]] = {}
        for walk in framework.crosswalks:
            walks.setdefault(walk.from_iri, []).append(walk)
        return cls(
            competence_list=competence_list,
            competences=MappingProxyType({c.id: c for c in competence_list}),
            competence_codes=MappingProxyType({c.code: c for c in competence_list}),
            narrower=MappingProxyType({n.id: c for c in competence_list for n in c.narrower}),
            areas=MappingProxyType({a.id: a for a in framework.areas}),
            area_codes=MappingProxyType({a.code: a for a in framework.areas}),
            levels=MappingProxyType({lv.id: lv for lv in framework.levels}),
            level_codes=MappingProxyType({lv.code: lv for lv in framework.levels}),
            levels_by_rank=MappingProxyType({lv.rank: lv for lv in framework.levels}),
            crosswalks_from=MappingProxyType({k: tuple(v) for k, v in walks.items()}),
        )


def _level_dict(level: Level) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": level.id,
        "code": level.code,
        "rank": level.rank,
        "name": level.name.as_dict(),
    }
    if level.band is not None:
        data["band"] = {"code": level.band.code, "name": level.band.name.as_dict()}
    if level.description is not None:
        data["description"] = level.description.as_dict()
    if level.verify:
        data["verify"] = True
    return data


def _area_dict(area: Area) -> dict[str, Any]:
    data: dict[str, Any] = {"id": area.id, "code": area.code, "name": area.name.as_dict()}
    if area.description is not None:
        data["description"] = area.description.as_dict()
    if area.verify:
        data["verify"] = True
    data["competences"] = [_competence_dict(c) for c in area.competences]
    return data


def _competence_dict(competence: Competence) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": competence.id,
        "code": competence.code,
        "name": competence.name.as_dict(),
    }
    if competence.description is not None:
        data["description"] = competence.description.as_dict()
    if competence.narrower:
        data["narrower"] = [
            {"id": n.id}
            | ({"code": n.code} if n.code is not None else {})
            | ({"name": n.name.as_dict()} if n.name is not None else {})
            for n in competence.narrower
        ]
    if competence.verify:
        data["verify"] = True
    return data


# ------------------------------------------------------------------------------ loading


@cache
def framework_schema() -> Mapping[str, Any]:
    """The framework JSON Schema (read once; also what the API publishes)."""
    return MappingProxyType(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(dict(framework_schema()))


def load_framework(data: Mapping[str, Any]) -> Framework:
    """Check framework data and build the run-time object, or raise ValidationError.

    The field of the error is a dotted path into `data` (e.g. `levels[2].rank`).
    """
    if not isinstance(data, Mapping):
        raise _invalid(None, "a framework must be a JSON object")
    _check_schema(data)
    _check_rules(data)
    return _build(data)


def _check_schema(data: Mapping[str, Any]) -> None:
    error = explain(_validator().iter_errors(data))
    if error is not None:
        raise error


def _check_rules(data: Mapping[str, Any]) -> None:
    """Rules beyond the schema. Runs only on data the schema accepted."""
    # One IRI namespace for the whole framework: an IRI names exactly one thing, so a
    # statement's competency IRI can never be ambiguous.
    ids: dict[str, str] = {data["id"]: "id"}

    def claim(iri: str, where: str) -> None:
        first = ids.get(iri)
        if first is not None:
            raise _invalid(where, f"duplicates the IRI already used at {first}")
        ids[iri] = where

    def unique_code(seen: dict[str, str], code: str, where: str, kind: str) -> None:
        first = seen.get(code)
        if first is not None:
            raise _invalid(where, f"duplicates the {kind} code {code!r} already used at {first}")
        seen[code] = where

    level_codes: dict[str, str] = {}
    band_names: dict[str, tuple[Mapping[str, str], int]] = {}
    for index, level in enumerate(data["levels"]):
        at = f"levels[{index}]"
        claim(level["id"], f"{at}.id")
        unique_code(level_codes, level["code"], f"{at}.code", "level")
        if level["rank"] != index + 1:
            raise _invalid(
                f"{at}.rank",
                f"must be {index + 1}: levels are listed by rank, 1..n without gaps",
            )
        band = level.get("band")
        if band is not None:
            # A band is a run of consecutive levels with one name; a band that reappears
            # after another band would make "attained Intermediate" meaningless.
            known = band_names.get(band["code"])
            if known is not None:
                name, last_index = known
                if dict(name) != dict(band["name"]):
                    raise _invalid(f"{at}.band.name", "differs from the earlier level of this band")
                if last_index != index - 1:
                    raise _invalid(f"{at}.band", "a band's levels must be consecutive")
            band_names[band["code"]] = (band["name"], index)

    area_codes: dict[str, str] = {}
    competence_codes: dict[str, str] = {}
    competence_ids: set[str] = set()
    for a_index, area in enumerate(data["areas"]):
        at = f"areas[{a_index}]"
        claim(area["id"], f"{at}.id")
        unique_code(area_codes, area["code"], f"{at}.code", "area")
        for c_index, competence in enumerate(area["competences"]):
            c_at = f"{at}.competences[{c_index}]"
            claim(competence["id"], f"{c_at}.id")
            competence_ids.add(competence["id"])
            unique_code(competence_codes, competence["code"], f"{c_at}.code", "competence")
            for n_index, narrower in enumerate(competence.get("narrower", ())):
                claim(narrower["id"], f"{c_at}.narrower[{n_index}].id")

    seen_walks: dict[tuple[str, str], str] = {}
    for index, walk in enumerate(data.get("crosswalks", ())):
        at = f"crosswalks[{index}]"
        if walk["from"] not in competence_ids:
            raise _invalid(f"{at}.from", "must be the IRI of a competence of this framework")
        if walk["to"] in ids:
            raise _invalid(f"{at}.to", "must be a competence of another framework, not of this one")
        key = (walk["from"], walk["to"])
        if key in seen_walks:
            raise _invalid(at, f"repeats the crosswalk at {seen_walks[key]}")
        seen_walks[key] = at


def _lang(value: Mapping[str, str] | None) -> LangMap | None:
    return None if value is None else LangMap(value)


def _build(data: Mapping[str, Any]) -> Framework:
    levels = tuple(
        Level(
            id=lv["id"],
            code=lv["code"],
            rank=lv["rank"],
            name=LangMap(lv["name"]),
            band=Band(lv["band"]["code"], LangMap(lv["band"]["name"])) if "band" in lv else None,
            description=_lang(lv.get("description")),
            verify=lv.get("verify", False),
        )
        for lv in data["levels"]
    )
    areas: list[Area] = []
    for raw_area in data["areas"]:
        competences = tuple(
            Competence(
                id=c["id"],
                code=c["code"],
                name=LangMap(c["name"]),
                description=_lang(c.get("description")),
                narrower=tuple(
                    NarrowerItem(n["id"], n.get("code"), _lang(n.get("name")))
                    for n in c.get("narrower", ())
                ),
                verify=c.get("verify", False),
            )
            for c in raw_area["competences"]
        )
        area = Area(
            id=raw_area["id"],
            code=raw_area["code"],
            name=LangMap(raw_area["name"]),
            competences=competences,
            description=_lang(raw_area.get("description")),
            verify=raw_area.get("verify", False),
        )
        for competence in competences:
            object.__setattr__(competence, "area", area)
        areas.append(area)
    source = data["source"]
    return Framework(
        id=data["id"],
        version=data["version"],
        title=LangMap(data["title"]),
        description=_lang(data.get("description")),
        source=Source(
            publisher=source["publisher"],
            document=source["document"],
            url=source.get("url"),
            date=source.get("date"),
        ),
        licence=data.get("licence"),
        notes=data.get("notes"),
        translations=tuple(
            Translation(t["language"], t["official"], t.get("note"))
            for t in data.get("translations", ())
        ),
        levels=levels,
        areas=tuple(areas),
        crosswalks=tuple(
            Crosswalk(w["from"], w["to"], w["relation"]) for w in data.get("crosswalks", ())
        ),
    )


# ------------------------------------------------------------------------------ bundled


@cache
def _bundled() -> tuple[tuple[str, Framework], ...]:
    """Load the data files shipped in lrs/competency/frameworks once per process."""
    folder = resources.files("lrs.competency.frameworks")
    loaded: list[tuple[str, Framework]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        key = entry.name.removesuffix(".json")
        try:
            framework = load_framework(json.loads(entry.read_text(encoding="utf-8")))
        except ValidationError as error:
            # A broken bundled file is a packaging bug: say which file.
            raise ValidationError(
                f"bundled framework {key}: {error.message}", error.field
            ) from error
        loaded.append((key, framework))
    return tuple(loaded)


def bundled_frameworks() -> dict[str, Framework]:
    """The frameworks shipped with the LRS, keyed by file name without .json
    (`digcomp-2.2`, `vn-circular-02-2025`). Loaded and checked once, then cached; the dict
    is a fresh copy each call so callers cannot alter the cache."""
    return dict(_bundled())
