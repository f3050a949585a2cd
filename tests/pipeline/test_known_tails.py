"""The tails a running process appended last (`pipeline.known_tails`) are exactly the stored rows.

An incremental append serves its continued symbols' tails from what the same process appended last,
while the table is the same Delta table at the version it committed. The oracle is the table itself:
after each append the kept rows equal a read of the same symbols and window, bit for bit. Anything that
changes the table (another writer, a table created again at the same path) makes them unusable.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from marketlake.pipeline import known_tails, load_bars
from marketlake.storage import DeltaStore
from tests.pipeline.test_incremental_load import Run, _appended, _at, _meta, _raw

TABLE = "stocks_daily_clean"
COLUMNS = ["symbol", "datetime", "open", "high", "low", "close", "volume", "return_1", "hist_volatility_20"]


def _recall(store: DeltaStore, lo: pd.Timestamp, symbols: list[str]) -> tuple[pd.DataFrame, list[str]] | None:
    return known_tails.recall(store.path(TABLE), table_id=str(store.table(TABLE).metadata().id),
                              version=store.version(TABLE), lo=lo, symbols=symbols, need=1,
                              n_bars=pd.Series(dtype=np.float64))


def _assert_kept_rows_are_the_table(store: DeltaStore, lo: pd.Timestamp, symbols: list[str]) -> None:
    kept = _recall(store, lo, symbols)
    assert kept is not None, "the append just committed: its tails must be kept"
    served, rest = kept
    assert rest == []
    sym = served["symbol"].to_numpy(object)
    runs = [s for k, s in enumerate(sym) if k == 0 or sym[k - 1] != s]
    assert len(runs) == len(set(runs)) == len(symbols)  # one run per symbol
    for _, rows in served.groupby("symbol", sort=False):
        assert rows["datetime"].is_monotonic_increasing
    want = store.read(TABLE, symbols=symbols, start=lo, columns=COLUMNS).to_pandas()
    pd.testing.assert_frame_equal(served.sort_values(["symbol", "datetime"], ignore_index=True), want,
                                  check_exact=True)


def test_kept_tails_equal_the_stored_rows_and_go_stale_when_another_writer_commits(tmp_path: Path) -> None:
    bars = _raw(TABLE, datetime(2022, 10, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC), stocks=8)
    meta = _meta(bars, "SPY")
    run = Run(tmp_path, TABLE, meta)
    times = np.sort(bars["datetime"].unique())
    cut = len(times) - 4
    run.load(bars[bars["datetime"] < times[cut]])
    symbols = sorted(meta["symbol"])
    lo = pd.Timestamp(times[cut - 30])
    for i in range(2):
        assert _appended(run.load(_at(bars, cut + i)))
        _assert_kept_rows_are_the_table(run.store, lo, symbols)

    other = DeltaStore(tmp_path)  # another writer revises a stored bar: a new version of the table
    rev = bars[(bars["symbol"] == symbols[3]) & (bars["datetime"] == times[cut - 10])].copy()
    rev[["high", "close"]] *= 1.01
    revised = load_bars(other, TABLE, rev.reset_index(drop=True), source="synthetic",
                        metadata=meta[meta["symbol"] == symbols[3]])
    assert revised.updated > 0
    assert _recall(run.store, lo, symbols) is None
    assert _appended(run.load(_at(bars, cut + 2)))  # read from storage again, then kept
    _assert_kept_rows_are_the_table(run.store, lo, symbols)


def test_a_table_created_again_at_the_same_version_is_not_served_the_old_tails(tmp_path: Path) -> None:
    bars = _raw(TABLE, datetime(2023, 6, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC), stocks=5)
    meta = _meta(bars, "SPY")
    times = np.sort(bars["datetime"].unique())
    symbols = sorted(meta["symbol"])
    lo = pd.Timestamp(times[-30])
    first = Run(tmp_path, TABLE, meta)
    first.load(bars[bars["datetime"] < times[-1]])
    assert _appended(first.load(_at(bars, len(times) - 1)))
    kept_version = first.store.version(TABLE)
    assert _recall(first.store, lo, symbols) is not None

    stored = first.store.read(TABLE)
    shutil.rmtree(tmp_path)  # the warehouse deleted and written again (another process), up to the same version
    again = DeltaStore(tmp_path)
    again.ensure_tables([TABLE])
    days = pc.unique(stored["datetime"]).sort()
    for k in range(len(days)):
        if again.version(TABLE) >= kept_version:
            break
        assert again.write_bars(TABLE, stored.filter(pc.equal(stored["datetime"], days[k]))).inserted > 0
    assert again.version(TABLE) == kept_version
    assert _recall(again, lo, symbols) is None
