"""Pure checks over Arrow tables: duplicates, OHLC, staleness, coverage, jumps, missing bars, nulls."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.quality.checks_jumps import check_jumps
from marketlake.quality.checks_rows import check_duplicates, check_nulls, check_ohlc
from marketlake.quality.checks_time import check_coverage, check_missing_bars, check_staleness
from marketlake.quality.frame import build
from marketlake.quality.issues import QualityConfig
from marketlake.schema import get_table
from tests.janitor.conftest import small_bars

SPEC = get_table("stocks_daily_clean")


def _set(t: pa.Table, col: str, idx: list[int], value: float | None) -> pa.Table:
    arr = t.column(col).to_pylist()
    for i in idx:
        arr[i] = value
    return t.set_column(t.schema.get_field_index(col), col, pa.array(arr, t.schema.field(col).type))


def test_duplicates_and_ohlc_locations() -> None:
    t = small_bars(stocks=3, crypto=0, days=60)
    syms = t.column("symbol").to_pylist()
    i = syms.index("AAPL") + 10
    dup = pa.concat_tables([t, t.slice(i, 1)]).sort_by([("symbol", "ascending"), ("datetime", "ascending")])
    got = check_duplicates(build(SPEC, dup))
    assert [(x.symbol, x.count, x.first_datetime) for x in got] == [("AAPL", 1, t.column("datetime")[i].as_py())]
    bad = _set(t, "high", [i], 0.5)
    got = check_ohlc(build(SPEC, bad))
    assert [(x.symbol, x.field, x.first_datetime) for x in got] == [("AAPL", "high", t.column("datetime")[i].as_py())]
    assert check_ohlc(build(SPEC, t)) == []


def test_nulls_beyond_warmup_only() -> None:
    t = small_bars(stocks=2, crypto=0, days=60)
    start = t.column("symbol").to_pylist().index("AAPL")
    t2 = _set(t, "rsi_14", [start + 20, start + 21], None)
    got = [(x.symbol, x.field, x.count) for x in check_nulls(build(SPEC, t2))]
    assert got == [("AAPL", "rsi_14", 2)]
    t3 = _set(t, "rsi_14", [start + 3], None)  # inside the warm-up: expected
    assert check_nulls(build(SPEC, t3)) == []


def test_missing_bars_against_calendar_with_holidays() -> None:
    t = small_bars(stocks=2, crypto=0, days=60)
    dts = t.column("datetime").to_pylist()
    assert datetime(2024, 6, 19, 13, 30, tzinfo=UTC) not in dts  # Juneteenth: no session, not missing
    assert check_missing_bars(build(SPEC, t)) == []
    drop = datetime(2024, 6, 12, 13, 30, tzinfo=UTC)
    keep = pc.invert(pc.and_(pc.equal(t.column("symbol"), "AAPL"), pc.equal(t.column("datetime"), drop)))
    got = check_missing_bars(build(SPEC, t.filter(keep)))
    assert [(x.symbol, x.count, x.first_datetime) for x in got] == [("AAPL", 1, drop)]
    assert check_missing_bars(build(SPEC, t.filter(keep)), tolerance=0.05) == []


def test_crypto_hourly_missing_and_staleness() -> None:
    spec = get_table("crypto_hourly_clean")
    t = small_bars("crypto_hourly_clean", stocks=0, crypto=2, days=10)
    gone = t.column("datetime")[30].as_py()
    got = check_missing_bars(build(spec, t.filter(pc.not_equal(t.column("datetime"), gone))))
    assert {(x.symbol, x.first_datetime) for x in got} == {(s, gone) for s in ("BTC/USD", "ETH/USD")}
    frame = build(spec, t)
    assert check_staleness(frame, as_of=datetime(2024, 6, 29, 12, tzinfo=UTC), max_sessions=3) == []
    stale = check_staleness(frame, as_of=datetime(2024, 7, 10, tzinfo=UTC), max_sessions=3)
    assert {x.symbol for x in stale} == {"BTC/USD", "ETH/USD"} and stale[0].count == 11


def test_staleness_counts_sessions_not_days() -> None:
    t = small_bars(stocks=2, crypto=0, days=30)  # last bar 2024-06-27 (Thursday)
    frame = build(SPEC, t)
    # Fri 28, Mon 1, Tue 2, Wed 3 (early close); Thu 4 July holiday; Fri 5 -> 5 sessions by Saturday
    got = check_staleness(frame, as_of=datetime(2024, 7, 6, tzinfo=UTC), max_sessions=3)
    assert {(x.symbol, x.count) for x in got} == {("SPY", 5), ("AAPL", 5)}
    assert check_staleness(frame, as_of=datetime(2024, 7, 3, 12, tzinfo=UTC), max_sessions=3) == []


def test_coverage_universe_target_and_history() -> None:
    t = small_bars(stocks=2, crypto=0, days=60)
    got = check_coverage(build(SPEC, t), QualityConfig(targets={"stocks_daily_clean": 3}), universe=["SPY", "ZZZ"])
    found = {(x.symbol, x.detail.split(" ")[0]) for x in got}
    assert ("ZZZ", "in") in found and (None, "2") in found
    assert {x.symbol for x in got if x.detail.startswith("history")} == {"SPY", "AAPL"}


def test_split_and_outlier_detection() -> None:
    t = small_bars(stocks=3, crypto=0, days=300)
    syms = np.array(t.column("symbol").to_pylist())
    a = np.flatnonzero(syms == "MSFT")
    k = int(a[150])
    df = t.to_pandas()
    rows = df.index[(df["symbol"] == "MSFT") & (df.index >= k)]
    for c in ("open", "high", "low", "close"):
        df.loc[rows, c] = df.loc[rows, c] / 3
    df.loc[rows, "volume"] = df.loc[rows, "volume"] * 3
    spike = int(np.flatnonzero(syms == "AAPL")[100])
    df.loc[spike, "close"] = df.loc[spike, "close"] * 1.6
    got = check_jumps(build(SPEC, pa.Table.from_pandas(df, preserve_index=False)), sigma=10, tolerance=0.05)
    splits = [(x.symbol, x.first_datetime) for x in got if x.check == "split"]
    assert splits == [("MSFT", df.loc[k, "datetime"].to_pydatetime())]
    assert "3:1 split" in [x for x in got if x.check == "split"][0].detail
    outliers = {(x.symbol, x.first_datetime) for x in got if x.check == "outlier"}
    assert ("AAPL", df.loc[spike, "datetime"].to_pydatetime()) in outliers


def test_crypto_grid_keeps_its_last_stamp() -> None:
    """The crypto grid ends ON the last bar (it was lost to float rounding: every last bar 'off the grid')."""
    from marketlake.validate.grid import grid_between, session_bars

    for table in ("crypto_daily_clean", "crypto_hourly_clean", "crypto_1min_clean"):
        spec = get_table(table)
        step = spec.bar_seconds * 1_000_000_000
        end = int(datetime(2026, 11, 30, tzinfo=UTC).timestamp()) * 1_000_000_000
        for n in (1, 2, 399, 400, 8760, 40_000):
            start = end - (n - 1) * step
            grid = grid_between(spec, start, end)
            assert (len(grid), int(grid[0]), int(grid[-1])) == (n, start, end), (table, n)
    opens, _ = session_bars(get_table("crypto_hourly_clean"), end - 399 * 86_400 * 10**9, end)
    assert len(opens) == 400 and int(opens[-1]) == end
