"""Voiding and StatementRef term inheritance: one batch algorithm for every store.

A statement whose object is a StatementRef inherits the index terms (agent, verb,
activity...) of the statement it references, so that xAPI filters find it by them, and
passes its own on to statements that reference it; a voiding statement voids its target.
Both hold only between statements stored by one organisation (lrs.ops.orgs): otherwise a
platform could reference, or void ahead of time, another organisation's statement whose id
it guessed. Arrival order does not matter: a voiding statement stored before its target
voids the target when it arrives, and a reference stored before its target inherits the
target's terms then.

The adapter reads the graph through `StatementGraph` inside its write transaction and
writes what `plan_links` returns: no decision is left to it. The reads are per batch (one
query for the referrers of all new statements, one per further level of a chain, one for
the stored targets), so the usual batch, which references nothing, costs one query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lrs.ports.statements import LinkNode, StatementGraph
from lrs.xapi import statements as xs

OrgsOf = Callable[[Iterable[str]], dict[str, str]]


@dataclass
class LinkPlan:
    """What a batch changes, decided before anything is written."""

    terms: Mapping[str, set[Any]]  # every new statement's terms: its own and inherited ones
    voided: set[str] = field(default_factory=set)  # new statements stored already voided
    void_stored: list[str] = field(default_factory=list)  # stored statements it voids
    additions: dict[str, set[Any]] = field(default_factory=dict)  # stored: terms to add
    stored: dict[str, LinkNode] = field(default_factory=dict)  # the stored nodes it read
    targets: dict[str, str | None] = field(default_factory=dict)  # new: StatementRef target


def plan_links(
    new: list[dict[str, Any]],
    own_terms: Mapping[str, set[Any]],
    credential: str,
    graph: StatementGraph,
    orgs_of: OrgsOf,
) -> LinkPlan:
    """Decide voiding and inherited terms for `new` (prepared, not stored yet) statements.

    `own_terms` holds each new statement's own terms in the adapter's encoding (a mapping
    that may compute them on access: the usual batch hands it back untouched);
    `credential` stored the batch; `orgs_of` maps credential keys to organisations.
    """
    new_ids = {s["id"] for s in new}
    target_of = {s["id"]: xs.statement_ref_target(s) for s in new}
    targets = {t for t in target_of.values() if t is not None}
    stored_targets = graph.stored(targets - new_ids) if targets - new_ids else {}
    referrers = graph.referrers(sorted(new_ids)) if new_ids else []
    if not targets and not referrers:  # the usual batch: nothing to decide
        return LinkPlan(terms=own_terms, targets=target_of)

    # The graph the batch touches: the new statements, their stored targets, and every
    # stored statement whose chain of targets reaches a new one (found level by level).
    nodes: dict[str, LinkNode] = dict(stored_targets)
    bases: dict[str, set[Any]] = {t: set(n.terms) for t, n in stored_targets.items()}
    links: dict[str, str | None] = {t: n.target for t, n in stored_targets.items()}
    bases.update((sid, set(terms)) for sid, terms in own_terms.items())
    links.update(target_of)
    stored_by = {t: n.credential for t, n in stored_targets.items()}
    stored_by.update((sid, credential) for sid in new_ids)
    voiders: list[tuple[str, str]] = []  # (new statement, a stored statement voiding it)
    expanded = set(new_ids)
    level = referrers
    while level:
        following: list[str] = []
        for ref in level:
            if ref.target is not None and ref.target in new_ids and ref.voiding:
                voiders.append((ref.target, ref.id))
            nodes.setdefault(ref.id, ref)
            stored_by.setdefault(ref.id, ref.credential)
            bases.setdefault(ref.id, set(ref.terms))
            links[ref.id] = ref.target
            if ref.id not in expanded:
                expanded.add(ref.id)
                following.append(ref.id)
        level = graph.referrers(sorted(following)) if following else []

    keys = {credential, *stored_by.values()}
    org = orgs_of(keys) if len(keys) > 1 else dict.fromkeys(keys, "")
    mine = org[credential]
    same_org_links = {
        sid: target
        for sid, target in links.items()
        if target is not None
        and target in stored_by
        and org[stored_by[sid]] == org[stored_by[target]]
    }
    terms = chain_terms(bases, same_org_links)
    voided_in_batch = set(xs.voiding_targets(new))
    voided_on_arrival = {sid for sid, rid in voiders if org[stored_by[rid]] == mine}
    voiding = {s["id"] for s in new if xs.is_voiding(s)}
    return LinkPlan(
        terms={sid: terms[sid] for sid in own_terms},
        voided={
            sid for sid in new_ids - voiding if sid in voided_in_batch or sid in voided_on_arrival
        },
        void_stored=sorted(
            t
            for t in voided_in_batch & stored_targets.keys()
            if org[stored_by[t]] == mine and not stored_targets[t].voiding
        ),
        additions={
            sid: terms[sid] - base
            for sid, base in bases.items()
            if sid not in new_ids and terms[sid] - base
        },
        stored=nodes,
        targets=target_of,
    )


def chain_terms(
    bases: Mapping[str, set[Any]], links: Mapping[str, str | None]
) -> dict[str, set[Any]]:
    """Each statement's terms: its own and those of every statement down its target chain.

    `bases` holds the graph the batch touches; a chain that leaves it adds nothing, because
    a stored statement's terms already include those of its stored target. Chains may
    loop (ids are client-chosen).
    """
    terms: dict[str, set[Any]] = {}
    for start in bases:
        union: set[Any] = set()
        node: str | None = start
        seen: set[str] = set()
        while node is not None and node in bases and node not in seen:
            seen.add(node)
            union |= bases[node]
            node = links.get(node)
        terms[start] = union
    return terms
