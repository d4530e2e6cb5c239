"""`lrs demo`: a realistic, fictional province in one command.

Three communes and wards, five organisations (two schools, a community learning centre,
a ward office, an enterprise), five classes with rosters and names, persons of the four
target groups of Decision 757/QĐ-BKHCN each linked to a pseudonymous national e-ID
account, courses aligned to the three bundled frameworks (a school course to Circular
02/2025, the "Bình dân học vụ số" course to Decision 757, a civil-service course to
DigComp 2.2), and eight weeks of statements with failed attempts, retakes, voided
statements and inactive persons. Afterwards every status endpoint has something to show:
class matrices, persons confirmed under Decision 757 through crosswalks, aggregates by
commune and target group, state changes over the weeks, the export for VNeID.

Everything is deterministic (a fixed seed, UUID v5 statement ids), so running it again
changes nothing. All names, places and identifiers are made up.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lrs.competency.aggregates import save_organisation
from lrs.competency.registry import import_rules
from lrs.national_id import pseudonymise
from lrs.ports import Store
from lrs.rosters import (
    class_definition,
    note_placement_change,
    person_record,
    save_class,
    save_person,
)
from lrs.xapi.errors import XAPIError

SITE = "https://hoc.demo-province.gov.vn"
VNEID = "https://vneid.gov.vn"
IDS = uuid.UUID("d3a0d3a0-757d-4c02-8d10-000000000000")
DEMO_SECRET = b"demo-province-secret-not-for-production"
VERBS = "http://adlnet.gov/expapi/verbs/"
DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
CIRCULAR = "https://w3id.org/lrs/frameworks/vn-circular-02/2025"
D757 = "https://w3id.org/lrs/frameworks/vn-decision-757/2025"
START = datetime(2025, 9, 8, 1, 0, tzinfo=UTC)  # Monday 08:00 in Viet Nam
WEEKS = 8

COMMUNES = {
    "xa-an-binh": "Xã An Bình",
    "xa-tan-lap": "Xã Tân Lập",
    "phuong-1": "Phường 1",
}
ORGS = {
    f"{SITE}/org/thpt-an-binh": ("Trường THPT An Bình", "xa-an-binh"),
    f"{SITE}/org/thcs-tan-lap": ("Trường THCS Tân Lập", "xa-tan-lap"),
    f"{SITE}/org/httcd-an-binh": ("Trung tâm học tập cộng đồng xã An Bình", "xa-an-binh"),
    f"{SITE}/org/ubnd-phuong-1": ("UBND Phường 1", "phuong-1"),
    f"{SITE}/org/may-tan-lap": ("Công ty TNHH May Tân Lập", "xa-tan-lap"),
}
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Hữu", "Thanh", "Quốc", "Thu"]
GIVEN = ["An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hải", "Hoa", "Hùng", "Lan", "Long",
         "Mai", "Nam", "Nga", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Vy"]  # fmt: skip


@dataclass(frozen=True)
class Course:
    id: str
    title: str
    framework: str
    # lesson slug -> (competence code, level code, minimum score or None: completion)
    lessons: dict[str, tuple[str, str, float | None]]


def _lessons_757() -> dict[str, tuple[str, str, float | None]]:
    codes = ["0.1", "0.2", "1.1", "1.2", "1.3", "2.1", "2.2", "3.1", "4.1", "4.2", "5.1", "6.1"]
    return {f"bai-{code}": (code, "PC", 0.7 if code[0] in "1456" else None) for code in codes}


COURSES = {
    "tin-hoc-10": Course(
        f"{SITE}/course/tin-hoc-10",
        "Tin học 10 (Thông tư 02/2025)",
        CIRCULAR,
        {
            "tim-kiem": ("1.1", "CB2", 0.7),
            "danh-gia-thong-tin": ("1.2", "CB2", 0.7),
            "quan-ly-du-lieu": ("1.3", "CB1", None),
            "tuong-tac": ("2.1", "CB2", None),
            "cong-dan-so": ("2.3", "CB2", 0.7),
            "noi-dung-so": ("3.1", "CB2", None),
            "bao-ve-thiet-bi": ("4.1", "CB2", 0.8),
            "suc-khoe-so": ("4.3", "CB2", None),
            "su-co-ky-thuat": ("5.1", "CB2", 0.7),
            "hieu-ai": ("6.1", "CB1", None),
            "dung-ai": ("6.2", "CB2", 0.7),
            "lap-trinh": ("3.4", "TC1", 0.8),
        },
    ),
    "bdhvs": Course(
        f"{SITE}/course/binh-dan-hoc-vu-so",
        "Bình dân học vụ số (Quyết định 757/QĐ-BKHCN)",
        D757,
        _lessons_757(),
    ),
    "cbcc": Course(
        f"{SITE}/course/boi-duong-cbcc",
        "Bồi dưỡng kỹ năng số cho cán bộ, công chức (DigComp 2.2)",
        DIGCOMP,
        {
            "khai-thac-du-lieu": ("1.1", "2", 0.7),
            "danh-gia-nguon": ("1.2", "2", 0.7),
            "luu-tru": ("1.3", "2", None),
            "giao-tiep": ("2.1", "2", None),
            "dich-vu-cong": ("2.3", "2", 0.8),
            "soan-thao": ("3.1", "2", None),
            "an-toan": ("4.1", "2", 0.8),
            "suc-khoe": ("4.3", "2", None),
            "xu-ly-su-co": ("5.1", "2", 0.7),
            "tu-dong-hoa": ("5.2", "4", 0.8),
        },
    ),
}

# class slug -> (title, organisation, target group, course slugs, size)
CLASSES = {
    "thpt-an-binh/10a1": ("Lớp 10A1", "thpt-an-binh", "pupils_students", ["tin-hoc-10", "bdhvs"], 14),
    "thcs-tan-lap/8a": ("Lớp 8A", "thcs-tan-lap", "pupils_students", ["tin-hoc-10"], 12),
    "httcd-an-binh/bdhvs-k1": ("Bình dân học vụ số K1", "httcd-an-binh", "citizens", ["bdhvs"], 14),
    "ubnd-phuong-1/cbcc-2025": ("Bồi dưỡng CBCC 2025", "ubnd-phuong-1", "public_servants", ["cbcc", "bdhvs"], 10),
    "may-tan-lap/cong-nhan": ("Công nhân may: kỹ năng số", "may-tan-lap", "enterprise_workers", ["bdhvs"], 12),
}  # fmt: skip


@dataclass
class Summary:
    organisations: int = 0
    classes: int = 0
    persons: int = 0
    statements: int = 0
    voided: int = 0
    rejected: list[str] = field(default_factory=list)


def _rules(course: Course) -> dict[str, Any]:
    return {
        "id": f"demo-{course.id.rsplit('/', 1)[-1]}",
        "framework": course.framework,
        "title": f"{course.title}: lessons -> {course.framework}",
        "rules": [
            {
                "id": slug,
                "competence": f"{course.framework}/competence/{code}",
                "level": level,
                "match": {"activity": f"{course.id}/{slug}"},
                "when": {"min_score": minimum} if minimum is not None else {"completed": True},
            }
            for slug, (code, level, minimum) in course.lessons.items()
        ],
    }


def _sid(*parts: str) -> str:
    return str(uuid.uuid5(IDS, "/".join(parts)))


def _statement(
    sid: str, agent: dict[str, Any], verb: str, activity: str, title: str, course: Course,
    group: str, at: datetime, result: dict[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    statement: dict[str, Any] = {
        "id": sid,
        "actor": agent,
        "verb": {"id": VERBS + verb, "display": {"en-US": verb, "vi": verb}},
        "object": {
            "objectType": "Activity",
            "id": activity,
            "definition": {
                "name": {"vi": title},
                "type": "http://adlnet.gov/expapi/activities/lesson",
            },
        },
        "context": {
            "contextActivities": {
                "parent": [{"objectType": "Activity", "id": course.id}],
                "grouping": [{"objectType": "Activity", "id": group}],
            },
            "platform": "Nền tảng học tập demo",
            "language": "vi-VN",
        },
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }
    if result is not None:
        statement["result"] = result
    return statement


def _people(rng: random.Random, count: int) -> list[str]:
    return [f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}" for _ in range(count)]


def build(seed: int = 2025) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """The demo as data (pure): statements, voiding statements, and the records to save
    (rosters, persons, organisations, rule sets, links), so tests can look at it whole."""
    rng = random.Random(seed)
    statements: list[dict[str, Any]] = []
    voids: list[dict[str, Any]] = []
    records: dict[str, Any] = {"classes": [], "persons": [], "links": {}, "rules": []}
    records["rules"] = [_rules(course) for course in COURSES.values()]
    number = 0
    for slug, (title, org_slug, group_code, courses, size) in CLASSES.items():
        org = f"{SITE}/org/{org_slug}"
        class_id = f"{SITE}/class/{slug}"
        names = _people(rng, size)
        members: dict[str, str] = {}
        for name in names:
            number += 1
            user = f"u{number:04d}"
            key = f"account:{SITE}|{user}"
            members[key] = name
            # a made-up 12-digit citizen number, only ever seen here as its HMAC
            eid = pseudonymise(f"0{number:011d}", DEMO_SECRET, VNEID)
            person = f"p-{user}"
            records["links"][person] = [key, f"account:{VNEID}|{eid['name']}"]
            records["persons"].append(
                person_record(person, name=name, target_group=group_code, org=org)
            )
            agent = {
                "objectType": "Agent",
                "name": name,
                "account": {"homePage": SITE, "name": user},
            }
            ability = rng.random()
            if ability < 0.12:
                continue  # enrolled, never started
            for course_slug in courses:
                course = COURSES[course_slug]
                lessons = list(course.lessons.items())
                # abler learners get further through the course in eight weeks
                reach = max(1, round(len(lessons) * min(1.0, 0.35 + ability)))
                for index, (lesson, (_, _, minimum)) in enumerate(lessons[:reach]):
                    week = min(WEEKS - 1, index * WEEKS // len(lessons))
                    at = START + timedelta(
                        weeks=week, days=rng.randrange(5), hours=rng.randrange(10),
                        minutes=number % 60,
                    )  # fmt: skip
                    activity = f"{course.id}/{lesson}"
                    tries = 1 + (rng.random() > ability) + (rng.random() > ability + 0.3)
                    for attempt in range(tries):
                        sid = _sid(person, activity, str(attempt))
                        at += timedelta(days=2 * attempt)
                        if minimum is None:
                            done = attempt == tries - 1 or rng.random() < 0.3
                            verb = "completed" if done else "attempted"
                            result: dict[str, Any] = {"completion": done}
                        else:
                            last = attempt == tries - 1
                            scaled = round(
                                min(1.0, (minimum + 0.05 + 0.25 * ability) if last else minimum - 0.2 * rng.random() - 0.01), 2
                            )  # fmt: skip
                            verb = "passed" if scaled >= minimum else "failed"
                            result = {
                                "completion": True,
                                "success": scaled >= minimum,
                                "score": {"raw": round(scaled * 10, 1), "min": 0, "max": 10, "scaled": scaled},
                            }  # fmt: skip
                        statements.append(
                            _statement(
                                sid, agent, verb, activity, lesson, course, class_id, at, result
                            )
                        )
                        # now and then a result is recorded for the wrong person and voided
                        if rng.random() < 0.03:
                            voids.append(
                                {
                                    "id": _sid("void", sid),
                                    "actor": {"objectType": "Agent", "name": "Giáo viên", "mbox": f"mailto:giao-vien@{org_slug}.demo.vn"},
                                    "verb": {"id": VERBS + "voided", "display": {"en-US": "voided"}},
                                    "object": {"objectType": "StatementRef", "id": sid},
                                    "timestamp": (at + timedelta(hours=20)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                                }
                            )  # fmt: skip
        records["classes"].append(
            class_definition(
                class_id,
                title,
                members,
                school=org,
                course=COURSES[courses[0]].id,
                names=members,
            )
        )
    return statements, voids, records


# Stores a batch of statements as the demo connector's; returns the refused ones, and why.
Ingest = Callable[[list[dict[str, Any]]], list[tuple[dict[str, Any], XAPIError]]]


def load_demo(
    store: Store, ingest: Ingest, process: Callable[[], object], seed: int = 2025
) -> Summary:
    """Write the demo province into `store`, its statements through `ingest`, and bring
    the projections up to date with `process` (lrs.cli composes both from the processors).
    """
    statements, voids, records = build(seed)
    summary = Summary()
    for org, (name, commune) in ORGS.items():
        save_organisation(store, {"id": org, "name": name, "commune": commune})
        summary.organisations += 1
    for rules in records["rules"]:
        import_rules(store, rules)
    for definition in records["classes"]:
        save_class(store, definition)
        summary.classes += 1
    for record in records["persons"]:
        save_person(store, record, note=False)
    for person, keys in records["links"].items():
        store.link_keys(person, keys)
    placed = [str(r["id"]) for r in records["persons"]]
    note_placement_change(store, keys=placed + [k for ks in records["links"].values() for k in ks])
    summary.persons = len(records["persons"])
    for batch_start in range(0, len(statements), 500):
        batch = statements[batch_start : batch_start + 500]
        for statement, error in ingest(batch):
            summary.rejected.append(f"{statement.get('id')}: {error.message}")
    for statement, error in ingest(voids):
        summary.rejected.append(f"{statement.get('id')}: {error.message}")
    summary.statements = len(statements)
    summary.voided = len(voids)
    process()
    return summary
