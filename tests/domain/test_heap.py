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
