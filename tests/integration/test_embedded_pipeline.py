"""The embedded mode on a real `lrs serve`: processors run inside it over the SQLite log."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from consumers.profiles import REDUCER
from consumers.projection import replay
from consumers.runner import rebuild
from lrs.storage.base import StateQuery
from lrs.storage.sqlite import SQLiteStore
from tests.processes import LRSProcess, wait_until

VERSION = {"X-Experience-API-Version": "1.0.3"}
ALL = StateQuery(limit=10_000)


def statement(learner: int, n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": f"mailto:learner{learner}@school.example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/" + ("completed" if n % 2 else "answered")},
        "object": {"id": f"https://school.example.org/task/{n % 7}"},
        "result": {"score": {"scaled": (n % 10) / 10}, "success": n % 3 != 0, "duration": "PT30S"},
    }


def test_profiles_survive_a_crash_mid_batch_and_replay_identically(tmp_path: Path) -> None:
    api = LRSProcess("api", tmp_path, {"data": str(tmp_path / "data")})
    auth = api.credential()
    path = tmp_path / "data" / "lrs.db"
    try:
        api.serve()
        sent: list[str] = []
        with httpx.Client(base_url=api.url, auth=auth, headers=VERSION, timeout=30) as client:
            for start in range(0, 3000, 100):
                batch = [statement(i % 40, i) for i in range(start, start + 100)]
                response = client.post("/xapi/statements", json=batch)
                assert response.status_code == 200
                sent += response.json()
        api.kill()  # the in-process runner is folding the backlog right now
        store = SQLiteStore(path)
        try:
            done = store.get_offset("processor:profiles")
            assert done < len(sent), "the crash should interrupt the processors (test too slow?)"
        finally:
            store.close()

        api.serve()
        with httpx.Client(base_url=api.url, auth=auth, headers=VERSION, timeout=30) as client:
            target = sent[5]
            voiding = {
                "actor": {"mbox": "mailto:teacher@school.example.org"},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
                "object": {"objectType": "StatementRef", "id": target},
            }
            assert client.post("/xapi/statements", json=voiding).status_code == 200
        store = SQLiteStore(path)
        try:

            def caught_up() -> bool:
                log = [orjson.loads(r.value) for r in store.read_log(0, 100_000)]
                return dict(store.list_states(REDUCER.name, ALL)) == replay(REDUCER, log)

            wait_until(caught_up, 60, "profiles to equal a replay of the log")
            total = sum(state["statements"] for _, state in store.list_states(REDUCER.name, ALL))
            assert total == len(sent) - 1  # each statement counted once, the voided one not
        finally:
            store.close()
        api.stop()

        # Replay from offset zero into empty profile storage: identical profiles.
        store = SQLiteStore(path)
        try:
            live = store.list_states(REDUCER.name, ALL)
            assert rebuild(store, REDUCER, batch=37) == len(sent) + 1
            assert store.list_states(REDUCER.name, ALL) == live
        finally:
            store.close()
    finally:
        api.stop()
