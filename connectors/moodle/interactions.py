"""cmi.interaction activity definitions beyond `choice` (which lives in mapping.py, where module
activities use it): the shapes the plugin gives lesson pages, quiz questions and feedback items,
so that an LRS can show the question and its correct answer next to a learner's response.
"""

from __future__ import annotations

from typing import Any

from connectors.moodle.mapping import Config, cmi_choice, cmi_common, slugify
from connectors.moodle.php import php_text


def fill_in(
    name: Any, description: str | None, lang: str, correct: list[str] | None = None
) -> dict[str, Any]:
    definition = {**cmi_common(name, description, lang), "interactionType": "fill-in"}
    if correct is not None:
        definition["correctResponsesPattern"] = ["[,]".join(correct)]
    return definition


def long_fill_in(name: Any, description: str | None, lang: str) -> dict[str, Any]:
    return {**cmi_common(name, description, lang), "interactionType": "long-fill-in"}


def true_false(
    name: Any, description: str | None, lang: str, correct: bool | None = None
) -> dict[str, Any]:
    definition = {**cmi_common(name, description, lang), "interactionType": "true-false"}
    if correct is not None:
        definition["correctResponsesPattern"] = ["true" if correct else "false"]
    return definition


def numeric(
    name: Any,
    description: str | None,
    lang: str,
    low: Any = None,
    high: Any = None,
    exact: Any = None,
) -> dict[str, Any]:
    """One exact answer, or the range `low[:]high` (a missing bound is an empty string)."""
    pattern = exact if exact is not None else f"{php_text(low)}[:]{php_text(high)}"
    return {
        **cmi_common(name, description, lang),
        "interactionType": "numeric",
        "correctResponsesPattern": [pattern],
    }


def matching(
    name: Any, description: str | None, source: list[str], target: list[Any], lang: str
) -> dict[str, Any]:
    """Source i matches target i: the pattern pairs them in order."""
    sources = [{"id": slugify(s), "description": {lang: s}} for s in source]
    targets = [{"id": slugify(t), "description": {lang: t}} for t in target]
    pairs = [f"{s['id']}[.]{t['id']}" for s, t in zip(sources, targets, strict=False)]
    return {
        **cmi_common(name, description, lang),
        "interactionType": "matching",
        "correctResponsesPattern": ["[,]".join(pairs)],
        "source": sources,
        "target": targets,
    }


def sequencing(
    config: Config,
    name: Any,
    description: str | None,
    choices: list[Any],
    lang: str,
    right: list[Any] | None = None,
) -> dict[str, Any]:
    return {
        **cmi_choice(config, name, description, choices, lang, right),
        "interactionType": "sequencing",
    }
