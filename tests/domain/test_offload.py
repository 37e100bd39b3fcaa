"""domain.kernel.offload: pure work runs in a child process (not this one), results come back, and a child that
dies mid-call breaks nothing: that call runs in a thread of this process and the next gets a new child."""

from __future__ import annotations

import os

import pytest

from domain.kernel import offload


def _pid_and_square(value: int) -> tuple[int, int]:
    return os.getpid(), value * value


def _die_unless_in(parent_pid: int) -> str:
    """Kill the process it runs in, unless that is the parent (where the fallback runs it, in a thread)."""
    if os.getpid() != parent_pid:
        os._exit(3)
    return "ran in the parent"


@pytest.fixture
def one_process():
    offload.configure(1)
    yield
    offload.configure(0)


async def test_work_runs_in_another_process_and_comes_back(one_process):
    assert await offload.warm() is True
    pid, square = await offload.run_pure(_pid_and_square, 12)
    assert square == 144 and pid != os.getpid()


async def test_a_child_that_dies_falls_back_to_a_thread_and_the_next_call_gets_a_new_child(one_process):
    first, _ = await offload.run_pure(_pid_and_square, 2)
    assert await offload.run_pure(_die_unless_in, os.getpid()) == "ran in the parent"
    second, square = await offload.run_pure(_pid_and_square, 3)
    assert square == 9 and second not in (first, os.getpid())


async def test_no_processes_means_a_thread_of_this_process():
    offload.configure(0)
    try:
        assert await offload.warm() is False
        pid, square = await offload.run_pure(_pid_and_square, 5)
        assert (pid, square) == (os.getpid(), 25)
    finally:
        offload.configure(0)


def test_configure_refuses_sizes_outside_its_range():
    for bad in (-1, offload.MAX_PROCESSES + 1):
        with pytest.raises(ValueError, match="compute_processes"):
            offload.configure(bad)
