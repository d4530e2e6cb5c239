"""lrs.ops.references.plan_links: voiding and inherited terms, decided on a graph alone.

The adapters' contract tests run the same rules through SQLite and MongoDB; these pin the
decisions themselves, on an in-memory graph, including the cases a store rarely meets
(reference loops, chains crossing organisations).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from lrs.ops.references import plan_links
from lrs.ports.statements import LinkNode

VOIDED = "http://adlnet.gov/expapi/verbs/voided"
ORGS = {"a1": "org-a", "a2": "org-a", "b1": "org-b"}


class Graph:
    """Stored statements as LinkNodes; counts the reads a plan makes."""

    def __init__(self, *nodes: LinkNode) -> None:
        self.nodes = {n.id: n for n in nodes}
        self.reads = 0

    def stored(self, ids: Collection[str]) -> dict[str, LinkNode]:
        self.reads += 1
        return {i: self.nodes[i] for i in ids if i in self.nodes}

    def referrers(self, ids: Collection[str]) -> list[LinkNode]:
        self.reads += 1
        return [n for n in self.nodes.values() if n.target in set(ids)]


def orgs_of(keys: Any) -> dict[str, str]:
    return {k: ORGS.get(k, "default") for k in keys}


def node(sid: str, terms: set[str], target: str | None = None, *, voiding: bool = False,
         credential: str = "a1", seq: int = 1) -> LinkNode:  # fmt: skip
    return LinkNode(sid, frozenset(terms), target, voiding, credential, seq)


def statement(sid: str, target: str | None = None, *, voiding: bool = False) -> dict[str, Any]:
    s: dict[str, Any] = {"id": sid, "verb": {"id": VOIDED if voiding else "http://v/did"}}
    s["object"] = {"objectType": "StatementRef", "id": target} if target else {"id": "http://act"}
    return s


def test_a_batch_that_references_nothing_costs_one_read_and_decides_nothing() -> None:
    graph = Graph()
    plan = plan_links([statement("x")], {"x": {"t:x"}}, "a1", graph, orgs_of)
    assert plan.terms == {"x": {"t:x"}} and not plan.voided and not plan.additions
    assert graph.reads == 1  # the referrers of the batch; no stored target to read


def test_voiding_voids_a_stored_target_of_the_same_organisation_only() -> None:
    graph = Graph(node("t", {"t:t"}, credential="a2"))
    mine = plan_links([statement("v", "t", voiding=True)], {"v": {"t:v"}}, "a1", graph, orgs_of)
    assert mine.void_stored == ["t"] and mine.terms["v"] == {"t:v", "t:t"}
    theirs = plan_links([statement("v", "t", voiding=True)], {"v": {"t:v"}}, "b1", graph, orgs_of)
    assert theirs.void_stored == [] and theirs.terms["v"] == {"t:v"}


def test_a_voiding_statement_stored_first_voids_its_target_on_arrival_within_one_org() -> None:
    graph = Graph(node("v", {"t:v"}, "t", voiding=True, credential="a2"))
    same = plan_links([statement("t")], {"t": {"t:t"}}, "a1", graph, orgs_of)
    assert same.voided == {"t"} and same.additions == {"v": {"t:t"}}
    other = plan_links([statement("t")], {"t": {"t:t"}}, "b1", graph, orgs_of)
    assert other.voided == set() and other.additions == {}


def test_terms_flow_up_a_chain_of_references_stored_before_their_target() -> None:
    graph = Graph(
        node("r1", {"t:r1"}, "t"),
        node("r2", {"t:r2"}, "r1"),
        node("r3", {"t:r3"}, "r2", credential="b1"),
    )
    plan = plan_links([statement("t")], {"t": {"t:t"}}, "a2", graph, orgs_of)  # fmt: skip
    assert plan.additions == {"r1": {"t:t"}, "r2": {"t:t", "t:r1"}}  # r3 is another org's
    assert graph.reads == 4  # referrers level by level, until a level finds none


def test_a_voiding_statement_and_its_target_in_one_batch() -> None:
    batch = [statement("v", "t", voiding=True), statement("t")]
    plan = plan_links(batch, {"v": {"t:v"}, "t": {"t:t"}}, "a1", Graph(), orgs_of)
    assert plan.voided == {"t"} and plan.terms["v"] == {"t:v", "t:t"}


def test_a_loop_of_references_ends() -> None:
    graph = Graph(node("b", {"t:b"}, "a"))
    plan = plan_links([statement("a", "b")], {"a": {"t:a"}}, "a1", graph, orgs_of)
    assert plan.terms["a"] == {"t:a", "t:b"} and plan.additions == {"b": {"t:a"}}
