"""Results as statements (issue 14.8): each attainment as an xAPI statement another LRS or
a credential system can take.

Convention: ADL's Learner Competency profile (`https://w3id.org/xapi/learnercompetency`),
chosen over CaSS's because it is a published xAPI profile built on the TLA vocabulary that
any conformant LRS can store and query, while CaSS's assertions are CaSS's own objects:
- verb `https://w3id.org/xapi/tla/verbs/achieved`;
- object: the competence, an Activity of type
  `https://w3id.org/xapi/tla/activity-types/competency` whose id is the competence IRI;
- result.extensions: the level reached (its IRI, code and rank) and the framework;
- context.statement: a StatementRef to the statement that reached the level;
  context.contextActivities.parent: the framework;
- timestamp: when the level was reached (the evidence's time).
Statement ids are UUID v5 of (learner, competence, level), so emitting again never
duplicates anything. Which deployments emit them, and where to, is the operator's choice:
`lrs results statements` writes them as JSON lines for any xAPI client to post.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from lrs.competency.framework import Framework

ACHIEVED = "https://w3id.org/xapi/tla/verbs/achieved"
COMPETENCY = "https://w3id.org/xapi/tla/activity-types/competency"
PROFILE = "https://w3id.org/xapi/learnercompetency"
LEVEL = "https://w3id.org/lrs/extensions/competency-level"
NAMESPACE = uuid.UUID("5b2c3f0e-9a1d-4f6b-8c7e-14a5e0c0ffee")


def agent_of(key: str) -> dict[str, Any]:
    """An xAPI Agent from a learner key (the inverse of `lrs.xapi.agent_keys.agent_key`)."""
    kind, _, value = key.partition(":")
    if kind == "account":
        home, _, name = value.partition("|")
        return {"objectType": "Agent", "account": {"homePage": home, "name": name}}
    if kind in ("mbox", "mbox_sha1sum", "openid"):
        return {"objectType": "Agent", kind: value}
    raise ValueError(f"not a learner key: {key!r}")


def attainment_statements(
    framework: Framework, key: str, state: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """One `achieved` statement per level attained (state from `fold_timeline`), in time order."""
    found: list[dict[str, Any]] = []
    for competence in framework.competences:
        status = (state or {}).get("competences", {}).get(competence.id) or {}
        for attained in status.get("attained", []):
            level = framework.levels_by_rank.get(attained["rank"])
            if level is None or attained.get("at") is None:
                continue
            statement: dict[str, Any] = {
                "id": str(uuid.uuid5(NAMESPACE, f"{key}|{competence.id}|{level.id}")),
                "actor": agent_of(key),
                "verb": {"id": ACHIEVED, "display": {"en-US": "achieved", "vi": "đạt"}},
                "object": {
                    "objectType": "Activity",
                    "id": competence.id,
                    "definition": {
                        "type": COMPETENCY,
                        "name": competence.name.as_dict(),
                    },
                },
                "result": {
                    "completion": True,
                    "success": True,
                    "extensions": {
                        LEVEL: {"id": level.id, "code": level.code, "rank": level.rank},
                    },
                },
                "context": {
                    "statement": {"objectType": "StatementRef", "id": attained["statement"]},
                    "contextActivities": {
                        "parent": [{"objectType": "Activity", "id": framework.id}],
                        "category": [{"objectType": "Activity", "id": PROFILE}],
                    },
                },
                "timestamp": attained["at"],
            }
            found.append(statement)
    return sorted(found, key=lambda s: (s["timestamp"], s["id"]))
