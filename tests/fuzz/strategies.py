"""Hypothesis strategies for xAPI statements: valid ones built from the structure of the
Data part (1.0.3 and 2.0), and broken ones made by mutating a valid one where it hurts.

Valid means valid in both versions: the generator stays inside what 1.0.3 and 2.0 agree on
(no `contextAgents`, no voiding verb without a StatementRef, revision and platform only with
an Activity object, scores ordered, fractions only on a duration's last component).
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

VERBS = [
    "http://adlnet.gov/expapi/verbs/completed",
    "http://adlnet.gov/expapi/verbs/passed",
    "http://adlnet.gov/expapi/verbs/answered",
    "https://w3id.org/xapi/dod-isd/verbs/accessed",
    "urn:x-lrs:verb:1",
]
LANGUAGE_TAGS = ["en-US", "vi", "vi-VN", "fr", "zh-Hans-CN", "und", "de-CH-1996", "x-private"]
INTERACTION_TYPES = ["true-false", "choice", "fill-in", "long-fill-in", "matching", "performance",
                     "sequencing", "likert", "numeric", "other"]

_PATH = st.text(alphabet=string.ascii_letters + string.digits + "-._~/", min_size=1, max_size=12)
iris = st.one_of(
    st.builds(lambda p: f"http://example.org/{p}", _PATH),
    st.builds(lambda p: f"https://lms.example.edu.vn/course/{p}", _PATH),
    st.builds(lambda p: f"urn:uuid:{p}", st.uuids().map(str)),
    st.sampled_from(["http://example.org/ü/ñ", "tag:example.org,2024:x", "http://a.b/c?d=e#f"]),
)
uuids = st.uuids().map(str)
short_text = st.text(max_size=20)
language_maps = st.dictionaries(st.sampled_from(LANGUAGE_TAGS), short_text, max_size=3)
json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15), short_text,
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(short_text, children, max_size=4)
    ),
    max_leaves=6,
)
extensions = st.dictionaries(iris, json_values, max_size=2)
emails = st.builds(
    lambda user, host: f"mailto:{user}@{host}.example.org",
    st.text(alphabet=string.ascii_lowercase + string.digits + "._+", min_size=1, max_size=10),
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8),
)
sha1s = st.binary(min_size=20, max_size=20).map(bytes.hex)
sha256s = st.binary(min_size=32, max_size=32).map(bytes.hex)


def _optional(base: dict[str, Any], **options: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` plus any subset of the optional properties."""
    return st.fixed_dictionaries(base, optional=options)  # type: ignore[arg-type]


accounts = st.fixed_dictionaries({"homePage": iris, "name": st.text(min_size=1, max_size=12)})
_ifis = st.one_of(
    st.fixed_dictionaries({"mbox": emails}),
    st.fixed_dictionaries({"mbox_sha1sum": sha1s}),
    st.fixed_dictionaries({"openid": iris}),
    st.fixed_dictionaries({"account": accounts}),
)
agents = st.builds(
    lambda ifi, extra: {**extra, **ifi},
    _ifis,
    _optional({}, objectType=st.just("Agent"), name=short_text),
)
anonymous_groups = st.builds(
    lambda members, extra: {"objectType": "Group", "member": members, **extra},
    st.lists(agents, min_size=1, max_size=3),
    _optional({}, name=short_text),
)
identified_groups = st.builds(
    lambda ifi, extra: {"objectType": "Group", **extra, **ifi},
    _ifis,
    _optional({}, name=short_text, member=st.lists(agents, max_size=3)),
)
actors = st.one_of(agents, anonymous_groups, identified_groups)
verbs = _optional({"id": st.sampled_from(VERBS)}, display=language_maps)


@st.composite
def interaction_definitions(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(INTERACTION_TYPES))
    definition: dict[str, Any] = {
        "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
        "interactionType": kind,
        "correctResponsesPattern": draw(st.lists(short_text, max_size=2)),
    }
    lists = {"choice": ["choices"], "sequencing": ["choices"], "likert": ["scale"],
             "matching": ["source", "target"], "performance": ["steps"]}.get(kind, [])
    for name in lists:
        ids = draw(st.lists(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=5),
                            min_size=1, max_size=4, unique=True))
        definition[name] = [{"id": i, **draw(_optional({}, description=language_maps))} for i in ids]
    return definition


definitions = st.one_of(
    _optional({}, name=language_maps, description=language_maps, type=iris, moreInfo=iris,
              extensions=extensions),
    interaction_definitions(),
)
activities = _optional({"id": iris}, objectType=st.just("Activity"), definition=definitions)
statement_refs = st.fixed_dictionaries({"objectType": st.just("StatementRef"), "id": uuids})
agent_objects = st.builds(lambda a: {**a, "objectType": "Agent"}, agents)


@st.composite
def scores(draw: st.DrawFn) -> dict[str, Any]:
    score: dict[str, Any] = {}
    if draw(st.booleans()):
        score["scaled"] = draw(st.floats(-1, 1))
    if draw(st.booleans()):
        low = draw(st.integers(-1000, 1000))
        high = low + draw(st.integers(1, 1000))
        score["min"], score["max"] = low, high
        if draw(st.booleans()):
            score["raw"] = draw(st.floats(low, high))
    elif draw(st.booleans()):
        score["raw"] = draw(st.integers(-1000, 1000))
    return score


durations = st.one_of(
    st.builds(lambda h, m, s: f"PT{h}H{m}M{s}S", st.integers(0, 99), st.integers(0, 59),
              st.integers(0, 59)),
    st.builds(lambda d, s: f"P{d}DT{s:.2f}S", st.integers(0, 30), st.floats(0, 59.99)),
    st.builds(lambda w: f"P{w}W", st.integers(1, 52)),
)
results = _optional({}, score=scores(), success=st.booleans(), completion=st.booleans(),
                    response=short_text, duration=durations, extensions=extensions)
timestamps = st.builds(
    lambda moment, offset, style: (
        moment.replace(tzinfo=timezone(timedelta(minutes=offset))).isoformat()
        if style else moment.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2099, 12, 30)),
    st.integers(-12 * 60, 14 * 60),
    st.booleans(),
)
context_activities = _optional({}, **{
    key: st.one_of(st.lists(activities, min_size=1, max_size=2), activities)
    for key in ("parent", "grouping", "category", "other")
})


def contexts(activity_object: bool) -> st.SearchStrategy[dict[str, Any]]:
    options: dict[str, st.SearchStrategy[Any]] = {
        "registration": uuids, "instructor": actors, "team": anonymous_groups,
        "contextActivities": context_activities, "language": st.sampled_from(LANGUAGE_TAGS),
        "statement": statement_refs, "extensions": extensions,
    }
    if activity_object:
        options |= {"revision": short_text, "platform": short_text}
    return _optional({}, **options)


attachments = st.lists(
    _optional(
        {"usageType": iris, "display": language_maps, "contentType": st.just("text/plain"),
         "length": st.integers(0, 10_000), "sha2": sha256s, "fileUrl": iris},
        description=language_maps,
    ),
    max_size=2,
)


@st.composite
def _bodies(draw: st.DrawFn, sub: bool) -> dict[str, Any]:
    """What Statements and SubStatements share: actor, verb, object, result, context..."""
    kinds = ["activity", "agent", "ref"] if sub else ["activity", "agent", "ref", "sub"]
    kind = draw(st.sampled_from(kinds))
    target: Any = {
        "activity": activities, "agent": st.one_of(agent_objects, anonymous_groups),
        "ref": statement_refs, "sub": substatements(),
    }[kind]
    body: dict[str, Any] = {"actor": draw(actors), "verb": draw(verbs), "object": draw(target)}
    if draw(st.booleans()):
        body["result"] = draw(results)
    if draw(st.booleans()):
        body["context"] = draw(contexts(kind == "activity"))
    if draw(st.booleans()):
        body["timestamp"] = draw(timestamps)
    if draw(st.booleans()):
        body["attachments"] = draw(attachments)
    return body


def substatements() -> st.SearchStrategy[dict[str, Any]]:
    return _bodies(sub=True).map(lambda body: {"objectType": "SubStatement", **body})


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    """A statement valid in xAPI 1.0.3 and 2.0."""
    statement = draw(_bodies(sub=False))
    if draw(st.booleans()):
        statement["id"] = draw(uuids)
    if draw(st.booleans()):
        statement["version"] = "1.0.0"
    return statement


# --------------------------------------------------------------------------- mutations


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the tree: keys of objects and indexes of arrays."""
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


def _parent(tree: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        tree = tree[step]
    return tree


HOSTILE_VALUES = st.one_of(
    json_values,
    st.sampled_from([
        None, "", " ", "\u0000", "\ud7ff\ue000", 0, -1, 2**63 - 1, 2**64 - 1, -(2**63), 1e308,
        -1e-308, True, [], {}, [[]], {"": None}, "not a uri", "mailto:", "PT", "P1.5DT1H",
        "2024-13-45T25:61:61Z", "0000-00-00T00:00:00Z", "9999-12-31T23:59:60-23:59",
        "x" * 5000, "🙂" * 50, "http://example.org/\u0085", "urn:\u2028",
        "00000000-0000-0000-0000-000000000000", "ZZZZZZZZ-0000-0000-0000-000000000000",
        {"objectType": "SubStatement"}, {"objectType": "StatementRef"},
        {"objectType": "Group", "member": []}, {"mbox": "mailto:a@b.c", "openid": "http://x.y/"},
    ]),
)
RENAMES = ["Actor", "objectType ", "id\u0000", "", "__proto__", "mbox_sha1sum", "member",
           "definition", "contextAgents", "contextGroups", "stored", "authority", "object"]


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[Any] | None = None) -> Any:
    """A valid statement with one to three things broken: a property removed, set to null or
    to a hostile value, an unknown or mis-cased property added, a value wrapped in a list."""
    value = draw(base if base is not None else statements())
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(value)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["drop", "null", "replace", "add", "wrap", "rename"]))
        if not path:
            if action in ("replace", "wrap"):
                value = [value] if action == "wrap" else draw(HOSTILE_VALUES)
            continue
        parent = _parent(value, path)
        key = path[-1]
        if action == "drop":
            del parent[key]
        elif action == "null":
            parent[key] = None
        elif action == "replace":
            parent[key] = draw(HOSTILE_VALUES)
        elif action == "wrap":
            parent[key] = [parent[key]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(RENAMES))] = draw(HOSTILE_VALUES)
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(RENAMES))] = parent.pop(key)
    return value
