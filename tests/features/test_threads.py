"""The engine's long-lived pools: shared by concurrent callers without deadlock, renewed after a fork."""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from marketlake.features import compute_table
from marketlake.features._stages import _BLOCK_ROWS
from tests.features.feature_bars import make_bars

_STAMP = datetime(2024, 1, 1, tzinfo=UTC)


def _bars():  # type: ignore[no-untyped-def]
    bars = make_bars(60, 800, seed=11)  # 48k rows: two blocks, so the pool is used
    assert len(bars) > _BLOCK_ROWS
    return bars


def _compute(bars) -> pa.Table:  # type: ignore[no-untyped-def]
    return compute_table(bars, updated_at=_STAMP, workers=2)


def test_concurrent_callers_share_the_pools_and_get_the_single_thread_table() -> None:
    bars = _bars()
    want = compute_table(bars, updated_at=_STAMP, workers=1)
    with ThreadPoolExecutor(max_workers=3) as callers:
        got = list(callers.map(lambda _: _compute(bars), range(6)))
    assert all(t.equals(want) for t in got)


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_child_computes_with_pools_of_its_own() -> None:
    bars = _bars()
    want = _compute(bars)  # the parent's pools exist now; their threads do not exist in a child
    with multiprocessing.get_context("fork").Pool(1) as child:
        got = child.apply_async(_compute, (bars,)).get(timeout=120)
    assert got.equals(want)
