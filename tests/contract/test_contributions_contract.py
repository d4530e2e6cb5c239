"""The projections port's reads: contributions by learner keys, on every adapter."""

from __future__ import annotations

import uuid

from consumers.reducers.base import changes_for
from consumers.reducers.profiles import REDUCER
from lrs.ports import Store
from tests.contract.helpers import VOIDED, key, statement


def test_contributions_by_keys_skip_retracted_ones(store: Store) -> None:
    a, b, c = statement("a"), statement("b"), statement("c")
    voiding = {
        "id": str(uuid.uuid4()),
        "actor": a["actor"],
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": a["id"]},
    }
    store.apply_changes(REDUCER, changes_for(REDUCER, [a, b, c, voiding]))
    found = store.get_contributions(REDUCER.name, [key("a"), key("b")])
    assert [x.statement_id for x in found] == [b["id"]]
    assert store.get_contributions(REDUCER.name, []) == []
