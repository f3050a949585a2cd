"""`ahead`: results in order, never more than `depth` beyond the caller, errors at their position."""

from __future__ import annotations

import threading
import time

import pytest

from marketlake.sources.ahead import ahead


def test_order_and_bound() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            started.append(i)
        return i * i

    seen = []
    for i, value in enumerate(ahead(work, range(8), depth=2)):
        time.sleep(0.05)  # the worker has time to run as far ahead as it may
        with lock:
            assert len(started) <= i + 1 + 2  # the item held + at most 2 ready
        seen.append(value)
    assert seen == [i * i for i in range(8)] and started == list(range(8))


def test_error_raised_at_its_position_and_worker_stops() -> None:
    calls: list[int] = []

    def work(i: int) -> int:
        calls.append(i)
        if i == 3:
            raise KeyError("boom")
        return i

    got = []
    with pytest.raises(KeyError, match="boom"):
        for value in ahead(work, range(10), depth=1):
            got.append(value)
    time.sleep(0.2)
    assert got == [0, 1, 2] and calls == [0, 1, 2, 3]  # nothing after the failure


def test_early_close_stops_the_worker() -> None:
    calls: list[int] = []
    gen = ahead(lambda i: calls.append(i) or i, range(100), depth=1)
    assert next(gen) == 0
    time.sleep(0.1)
    gen.close()
    time.sleep(0.3)
    assert len(calls) <= 2  # the one handed over and the one fetched ahead


def test_depth_zero_is_lazy_and_in_the_callers_thread() -> None:
    threads = []
    gen = ahead(lambda i: threads.append(threading.current_thread()) or i, range(3), depth=0)
    assert threads == []
    assert list(gen) == [0, 1, 2] and set(threads) == {threading.current_thread()}
