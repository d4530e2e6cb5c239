"""Realistic xAPI statements, generated deterministically from a seed.

Why deterministic: two runs (or two LRSs in one run) must receive the very same statements,
and the query phase must be able to name learners, activities and registrations that really
are in the store without keeping a million statements in memory. Statement `i` depends only
on (seed, i, population), so it can be regenerated anywhere, in any order.

The shape follows what LMSs and cmi5/SCORM players send: an identified learner (LMS account
or e-mail), an ADL verb with a display map, a course activity with a bilingual definition, a
context with registration, parent (module), grouping (course), category, instructor,
platform, language and extensions, and a result with score, success, completion, duration.
Serialised, a statement weighs about 1 KB.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import orjson

LMS = "https://lms.example.edu.vn"
NAMESPACE = uuid.UUID("6f1c8c5e-3b7a-4c1e-9d3f-2a5b8e7c9d10")
BASE_TIME = datetime(2025, 9, 1, 7, 0, tzinfo=UTC)

# (verb id, display, weight): what a real course's traffic looks like, reading dominates.
VERBS: tuple[tuple[str, str, int], ...] = (
    ("http://adlnet.gov/expapi/verbs/experienced", "experienced", 26),
    ("http://adlnet.gov/expapi/verbs/answered", "answered", 20),
    ("http://adlnet.gov/expapi/verbs/attempted", "attempted", 12),
    ("http://adlnet.gov/expapi/verbs/progressed", "progressed", 9),
    ("http://adlnet.gov/expapi/verbs/completed", "completed", 9),
    ("http://adlnet.gov/expapi/verbs/passed", "passed", 6),
    ("http://adlnet.gov/expapi/verbs/failed", "failed", 3),
    ("http://adlnet.gov/expapi/verbs/launched", "launched", 5),
    ("http://adlnet.gov/expapi/verbs/initialized", "initialized", 3),
    ("http://adlnet.gov/expapi/verbs/terminated", "terminated", 3),
    ("http://adlnet.gov/expapi/verbs/commented", "commented", 2),
    ("http://id.tincanapi.com/verb/viewed", "viewed", 2),
)
_VERB_WEIGHTS = [w for _, _, w in VERBS]
_SCORED = {"answered", "passed", "failed", "completed", "attempted"}
_SUBJECTS = (
    ("Digital literacy", "Năng lực số"),
    ("Information and data", "Thông tin và dữ liệu"),
    ("Communication and collaboration", "Giao tiếp và hợp tác"),
    ("Digital content creation", "Sáng tạo nội dung số"),
    ("Safety online", "An toàn trực tuyến"),
    ("Problem solving", "Giải quyết vấn đề"),
    ("Mathematics 10", "Toán 10"),
    ("Physics 11", "Vật lý 11"),
)
_ACTIVITY_TYPES = (
    ("lesson", "http://adlnet.gov/expapi/activities/lesson"),
    ("question", "http://adlnet.gov/expapi/activities/cmi.interaction"),
    ("assessment", "http://adlnet.gov/expapi/activities/assessment"),
    ("media", "http://adlnet.gov/expapi/activities/media"),
    ("simulation", "http://adlnet.gov/expapi/activities/simulation"),
    ("link", "http://adlnet.gov/expapi/activities/link"),
)
MODULES_PER_COURSE = 8
ACTIVITIES_PER_MODULE = 6
COURSES_PER_LEARNER = 3


@dataclass(frozen=True)
class Population:
    """Who and what the statements are about, sized for the store being built.

    About 50 statements per learner and 5,000 per course, as in a school year of a
    mid-sized programme: an agent query returns a page or less, a verb query many pages.
    """

    learners: int
    courses: int
    instructors: int = 40

    @classmethod
    def for_statements(cls, total: int) -> Population:
        return cls(learners=max(100, total // 50), courses=max(10, total // 5000))

    # identities ------------------------------------------------------------------------------
    def learner(self, n: int) -> dict[str, Any]:
        """Most learners have an LMS account; one in four is known by e-mail only."""
        name = f"Học viên {n:07d}"
        if n % 4 == 3:
            return {"objectType": "Agent", "name": name, "mbox": f"mailto:learner{n}@school.example.edu.vn"}
        return {
            "objectType": "Agent",
            "name": name,
            "account": {"homePage": LMS, "name": f"hv{n:07d}"},
        }

    def courses_of(self, n: int) -> list[int]:
        """The courses learner `n` is enrolled in (each enrolment is one registration)."""
        return [(n * 7919 + k * 104_729) % self.courses for k in range(COURSES_PER_LEARNER)]

    def registration(self, learner: int, course: int) -> str:
        return str(uuid.uuid5(NAMESPACE, f"registration:{learner}:{course}"))

    def course_id(self, course: int) -> str:
        return f"{LMS}/course/{course}"

    def module_id(self, course: int, module: int) -> str:
        return f"{LMS}/course/{course}/module/{module}"

    def activity_id(self, course: int, module: int, activity: int) -> str:
        kind = _ACTIVITY_TYPES[activity % len(_ACTIVITY_TYPES)][0]
        return f"{LMS}/course/{course}/module/{module}/{kind}/{activity}"


def agent_param(agent: dict[str, Any]) -> str:
    """The `agent` query parameter for an agent: its IFI only, JSON, URL-encoded."""
    ifi = {k: agent[k] for k in ("mbox", "account") if k in agent}
    return quote(orjson.dumps(ifi).decode(), safe="")


def _duration(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"PT{hours}H{minutes}M{secs}S" if hours else f"PT{minutes}M{secs}S"


def make_statement(i: int, population: Population, seed: int = 1) -> dict[str, Any]:
    """Statement number `i` of the run with this seed: the same dict every time."""
    rng = random.Random(seed * 1_000_000_007 + i)
    # Mild skew: some learners are far more active than others, as in real courses.
    learner = int(population.learners * rng.random() ** 1.3)
    course = rng.choice(population.courses_of(learner))
    module = rng.randrange(MODULES_PER_COURSE)
    activity = rng.randrange(ACTIVITIES_PER_MODULE)
    verb_id, verb_name, _ = rng.choices(VERBS, _VERB_WEIGHTS)[0]
    subject_en, subject_vi = _SUBJECTS[course % len(_SUBJECTS)]
    kind, activity_type = _ACTIVITY_TYPES[activity % len(_ACTIVITY_TYPES)]
    when = BASE_TIME + timedelta(seconds=i * 29 + rng.randrange(29), milliseconds=rng.randrange(1000))
    instructor = (course * 31) % population.instructors

    statement: dict[str, Any] = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "actor": population.learner(learner),
        "verb": {"id": verb_id, "display": {"en-US": verb_name}},
        "object": {
            "objectType": "Activity",
            "id": population.activity_id(course, module, activity),
            "definition": {
                "type": activity_type,
                "name": {
                    "en-US": f"{subject_en}, module {module + 1}: {kind} {activity + 1}",
                    "vi-VN": f"{subject_vi}, chương {module + 1}: bài {activity + 1}",
                },
            },
        },
        "context": {
            "registration": population.registration(learner, course),
            "instructor": {
                "objectType": "Agent",
                "name": f"Giáo viên {instructor:03d}",
                "mbox": f"mailto:teacher{instructor}@school.example.edu.vn",
            },
            "contextActivities": {
                "parent": [{"id": population.module_id(course, module)}],
                "grouping": [{"id": population.course_id(course)}],
                "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/moveon"}],
            },
            "platform": "Moodle 4.3",
            "language": "vi-VN",
            "extensions": {
                f"{LMS}/xapi/ext/attempt": rng.randrange(1, 4),
                f"{LMS}/xapi/ext/school": f"THPT {course % 97:02d}",
            },
        },
        "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if verb_name in _SCORED:
        raw = rng.randrange(0, 101)
        statement["result"] = {
            "score": {"scaled": raw / 100, "raw": raw, "min": 0, "max": 100},
            "success": verb_name == "passed" or (verb_name != "failed" and raw >= 50),
            "completion": verb_name in ("completed", "passed", "failed"),
            "duration": _duration(rng.randrange(20, 3600)),
        }
        if verb_name == "answered":
            statement["result"]["response"] = rng.choice(("a", "b", "c", "d", "a[,]c"))
    elif verb_name in ("experienced", "progressed", "terminated"):
        statement["result"] = {"duration": _duration(rng.randrange(5, 1800)), "completion": False}
    return statement


def statements(start: int, stop: int, population: Population, seed: int = 1) -> Iterator[dict[str, Any]]:
    for i in range(start, stop):
        yield make_statement(i, population, seed)


def batch_body(start: int, size: int, population: Population, seed: int = 1) -> bytes:
    """One POST body: a JSON array of `size` statements (or a single object for size 1)."""
    batch = [make_statement(i, population, seed) for i in range(start, start + size)]
    return orjson.dumps(batch[0] if size == 1 else batch)
