"""OneRoster records -> classes, identity links and scored statements (pure).

Two things come out of an export:

- the roster: each class (with its students) as a group the query API can list, including
  learners who have no statement yet, and the identity links for users whose national ID
  number the export carries (only ever as its pseudonym);
- the gradebook: each result (a learner's score on a line item) as one `scored` statement,
  whose object is the line item and whose context grouping is the class, so that profiles
  and class views find it.

Learners are xAPI accounts on the school information system (`homePage` = its URL, `name`
= the user's sourcedId): sourcedIds are the one identifier every OneRoster file shares, and
they are stable across exports. Statement ids are UUID v5 of the SIS and the result's
sourcedId: a re-export of the same grade gives the same statement (an LRS keeps the first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.base import MappingError, statement_id
from connectors.oneroster.files import Export, Row
from connectors.tabular import BadRecord, to_number, to_timestamp
from lrs.national_id import DEFAULT_HOME_PAGE, pseudonymise
from lrs.rosters import class_definition
from lrs.xapi.agent_keys import agent_key
from lrs.xapi.errors import XAPIError
from lrs.xapi.validation import validate_statement

SCORED = "http://adlnet.gov/expapi/verbs/scored"
ASSESSMENT = "http://adlnet.gov/expapi/activities/assessment"
COURSE = "http://adlnet.gov/expapi/activities/course"
# Result states without a score to report (OneRoster scoreStatus vocabulary).
NO_SCORE = {"exempt", "not submitted", "notsubmitted"}
DELETED = "tobedeleted"


def source_name(sis: str) -> str:
    """The source system in statement ids and checkpoints."""
    return "oneroster:" + sis


def account(sis: str, user: str) -> dict[str, str]:
    return {"homePage": sis, "name": user}


def learner(sis: str, user: str) -> str:
    key = agent_key({"account": account(sis, user)})
    assert key is not None
    return key


def class_iri(sis: str, class_id: str) -> str:
    return f"{sis}/classes/{class_id}"


def line_item_iri(sis: str, line_item: str) -> str:
    return f"{sis}/lineItems/{line_item}"


def _deleted(row: Row) -> bool:
    return row.get("status").lower().replace(" ", "") == DELETED


def _label(file: str, row: Row) -> str:
    return f"{file} line {row.line}"


def full_name(row: Row) -> str:
    given = row.get("preferredGivenName") or row.get("givenName")
    family = row.get("preferredFamilyName") or row.get("familyName")
    return " ".join(part for part in (given, family) if part)


# --- roster --------------------------------------------------------------------------------


@dataclass
class Roster:
    classes: list[dict[str, Any]] = field(default_factory=list)  # lrs.rosters definitions
    deleted: list[str] = field(default_factory=list)  # class IRIs the school deleted
    links: list[tuple[str, list[str]]] = field(default_factory=list)  # (person, keys)
    problems: list[tuple[str, str]] = field(default_factory=list)
    students: int = 0
    # A delta export (manifest: file.enrollments,delta) lists changed enrollments only: its
    # students are added to the stored class, and those marked tobedeleted removed, instead
    # of replacing the class's member list.
    delta: bool = False
    added: dict[str, set[str]] = field(default_factory=dict)  # class IRI -> learner keys
    removed: dict[str, set[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class NationalIds:
    """Where a national ID number may be, and how to pseudonymise it."""

    column: str
    secret: bytes
    home_page: str = DEFAULT_HOME_PAGE


def build_roster(export: Export, sis: str, national: NationalIds | None = None) -> Roster:
    """Classes with their students and teachers, and national-ID identity links."""
    roster = Roster()
    orgs = {r.get("sourcedId"): r.get("name") for r in _rows(export, "orgs")}
    courses = {r.get("sourcedId"): r.get("title") for r in _rows(export, "courses")}
    classes: dict[str, Row] = {}
    for row in _rows(export, "classes"):
        class_id = row.get("sourcedId")
        if not class_id:
            roster.problems.append((_label(_file(export, "classes"), row), "no sourcedId"))
        elif _deleted(row):
            roster.deleted.append(class_iri(sis, class_id))
        else:
            classes[class_id] = row
    students: dict[str, set[str]] = {c: set() for c in classes}
    teachers: dict[str, set[str]] = {c: set() for c in classes}
    deleted = {iri.rsplit("/", 1)[-1] for iri in roster.deleted}
    enrollments = _file(export, "enrollments")
    roster.delta = "enrollments" in export.delta
    for row in _rows(export, "enrollments"):
        class_id, user, role = row.get("classSourcedId"), row.get("userSourcedId"), row.get("role")
        where = _label(enrollments, row)
        if class_id in deleted:
            continue
        if not class_id or not user:
            roster.problems.append((where, "classSourcedId and userSourcedId are required"))
        elif roster.delta:
            if role.lower() == "student":
                change = roster.removed if _deleted(row) else roster.added
                change.setdefault(class_iri(sis, class_id), set()).add(learner(sis, user))
        elif _deleted(row):
            continue
        elif class_id not in classes:
            roster.problems.append((where, f"class {class_id!r} is not in classes.csv"))
        elif role.lower() == "student":
            students[class_id].add(learner(sis, user))
        elif role.lower() == "teacher":
            teachers[class_id].add(learner(sis, user))
    for class_id, row in classes.items():
        school, course = row.get("schoolSourcedId"), row.get("courseSourcedId")
        definition = class_definition(
            class_iri(sis, class_id),
            row.get("title"),
            students[class_id],
            school=f"{sis}/orgs/{school}" if school else None,
            course=f"{sis}/courses/{course}" if course else None,
            teachers=teachers[class_id],
        )
        definition["schoolName"] = orgs.get(school) or None
        definition["courseTitle"] = courses.get(course) or None
        definition["classCode"] = row.get("classCode") or None
        roster.classes.append(definition)
    every = [*students.values(), *roster.added.values()]
    roster.students = len(set().union(*every)) if every else 0
    if national is not None:
        _national_links(export, sis, national, roster)
    return roster


def _national_links(export: Export, sis: str, national: NationalIds, roster: Roster) -> None:
    """Link each user's SIS account to the pseudonymous account of their national ID.

    The number itself goes nowhere: not into the store, not into a report."""
    found: list[tuple[str, str, str]] = []  # (where, user, number)
    for name, user_column in (("users", "sourcedId"), ("userProfiles", "userSourcedId")):
        file = _file(export, name)
        for row in _rows(export, name):
            number = row.get(national.column)
            if number and not _deleted(row):
                found.append((_label(file, row), row.get(user_column), number))
    seen: set[str] = set()
    for where, user, number in found:
        if not user or user in seen:
            continue
        seen.add(user)
        try:
            pseudonym = pseudonymise(number, national.secret, national.home_page)
        except XAPIError as exc:
            roster.problems.append(
                (where, f"national ID column {national.column!r}: {exc.message}")
            )
            continue
        person = agent_key({"account": pseudonym})
        assert person is not None
        roster.links.append((person, sorted({person, learner(sis, user)})))


def _rows(export: Export, name: str) -> list[Row]:
    table = export.table(name)
    return table.rows if table is not None else []


def _file(export: Export, name: str) -> str:
    table = export.table(name)
    return table.file if table is not None else f"{name}.csv"


# --- gradebook -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LineItem:
    title: str
    description: str
    class_id: str
    minimum: float | int | None
    maximum: float | int | None
    problem: str | None = None  # why results on it cannot be mapped


@dataclass(frozen=True)
class Gradebook:
    """What a result needs from the other files, read once per run."""

    sis: str
    language: str
    line_items: dict[str, LineItem]
    class_titles: dict[str, str]
    names: dict[str, str]


def build_gradebook(export: Export, sis: str, language: str = "en") -> Gradebook:
    items: dict[str, LineItem] = {}
    file = _file(export, "lineItems")
    for row in _rows(export, "lineItems"):
        item_id = row.get("sourcedId")
        if not item_id or _deleted(row):
            continue
        problem = None
        bounds: list[float | int | None] = []
        for column in ("resultValueMin", "resultValueMax"):
            text = row.get(column)
            try:
                bounds.append(to_number(text) if text else None)
            except ValueError as exc:
                bounds.append(None)
                problem = f"line item {item_id!r} ({_label(file, row)}): {column} {exc}"
        low, high = bounds
        if problem is None and low is not None and high is not None and low > high:
            problem = (
                f"line item {item_id!r} ({_label(file, row)}): resultValueMin > resultValueMax"
            )
        items[item_id] = LineItem(
            row.get("title"), row.get("description"), row.get("classSourcedId"), low, high, problem
        )
    titles = {r.get("sourcedId"): r.get("title") for r in _rows(export, "classes")}
    names = {r.get("sourcedId"): full_name(r) for r in _rows(export, "users")}
    return Gradebook(sis, language, items, titles, names)


def result_statement(book: Gradebook, row: Row) -> list[dict[str, Any]]:
    """One result row -> its scored statement; none for a result without a score."""
    if _deleted(row):
        return []
    status = row.get("scoreStatus").lower()
    text = row.get("score")
    if not text or status in NO_SCORE:
        return []
    result_id, item_id, student = (
        row.get("sourcedId"), row.get("lineItemSourcedId"), row.get("studentSourcedId")
    )  # fmt: skip
    if not result_id:
        raise MappingError("no sourcedId")
    if not student:
        raise MappingError("no studentSourcedId")
    item = book.line_items.get(item_id)
    if item is None:
        raise MappingError(f"line item {item_id!r} is not in lineItems.csv")
    if item.problem:
        raise MappingError(item.problem)
    try:
        raw = to_number(text)
    except ValueError as exc:
        raise MappingError(f"score {exc}") from None
    score: dict[str, Any] = {"raw": raw}
    if item.minimum is not None:
        if raw < item.minimum:
            raise MappingError(
                f"score {raw} is below the line item's resultValueMin {item.minimum}"
            )
        score["min"] = item.minimum
    if item.maximum is not None:
        if raw > item.maximum:
            raise MappingError(
                f"score {raw} is above the line item's resultValueMax {item.maximum}"
            )
        score["max"] = item.maximum
    if item.minimum is not None and item.maximum is not None and item.maximum > item.minimum:
        # scaled lets alignment rules ("scaled >= 0.8") read gradebook scores like any other
        score["scaled"] = round((raw - item.minimum) / (item.maximum - item.minimum), 4)
    when = row.get("scoreDate") or row.get("dateLastModified")
    actor: dict[str, Any] = {"objectType": "Agent", "account": account(book.sis, student)}
    name = book.names.get(student)
    if name:
        actor["name"] = name
    definition: dict[str, Any] = {"type": ASSESSMENT}
    if item.title:
        definition["name"] = {book.language: item.title}
    if item.description:
        definition["description"] = {book.language: item.description}
    class_id = row.get("classSourcedId") or item.class_id
    statement: dict[str, Any] = {
        "id": statement_id(source_name(book.sis), result_id),
        "actor": actor,
        "verb": {"id": SCORED, "display": {"en-US": "scored"}},
        "object": {
            "objectType": "Activity",
            "id": line_item_iri(book.sis, item_id),
            "definition": definition,
        },
        "result": {"score": score},
    }
    if class_id:
        grouping: dict[str, Any] = {"objectType": "Activity", "id": class_iri(book.sis, class_id)}
        title = book.class_titles.get(class_id)
        grouping["definition"] = {
            "type": COURSE,
            **({"name": {book.language: title}} if title else {}),
        }
        statement["context"] = {"contextActivities": {"grouping": [grouping]}}
    if when:
        try:
            statement["timestamp"] = to_timestamp(when)
        except ValueError as exc:
            column = "scoreDate" if row.get("scoreDate") else "dateLastModified"
            raise MappingError(f"{column} {exc}") from None
    try:
        validate_statement(statement, "1.0.3")
    except XAPIError as exc:
        raise MappingError(f"invalid statement ({exc.field}): {exc.message}") from None
    return [statement]


def mapping_for(book: Gradebook) -> Callable[[Any], list[dict[str, Any]]]:
    """The pure mapping the run applies to each record the reader yields."""

    def mapping(record: Any) -> list[dict[str, Any]]:
        if isinstance(record, BadRecord):
            raise MappingError(record.reason)
        return result_statement(book, record)

    return mapping
