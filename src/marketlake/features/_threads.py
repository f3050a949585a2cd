"""Long-lived thread pools for the engine, one per role and size, made on first use.

Pool threads only compute blocks (or other work whose arrays are small and freed on the same thread); the
big arrays a call keeps are allocated on the calling thread. glibc gives every thread a malloc arena, and
a secondary thread's arena maps 64 MB heaps that it unmaps again once they are empty: big arrays made on
a helper thread and freed at the end of the call were mapped and page-faulted afresh on every call
(~300 MB per 2M-row call, +0.3 s of system time, in some processes only). Threads that live on also
keep their arenas warm between calls (per-call pools faulted ~2x as many pages in the incremental
pipeline case) and are not created again for every call.

Roles never wait on tasks of their own pool (a cross producer runs on the caller's thread and waits on
"sector" tasks), so concurrent callers sharing the pools cannot deadlock. After a fork the child makes new
pools.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")

_pools: dict[tuple[str, int], ThreadPoolExecutor] = {}
_owner = os.getpid()
_lock = threading.Lock()


def pool(role: str, workers: int) -> ThreadPoolExecutor:
    """This process's pool of `workers` threads for `role` ("features", "sector", "assemble")."""
    global _owner
    with _lock:
        if os.getpid() != _owner:  # forked: the parent's threads do not exist here
            _pools.clear()
            _owner = os.getpid()
        key = (role, max(1, int(workers)))
        found = _pools.get(key)
        if found is None:
            found = _pools[key] = ThreadPoolExecutor(max_workers=key[1], thread_name_prefix=f"marketlake-{role}")
        return found


def submit_all(role: str, workers: int, fn: Callable[[_T], _R], items: Iterable[_T]) -> list[Future[_R]]:
    """fn over items on the role's pool, started now; `results` collects them."""
    ex = pool(role, workers)
    return [ex.submit(fn, item) for item in items]


def results(futures: list[Future[_R]]) -> list[_R]:
    """The results in order. Waits for every task before raising the first error, so nothing is left
    writing into the caller's arrays."""
    wait(futures)
    return [f.result() for f in futures]


def map_all(role: str, workers: int, fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """fn over items on the role's pool, results in order (`submit_all` then `results`)."""
    return results(submit_all(role, workers, fn, items))


__all__ = ["map_all", "pool", "results", "submit_all"]
