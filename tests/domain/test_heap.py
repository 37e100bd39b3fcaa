"""domain.kernel.heap: a process's start-up heap frozen out of the garbage collector's scans, later garbage still
collected."""

from __future__ import annotations

import gc
import weakref

from domain.kernel import heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_the_start_up_heap_is_frozen_and_later_cycles_are_still_collected() -> None:
    before = gc.get_freeze_count()
    try:
        frozen = heap.freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > before
        a, b = _Node(), _Node()
        a.other, b.other = b, a  # a cycle made after the freeze: reference counting alone never frees it
        gone = weakref.ref(a)
        del a, b
        assert gone() is not None
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()  # the test process goes on collecting everything, as before this test


def test_collection_is_paused_for_a_bulk_step_and_resumes_after_the_last_overlapping_one() -> None:
    assert gc.isenabled()
    first, second = heap.collection_paused(), heap.collection_paused()
    first.__enter__()
    assert not gc.isenabled()
    second.__enter__()  # a second step (another coroutine) opens while the first is still open
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # the second step still runs
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_paused_collection_resumes_when_the_step_fails_and_stays_off_if_it_was_off() -> None:
    try:
        with heap.collection_paused():
            raise ValueError("the step failed")
    except ValueError:
        pass
    assert gc.isenabled()
    gc.disable()
    try:
        with heap.collection_paused():
            pass
        assert not gc.isenabled()  # whoever turned it off turns it on
    finally:
        gc.enable()
