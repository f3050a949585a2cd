"""Ordered, bounded read-ahead: fetch the next answer while the caller digests the last one.

Why: a vendor's credit budget refills with the clock whether or not we are ready to spend it. A loop
that converts and loads one full page (seconds, for 120 symbols x 5,000 bars) before it asks for the
next leaves the minute's credits unused, and the run falls behind the plan's rate. `ahead` computes
`fn(item)` in one worker thread and yields the results in order, at most `depth` items beyond the one
the caller holds, so memory stays bounded and requests still go out in the same order as before.

What it costs: when the caller stops (an exception, `kill -9`), up to `depth` answers were fetched
and never used. Those credits bought nothing stored, so a resumed run asks for them again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_POLL_S = 0.1


def ahead(fn: Callable[[T], R], items: Iterable[T], *, depth: int = 1) -> Iterator[R]:
    """`fn(item)` for each item, in order, computed up to `depth` items ahead of the caller.

    An exception raised by `fn` is re-raised to the caller at that item's position (the items
    before it are yielded first), and the worker stops. Closing the iterator early stops the worker
    before its next item; an `fn` call already running is left to finish in the background.
    """
    todo = list(items)
    if depth <= 0 or len(todo) <= 1:
        for item in todo:
            yield fn(item)
        return
    slots = threading.Semaphore(depth + 1)  # the item the caller holds + `depth` ready ones
    done: queue.Queue[tuple[bool, object]] = queue.Queue()
    stop = threading.Event()

    def work() -> None:
        for item in todo:
            while not slots.acquire(timeout=_POLL_S):
                if stop.is_set():
                    return
            if stop.is_set():
                return
            try:
                done.put((True, fn(item)))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, who re-raises it
                done.put((False, exc))
                return

    worker = threading.Thread(target=work, name="marketlake-ahead", daemon=True)
    worker.start()
    try:
        for _ in todo:
            ok, value = done.get()
            if not ok:
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
            slots.release()
    finally:
        stop.set()


__all__ = ["ahead"]
