"""Pure CPU-bound computation off the event loop's process: one process pool per server or worker process.

A payroll run computes 10,000 payslips of exact (Fraction) arithmetic and user formulas. Computed in a thread of the
process that serves requests (as it was), it holds that process's GIL for seconds: the event loop, and the database
writes the run overlaps with its computation, wait for it (a profile showed the writer thread's socket writes
queued behind the computing thread). A child process computes on another core and leaves the loop alone, when
there is a core to spare: on this project's 2-core machines the child was slower overall (bench/payroll.py,
calculate 4.0 s against 2.7 s in a thread: the pickling, and PostgreSQL, the writer and the child sharing two
cores), so the default is a thread and a deployment with spare cores turns the child on.

`run_pure(fn, *args)` runs a module-level function of picklable arguments in the pool and returns its result (it
must return, not raise, what the caller needs to know: exceptions of our own types do not all pickle). The pool is
made on first use with the 'spawn' start method (no fork of a process that runs threads and an event loop; the
same on Linux, macOS and Windows) and `processes` children (setting `compute_processes`, default 0). With 0
processes, or where no child can be started, `fn` runs in a thread of this process as before. A worker calls
`warm()` at start-up, so the first job does not pay for the child's start (about a second: it imports the domain).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_PROCESSES = 8
"""At most this many compute processes per server or worker process (each holds the domain's imports, ~100 MB)."""

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_processes = 0


def configure(processes: int) -> None:
    """Set how many child processes compute (0: a thread of this process). Takes effect for a pool made after it;
    a pool already made with another size is shut down. Raises ValueError outside 0..MAX_PROCESSES."""
    global _processes
    if not 0 <= processes <= MAX_PROCESSES:
        raise ValueError(f"compute_processes must be 0 to {MAX_PROCESSES}, got {processes}")
    with _lock:
        if processes != _processes:
            _processes = processes
            _shutdown_locked()


_preload: set[str] = set()


def preload(module: str) -> None:
    """Have each child import `module` when it starts (a context that offloads names its own module, so the first
    call does not pay for the import; the kernel imports no context)."""
    _preload.add(module)


def _started(modules: tuple[str, ...] = ()) -> None:
    """A child's first task, and `warm`'s: import the modules that offload work, then keep what they made out of
    the garbage collector's scans (domain/kernel/heap.py: they live as long as the child)."""
    from domain.kernel import heap

    for name in modules:
        importlib.import_module(name)
    heap.freeze_startup_heap()


def _pool_or_none() -> ProcessPoolExecutor | None:
    global _pool
    with _lock:
        if _processes == 0:
            return None
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=_processes, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_started, initargs=(tuple(sorted(_preload)),))
        return _pool


def _shutdown_locked() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def shutdown() -> None:
    """Stop the pool's children (a worker's shutdown; tests). The next `run_pure` makes a new pool."""
    with _lock:
        _shutdown_locked()


def _discard(pool: ProcessPoolExecutor) -> None:
    with _lock:
        if _pool is pool:
            _shutdown_locked()


async def warm() -> bool:
    """Start the pool's children now (a worker's start-up), waiting until each has imported the domain. Returns
    whether they run; when a child cannot start (a program whose main module is not import-safe, no processes
    allowed), this logs why and the pool is made again at the next call, which falls back to a thread."""
    pool = _pool_or_none()
    if pool is None:
        return False
    loop = asyncio.get_running_loop()
    try:
        await asyncio.gather(*(loop.run_in_executor(pool, _started) for _ in range(_processes)))
    except (BrokenProcessPool, OSError):
        _discard(pool)
        log.exception("the compute process could not start; computations run in a thread of this process")
        return False
    return True


async def run_pure(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a compute process (or a thread, with 0 processes). `fn` must be a pure module-level function
    and its arguments and result picklable. A child that dies (killed, out of memory, or never started) breaks the
    pool: it is discarded (the next call makes a new one) and this call runs `fn` in a thread instead, so the work
    is done either way."""
    pool = _pool_or_none()
    if pool is None:
        return await asyncio.to_thread(fn, *args)
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(pool, fn, *args)
    except (BrokenProcessPool, OSError):
        _discard(pool)
        log.exception("a compute process died; this computation runs in a thread, the next starts a new process")
        return await asyncio.to_thread(fn, *args)
