"""The embedded mode on a real `lrs serve`: processors run inside it over the SQLite log."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from consumers.reducers.base import replay
from consumers.reducers.profiles import REDUCER
from consumers.runtime.local import rebuild
from lrs.adapters.sqlite import SQLiteStore
from lrs.domain.records import StateQuery
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


def processor_children(pid: int) -> list[int]:
    """PIDs of the processes `lrs serve` started (its processors' process)."""
    children = [  # a child started by another thread is listed under that thread
        int(c)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for c in (task / "children").read_text().split()
    ]
    # multiprocessing also starts its resource tracker: keep the spawned worker only
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def offset(path: Path) -> int:
    store = SQLiteStore(path)
    try:
        return store.get_offset("processor:profiles")
    finally:
        store.close()


def test_profiles_survive_a_processor_crash_mid_batch_and_replay_identically(
    tmp_path: Path,
) -> None:
    data = str(tmp_path / "data")
    path = tmp_path / "data" / "lrs.db"
    # A backlog first, processors off, so the crash is sure to land in the middle of it.
    quiet = LRSProcess("quiet", tmp_path, {"data": data, "processors": "false"})
    auth = quiet.credential()
    sent: list[str] = []
    try:
        quiet.serve()
        with httpx.Client(base_url=quiet.url, auth=auth, headers=VERSION, timeout=30) as client:
            for start in range(0, 3000, 100):
                batch = [statement(i % 40, i) for i in range(start, start + 100)]
                response = client.post("/xapi/statements", json=batch)
                assert response.status_code == 200
                sent += response.json()
    finally:
        quiet.stop()

    api = LRSProcess("api", tmp_path, {"data": data, "processor_batch": "50"})
    try:
        api.serve()
        assert api.popen is not None
        [child] = wait_until(lambda: processor_children(api.popen.pid), 20, "the processors")
        wait_until(lambda: offset(path) > 0, 30, "the processors to start folding")
        os.kill(child, signal.SIGKILL)  # the processors crash in the middle of the backlog
        done = offset(path)
        assert 0 < done < len(sent), f"offset {done} of {len(sent)}: not mid-way"
        # the API notices and starts new processors, which resume from the offset
        wait_until(
            lambda: processor_children(api.popen.pid) not in ([], [child]), 30, "new processors"
        )
        with httpx.Client(base_url=api.url, auth=auth, headers=VERSION, timeout=30) as client:
            voiding = {
                "actor": {"mbox": "mailto:teacher@school.example.org"},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
                "object": {"objectType": "StatementRef", "id": sent[5]},
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
    finally:
        api.stop()

    # Replay from offset zero into empty profile storage: identical profiles.
    store = SQLiteStore(path)
    try:
        live = store.list_states(REDUCER.name, ALL)
        assert rebuild(store, REDUCER, batch=37) == len(sent) + 1
        assert store.list_states(REDUCER.name, ALL) == live
    finally:
        store.close()
