"""Warm-up lengths match the catalogue; short histories give NULLs; every column is causal."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from marketlake.features import compute, compute_table
from marketlake.features.engine import FeatureInputError
from marketlake.schema import FIELDS, bar_schema
from tests.features.feature_bars import make_bars

STAMP = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("table", "freq", "bench"),
    [("stocks_daily_clean", "B", "SPY"), ("stocks_1min_clean", "min", "SPY"), ("crypto_hourly_clean", "h", "BTC/USD")],
)
def test_catalogue_warmup_equals_computed(table: str, freq: str, bench: str) -> None:
    """On a long clean series, field f is NULL on exactly its first `warmup_for(...)` bars, then never."""
    bars = make_bars(4, 600, seed=11, freq=freq, symbols=[bench, "A", "B", "C"], sectors=("X",))
    out = compute(bars, table)
    intraday = table != "stocks_daily_clean" and not table.endswith("daily_clean")
    g = out[out["symbol"] == "A"].reset_index(drop=True)
    for f in FIELDS:
        if not f.computed:
            continue
        null = g[f.name].isna().to_numpy()
        expected = f.warmup_for(intraday=intraday)
        assert null[:expected].all(), f"{f.name}: value before bar {expected}"
        assert not null[expected:].any(), f"{f.name}: NULL after warm-up ({np.flatnonzero(null[expected:])[:3] + expected})"


@pytest.mark.parametrize("n_bars", [1, 2, 19, 20, 60, 251])
def test_short_histories_give_nulls_not_errors(n_bars: int) -> None:
    bars = make_bars(3, n_bars, seed=n_bars)
    tbl = compute_table(bars, updated_at=STAMP)
    assert tbl.schema == bar_schema()
    out = compute(bars, updated_at=STAMP)
    for f in FIELDS:
        if f.computed and f.warmup >= n_bars:
            assert out[f.name].isna().all(), f.name


def test_empty_input() -> None:
    empty = make_bars(1, 1).iloc[0:0]
    assert compute_table(empty).num_rows == 0
    assert list(compute(empty).columns) == [f.name for f in FIELDS]


def _row(frame: pd.DataFrame, sym: str, when: pd.Timestamp) -> pd.Series:
    hit = frame[(frame["symbol"] == sym) & (frame["datetime"] == when)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_truncating_after_t_never_changes_row_t() -> None:
    """All 97 columns, cross-sectional ones included (peers and benchmark truncated too), bit-identical."""
    bars = make_bars(6, 420, seed=21)
    full = compute(bars, updated_at=STAMP)
    rng = np.random.default_rng(0)
    times = sorted(bars["datetime"].unique())
    for k in rng.choice(np.arange(5, len(times)), size=6, replace=False):
        t = times[int(k)]
        cut = compute(bars[bars["datetime"] <= t], updated_at=STAMP)
        for sym in ("SPY", "S001", "S004"):
            a, b = _row(full, sym, t), _row(cut, sym, t)
            for f in FIELDS:
                x, y = a[f.name], b[f.name]
                assert (pd.isna(x) and pd.isna(y)) or x == y, (sym, t, f.name, x, y)


def test_no_ichimoku_column_leaks_the_future() -> None:
    """Scramble every bar after t (prices and volumes): the Ichimoku values at and before t do not move."""
    bars = make_bars(1, 200, seed=3)
    t = 120
    other = bars.copy()
    rng = np.random.default_rng(9)
    for c in ("open", "high", "low", "close", "volume"):
        other.loc[t + 1 :, c] = other.loc[t + 1 :, c].to_numpy() * rng.uniform(0.5, 2.0, len(other) - t - 1)
    other["high"] = other[["open", "high", "low", "close"]].max(axis=1)
    other["low"] = other[["open", "high", "low", "close"]].min(axis=1)
    a, b = compute(bars), compute(other)
    cols = [f.name for f in FIELDS if f.name.startswith("ichimoku_")]
    assert len(cols) == 5
    pd.testing.assert_frame_equal(a.loc[:t, cols], b.loc[:t, cols])
    assert not a.loc[t + 1 :, cols].equals(b.loc[t + 1 :, cols])  # the scramble did change the future


def test_deterministic_and_workers_give_identical_output() -> None:
    bars = make_bars(270, 760, seed=8)  # > 200k rows: the thread pool is used by default
    a = compute_table(bars, updated_at=STAMP)
    b = compute_table(bars, updated_at=STAMP)
    c = compute_table(bars, updated_at=STAMP, workers=2)
    d = compute_table(bars, updated_at=STAMP, workers=1)
    assert a.equals(b) and a.equals(c) and a.equals(d)
    shuffled = bars.sample(frac=1.0, random_state=3)  # input order does not matter either
    assert compute_table(shuffled, updated_at=STAMP).equals(a)
    by_symbol = pd.concat([g for _, g in bars.groupby("symbol", sort=True)][::-1])  # symbols reversed, bars in order
    assert not by_symbol["symbol"].is_monotonic_increasing
    assert compute_table(by_symbol, updated_at=STAMP).equals(a)
    # a symbol's values do not depend on which other symbols share the batch (storage diffs rows)
    alone = compute_table(bars[bars["symbol"].isin(["SPY", "S007"])], updated_at=STAMP)
    mask_a = np.asarray(a.column("symbol").to_pylist()) == "S007"
    mask_b = np.asarray(alone.column("symbol").to_pylist()) == "S007"
    per_symbol = [f.name for f in FIELDS if f.name != "rs_sector_20"]
    assert a.filter(mask_a).select(per_symbol).equals(alone.filter(mask_b).select(per_symbol))


def test_metadata_and_audit_columns() -> None:
    bars = make_bars(2, 30, seed=1)
    bars["name"] = "Some Inc"
    bars.loc[bars["symbol"] == "SPY", "exchange_timezone"] = "America/New_York"
    out = compute(bars, source="synthetic", updated_at=STAMP)
    assert (out["name"] == "Some Inc").all() and out["exchange"].isna().all()
    assert (out["exchange_timezone"] == "America/New_York").all()  # missing -> stocks default
    assert (out["source"] == "synthetic").all() and (out["updated_at"] == pd.Timestamp(STAMP)).all()
    bars["source"] = "csv"
    assert (compute(bars, source="synthetic")["source"] == "csv").all()  # a column wins over the kwarg
    naive = bars.assign(datetime=bars["datetime"].dt.tz_localize(None))
    pd.testing.assert_frame_equal(compute(naive, updated_at=STAMP), compute(bars, updated_at=STAMP))
    crypto = compute(bars.drop(columns="exchange_timezone"), "crypto_daily_clean")
    assert (crypto["exchange_timezone"] == "UTC").all()


def test_since_returns_exactly_the_later_rows_of_the_full_result() -> None:
    """`since` only trims the output: the kept rows equal the full computation's rows (warm-up included)."""
    bars = make_bars(5, 300, seed=4)
    full = compute_table(bars, updated_at=STAMP)
    cut = bars["datetime"].sort_values().iloc[-40 * 5]  # the last ~40 bars of every symbol
    part = compute_table(bars, updated_at=STAMP, since=cut.to_pydatetime())
    dt = pd.Series(full.column("datetime").to_pandas())
    expected = full.filter((dt >= cut).to_numpy())
    assert part.num_rows == expected.num_rows > 0 and part.equals(expected)
    frame = compute(bars, updated_at=STAMP, since=cut.to_pydatetime().replace(tzinfo=None))  # naive = UTC
    pd.testing.assert_frame_equal(frame, expected.to_pandas(), check_dtype=False)
    assert compute_table(bars, since=datetime(2100, 1, 1)).num_rows == 0


def test_since_on_a_big_threaded_batch_equals_the_full_result_trimmed() -> None:
    """> 200k rows: blocks on two threads write only the requested rows; the cross stage still sees all."""
    bars = make_bars(270, 760, seed=8)
    bars = bars[~((bars["symbol"] == "S005") & (bars.index % 7 == 0))]  # uneven histories, gaps
    cut = bars["datetime"].sort_values().iloc[len(bars) // 2]
    late = ~bars["symbol"].isin(bars["symbol"].unique()[::3])  # listed after the cut: blocks start there too
    bars = bars[~late | (bars["datetime"] > cut)]
    full = compute_table(bars, updated_at=STAMP, workers=2)
    part = compute_table(bars, updated_at=STAMP, workers=2, since=cut.to_pydatetime())
    keep = (pd.Series(full.column("datetime").to_pandas()) >= cut).to_numpy()
    assert 0 < part.num_rows < full.num_rows and part.equals(full.filter(keep))


@pytest.mark.parametrize("table", ["stocks_1min_clean", "crypto_hourly_clean"])
def test_intraday_threads_give_identical_output(table: str) -> None:
    """Intraday batches label sessions before the threaded symbol stage (VWAP needs them)."""
    bars = make_bars(40, 900, seed=12, freq="min" if table.startswith("stocks") else "h")  # > 1 block of rows
    one = compute_table(bars, table, updated_at=STAMP, workers=1)
    assert compute_table(bars, table, updated_at=STAMP, workers=2).equals(one)
    assert one.column("vwap").null_count < one.num_rows


def test_per_symbol_metadata_equals_metadata_on_every_bar() -> None:
    bars = make_bars(4, 80, seed=6)
    meta = pd.DataFrame({"symbol": ["SPY", "S001", "S002", "S003", "ZZZ"],  # ZZZ has no bars: ignored
                         "sector": [None, "Tech", "Tech", "Energy", "Tech"],
                         "name": ["SPDR", "One", "Two", None, "Z"]})
    on_bars = bars.drop(columns="sector").merge(meta, on="symbol", how="left")
    via_param = compute_table(bars.drop(columns="sector"), updated_at=STAMP, metadata=meta)
    assert via_param.equals(compute_table(on_bars, updated_at=STAMP))
    assert via_param.column("name").null_count == 80  # S003's None stays NULL
    # a column carried by the bars wins over the metadata frame
    kept = compute(bars, updated_at=STAMP, metadata=meta)
    assert kept["sector"].tolist() == compute(bars, updated_at=STAMP)["sector"].tolist()
    with pytest.raises(FeatureInputError, match="more than one row for 'SPY'"):
        compute(bars, metadata=pd.concat([meta, meta.head(1)]))
    # with threads, labels are built beside the per-symbol stage: same table, same error
    threaded = compute_table(bars.drop(columns="sector"), updated_at=STAMP, metadata=meta, workers=2)
    assert threaded.equals(via_param)
    with pytest.raises(FeatureInputError, match="more than one row for 'SPY'"):
        compute_table(bars, metadata=pd.concat([meta, meta.head(1)]), workers=2)
