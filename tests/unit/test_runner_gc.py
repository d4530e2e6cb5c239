"""The processors pause cyclic garbage collection while folding, and always resume it."""

from __future__ import annotations

import gc
import threading

import pytest

from consumers.runtime.local import gc_paused


def test_paused_inside_and_resumed_after() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested (a rebuild inside a round, say)
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_resumed_after_an_error() -> None:
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("a batch failed")
    assert gc.isenabled()


def test_left_disabled_when_it_was_disabled() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_concurrent_threads_resume_it_once_all_are_done() -> None:
    inside, release = threading.Barrier(3), threading.Event()

    def fold() -> None:
        with gc_paused():
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=fold) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert not gc.isenabled()
    release.set()
    for thread in threads:
        thread.join()
    assert gc.isenabled()
