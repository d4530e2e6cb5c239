"""Import a 1EdTech CASE 1.0 package into this LRS's framework format.

Many ministries, states and publishers publish frameworks as CASE (Competencies and
Academic Standards Exchange) JSON: a `CFPackage` of one `CFDocument`, its `CFItems` and
the `CFAssociations` between them (the tree is made of `isChildOf` associations, not of
nesting). This module turns such a package into the dict format of
`schemas/competency-framework.schema.json`; `lrs.competency.framework.load_framework`
then checks it like any other framework. It is pure: no I/O, no storage.

Mapping decisions (each one is a choice CASE leaves open):

* Framework: `CFDocument.uri` is the framework IRI (`urn:uuid:<identifier>` if no uri);
  title -> title, description -> description, publisher (or creator) and
  officialSourceURL -> source, `version` -> version (else the date of
  lastChangeDateTime, else "unversioned"), licence from `licenseURI` resolved against
  `CFDefinitions.CFLicenses`.
* Tree: items that are `isChildOf` the document are areas; their children are
  competences. Deeper items are **flattened** into their top-level competence as
  `narrower` items (id, code, name), not kept as competences: in competency frameworks
  the third level is usually per-level indicators (Circular 02's `1.2.NC1a`) and status
  is kept per competence, so making indicators peers of competences would double-count
  them in area roll-ups. Evidence that names an indicator's IRI still resolves to its
  competence through `Framework.resolve`.
* A document whose top-level items have no children at all (a flat list) gets one
  synthetic area, named after the document, holding every item as a competence; its IRI
  is a name-based UUID URN derived from the document IRI, so it is stable across
  imports. A document that mixes childless top-level items with areas is refused,
  naming the childless item, because there is no honest place to put it.
* Order: siblings follow `sequenceNumber`, then the order of the associations.
* Text: `humanCodingScheme` -> code (else a positional code "2", "2.3"),
  `fullStatement` -> name. The language of every text is the item's `language`, else the
  document's `language`, else the caller's `language` argument, else "und"
  (undetermined, BCP 47), because guessing "en" would mislabel non-English frameworks.
* Crosswalks: `exactMatchOf` -> exactMatch and `isRelatedTo` -> related, between one of
  this document's competences and a node outside the document (either direction; both
  relations are symmetric). Associations between two nodes of the same document, or
  touching an area or an indicator, are not crosswalks and are skipped. Other
  association types (precedes, isPeerOf, isPartOf, replacedBy, exemplar, hasSkillLevel)
  are ignored.
* Levels: CASE has no proficiency scale. The caller passes `levels` in our format
  (e.g. copied from a bundled framework); without them the framework gets one level,
  `achieved` (rank 1), so status is binary: not started, in progress, achieved.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from lrs.xapi.errors import ValidationError

__all__ = ["DEFAULT_LEVELS", "import_case"]

DEFAULT_LEVELS: tuple[dict[str, Any], ...] = (
    {
        "id": "https://w3id.org/lrs/frameworks/levels/achieved",
        "code": "achieved",
        "rank": 1,
        "name": {"en": "Achieved", "vi": "Đạt"},
    },
)

_CROSSWALK_TYPES = {"exactMatchOf": "exactMatch", "isRelatedTo": "related"}
_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]+")
_UNSET = float("inf")


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", field)


def import_case(
    package: Mapping[str, Any],
    levels: Sequence[Mapping[str, Any]] | None = None,
    *,
    language: str | None = None,
) -> dict[str, Any]:
    """Convert a CASE 1.0 package (with or without the `CFPackage` wrapper) into a
    framework dict in our format. Raises ValidationError naming the CASE field when the
    package cannot be mapped; the result still has to pass `load_framework`.
    """
    if not isinstance(package, Mapping):
        raise ValidationError("a CASE package must be a JSON object", None)
    prefix = ""
    if "CFPackage" in package and "CFDocument" not in package:
        package = package["CFPackage"]
        prefix = "CFPackage."
        if not isinstance(package, Mapping):
            raise _invalid("CFPackage", "must be an object")
    return _Importer(package, prefix, language).run(levels)


class _Importer:
    """One conversion; holds the indexes built from the package."""

    def __init__(self, package: Mapping[str, Any], prefix: str, language: str | None) -> None:
        self.prefix = prefix
        document = package.get("CFDocument")
        if not isinstance(document, Mapping):
            raise _invalid(f"{prefix}CFDocument", "is required and must be an object")
        self.document = document
        self.doc_identifier = self._text(document, "identifier", f"{prefix}CFDocument")
        self.doc_iri = self._iri_of(document, f"{prefix}CFDocument")
        self.language = _string(document.get("language")) or language or "und"
        items = package.get("CFItems", [])
        associations = package.get("CFAssociations", [])
        if not isinstance(items, list):
            raise _invalid(f"{prefix}CFItems", "must be an array")
        if not isinstance(associations, list):
            raise _invalid(f"{prefix}CFAssociations", "must be an array")
        self.items: dict[str, Mapping[str, Any]] = {}
        self.item_paths: dict[str, str] = {}
        # Associations may point at a node by identifier or by uri; index both.
        self.by_uri: dict[str, str] = {}
        for index, item in enumerate(items):
            at = f"{prefix}CFItems[{index}]"
            if not isinstance(item, Mapping):
                raise _invalid(at, "must be an object")
            identifier = self._text(item, "identifier", at)
            if identifier in self.items:
                raise _invalid(f"{at}.identifier", "repeats an earlier item's identifier")
            self.items[identifier] = item
            self.item_paths[identifier] = at
            uri = _string(item.get("uri"))
            if uri:
                self.by_uri[uri] = identifier
        self.associations = associations
        self.definitions = package.get("CFDefinitions") or {}

    # ------------------------------------------------------------------ helpers

    def _text(self, node: Mapping[str, Any], key: str, at: str) -> str:
        value = _string(node.get(key))
        if not value:
            raise _invalid(f"{at}.{key}", "is required and must be a non-empty string")
        return value

    def _iri_of(self, node: Mapping[str, Any], at: str) -> str:
        """A CASE node's IRI: its `uri`, else a URN from its identifier (CASE requires
        identifiers to be UUIDs, and `urn:uuid:` keeps them globally unique)."""
        uri = _string(node.get("uri"))
        if uri:
            if not _IRI.fullmatch(uri):
                raise _invalid(f"{at}.uri", "must be an absolute IRI")
            return uri
        identifier = self._text(node, "identifier", at)
        return f"urn:uuid:{identifier}" if _is_uuid(identifier) else f"urn:case:{identifier}"

    def _node_key(self, link: object, at: str) -> str:
        """Which node a LinkGenURI names: the document, an item (by identifier), or an
        outside node (returned as its IRI, prefixed so it cannot look like an item key)."""
        if not isinstance(link, Mapping):
            raise _invalid(at, "must be an object with identifier and uri")
        identifier = _string(link.get("identifier"))
        uri = _string(link.get("uri"))
        if identifier == self.doc_identifier or (uri and uri == self.doc_iri):
            return "document"
        if identifier and identifier in self.items:
            return identifier
        if uri and uri in self.by_uri:
            return self.by_uri[uri]
        if uri and _IRI.fullmatch(uri):
            return "outside:" + uri
        if identifier:
            return "outside:" + (
                f"urn:uuid:{identifier}" if _is_uuid(identifier) else f"urn:case:{identifier}"
            )
        raise _invalid(at, "names no node: it needs an identifier or a uri")

    def _lang_map(self, value: str, node: Mapping[str, Any]) -> dict[str, str]:
        return {_string(node.get("language")) or self.language: value}

    # ------------------------------------------------------------------ conversion

    def run(self, levels: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
        children: dict[str, list[tuple[float, int, str]]] = {}
        walks: list[tuple[str, str, str, str]] = []
        for index, association in enumerate(self.associations):
            at = f"{self.prefix}CFAssociations[{index}]"
            if not isinstance(association, Mapping):
                raise _invalid(at, "must be an object")
            kind = association.get("associationType")
            if kind != "isChildOf" and kind not in _CROSSWALK_TYPES:
                continue
            origin = self._node_key(association.get("originNodeURI"), f"{at}.originNodeURI")
            destination = self._node_key(
                association.get("destinationNodeURI"), f"{at}.destinationNodeURI"
            )
            if kind == "isChildOf":
                if origin == "document" or origin.startswith("outside:"):
                    continue  # not part of this document's tree
                sequence = association.get("sequenceNumber")
                order = float(sequence) if isinstance(sequence, int | float) else _UNSET
                children.setdefault(destination, []).append((order, index, origin))
            else:
                walks.append((origin, destination, _CROSSWALK_TYPES[kind], at))
        for siblings in children.values():
            siblings.sort()

        top = [key for _, _, key in children.get("document", [])]
        if not top:
            raise _invalid(
                f"{self.prefix}CFAssociations",
                "no item is isChildOf the CFDocument: the package has no framework tree",
            )
        areas = self._areas(top, children)
        competence_iris = {
            self._iri_of(self.items[key], self.item_paths[key])
            for area in areas
            for key in area.pop("_keys")
        }
        framework: dict[str, Any] = {
            "id": self.doc_iri,
            "version": self._version(),
            "title": self._lang_map(
                self._text(self.document, "title", self._doc_at), self.document
            ),
        }
        description = _string(self.document.get("description"))
        if description:
            framework["description"] = self._lang_map(description, self.document)
        framework["source"] = self._source()
        licence = self._licence()
        if licence:
            framework["licence"] = licence
        framework["notes"] = (
            "Imported from a 1EdTech CASE package by lrs.competency.case; IRIs are the CASE "
            "uris. CASE has no proficiency levels: levels were "
            + ("supplied by the importer's caller." if levels else "defaulted to one level.")
        )
        framework["levels"] = [copy.deepcopy(dict(level)) for level in (levels or DEFAULT_LEVELS)]
        framework["areas"] = areas
        crosswalks = self._crosswalks(walks, competence_iris)
        if crosswalks:
            framework["crosswalks"] = crosswalks
        return framework

    @property
    def _doc_at(self) -> str:
        return f"{self.prefix}CFDocument"

    def _areas(
        self, top: list[str], children: Mapping[str, list[tuple[float, int, str]]]
    ) -> list[dict[str, Any]]:
        with_children = [key for key in top if children.get(key)]
        if not with_children:
            # A flat list of items: one synthetic area holds them all.
            area_iri = "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, self.doc_iri + "#area"))
            competences = [
                self._competence(key, str(position), children)
                for position, key in enumerate(top, start=1)
            ]
            return [
                {
                    "id": area_iri,
                    "code": "1",
                    "name": self._lang_map(
                        self._text(self.document, "title", self._doc_at), self.document
                    ),
                    "competences": competences,
                    "_keys": top,
                }
            ]
        areas: list[dict[str, Any]] = []
        for position, key in enumerate(top, start=1):
            at = self.item_paths[key]
            kids = [k for _, _, k in children.get(key, [])]
            if not kids:
                raise _invalid(
                    at,
                    "is a top-level item without children while other top-level items are "
                    "areas: it is neither an area nor a competence",
                )
            item = self.items[key]
            code = _string(item.get("humanCodingScheme")) or str(position)
            areas.append(
                {
                    "id": self._iri_of(item, at),
                    "code": code,
                    "name": self._lang_map(self._text(item, "fullStatement", at), item),
                    "competences": [
                        self._competence(kid, f"{code}.{n}", children)
                        for n, kid in enumerate(kids, start=1)
                    ],
                    "_keys": kids,
                }
            )
        return areas

    def _competence(
        self, key: str, fallback_code: str, children: Mapping[str, list[tuple[float, int, str]]]
    ) -> dict[str, Any]:
        item = self.items[key]
        at = self.item_paths[key]
        competence: dict[str, Any] = {
            "id": self._iri_of(item, at),
            "code": _string(item.get("humanCodingScheme")) or fallback_code,
            "name": self._lang_map(self._text(item, "fullStatement", at), item),
        }
        narrower = []
        for descendant in self._descendants(key, children):
            d_item = self.items[descendant]
            d_at = self.item_paths[descendant]
            entry: dict[str, Any] = {"id": self._iri_of(d_item, d_at)}
            code = _string(d_item.get("humanCodingScheme"))
            if code:
                entry["code"] = code
            statement = _string(d_item.get("fullStatement"))
            if statement:
                entry["name"] = self._lang_map(statement, d_item)
            narrower.append(entry)
        if narrower:
            competence["narrower"] = narrower
        return competence

    def _descendants(
        self, key: str, children: Mapping[str, list[tuple[float, int, str]]]
    ) -> list[str]:
        """Depth-first, in sibling order; an item reached twice (CASE allows an item under
        two parents) is listed once, and a cycle cannot loop."""
        out: list[str] = []
        seen = {key}
        stack = [k for _, _, k in reversed(children.get(key, []))]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            out.append(current)
            stack.extend(k for _, _, k in reversed(children.get(current, [])))
        return out

    def _crosswalks(
        self, walks: list[tuple[str, str, str, str]], competence_iris: set[str]
    ) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for origin, destination, relation, _at in walks:
            pair = self._crosswalk_pair(origin, destination, competence_iris)
            if pair is None or pair in seen:
                continue
            seen.add(pair)
            out.append({"from": pair[0], "to": pair[1], "relation": relation})
        return out

    def _crosswalk_pair(
        self, origin: str, destination: str, competence_iris: set[str]
    ) -> tuple[str, str] | None:
        """(our competence, outside node), whichever end is ours; None if not a crosswalk."""
        for ours, theirs in ((origin, destination), (destination, origin)):
            if ours in self.items and theirs.startswith("outside:"):
                iri = self._iri_of(self.items[ours], self.item_paths[ours])
                if iri in competence_iris:
                    return iri, theirs.removeprefix("outside:")
        return None

    def _version(self) -> str:
        version = _string(self.document.get("version"))
        if version:
            return version
        changed = _string(self.document.get("lastChangeDateTime"))
        return changed[:10] if changed else "unversioned"

    def _source(self) -> dict[str, str]:
        publisher = _string(self.document.get("publisher")) or _string(self.document.get("creator"))
        if not publisher:
            raise _invalid(f"{self._doc_at}.creator", "is required (CASE requires creator)")
        source = {
            "publisher": publisher,
            "document": self._text(self.document, "title", self._doc_at),
        }
        url = _string(self.document.get("officialSourceURL")) or _string(self.document.get("uri"))
        if url and _IRI.fullmatch(url):
            source["url"] = url
        date = _string(self.document.get("statusStartDate")) or _string(
            self.document.get("lastChangeDateTime")
        )
        if date and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", date[:10]):
            source["date"] = date[:10]
        return source

    def _licence(self) -> str | None:
        link = self.document.get("licenseURI")
        if not isinstance(link, Mapping):
            return None
        identifier = _string(link.get("identifier"))
        licences = (
            self.definitions.get("CFLicenses") if isinstance(self.definitions, Mapping) else None
        )
        for licence in licences or ():
            if (
                isinstance(licence, Mapping)
                and identifier
                and licence.get("identifier") == identifier
            ):
                title = _string(licence.get("title"))
                if title:
                    return title
        return _string(link.get("title")) or _string(link.get("uri")) or None


def _string(value: object) -> str:
    """The stripped string, or "" for anything that is not a non-blank string."""
    return value.strip() if isinstance(value, str) else ""


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
