"""The group tasks on a Dask cluster give the same table as the local executor, value for value."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from marketlake.pipeline.executors import DaskExecutor
from marketlake.pipeline.grouped import load_grouped, refresh_grouped
from marketlake.pipeline.memory_budget import BASE_BYTES, BYTES_PER_ROW
from marketlake.schema import get_table
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore

pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install 'marketlake[dask]')")

NOW = datetime(2025, 1, 1, tzinfo=UTC)
TABLE = "stocks_daily_clean"
SPAN = (datetime(2023, 11, 1, tzinfo=UTC), datetime(2024, 3, 29, tzinfo=UTC))
BUDGET = BASE_BYTES + 200 * BYTES_PER_ROW  # about two symbols per group: every sector split across groups


def _batches():  # type: ignore[no-untyped-def]
    source = get_source("synthetic", stocks=8, crypto=2, seed=5)
    return list(source.fetch(None, get_table(TABLE), start=SPAN[0], end=SPAN[1]))


def _table(store: DeltaStore) -> pd.DataFrame:
    return store.read(TABLE).to_pandas().sort_values(["symbol", "datetime"]).reset_index(drop=True)


def test_dask_load_and_rebuild_equal_the_local_executor(tmp_path: Path) -> None:
    local, dask = DeltaStore(tmp_path / "local"), DeltaStore(tmp_path / "dask")
    ref = load_grouped(local, TABLE, _batches(), source="synthetic", memory_budget=BUDGET, now=NOW)
    with DaskExecutor(workers=2) as ex:
        got = load_grouped(dask, TABLE, _batches(), source="synthetic", memory_budget=BUDGET, now=NOW, executor=ex)
        assert got.timings["groups"] == ref.timings["groups"] >= 4
        assert dask.version(TABLE) == 1  # one commit for the whole distributed load
        a, b = _table(local), _table(dask)
        assert len(a) > 500
        pd.testing.assert_frame_equal(a, b, check_exact=True)  # all 97 columns, updated_at included
        # a rebuild on the cluster of a table that is what the engine computes writes nothing
        again = refresh_grouped(dask, TABLE, memory_budget=BUDGET, now=NOW, executor=ex)
        assert again.changed == 0 and dask.version(TABLE) == 1
