"""validate_bars on the real S&P 500 file (README counts) and the SPY 1-minute file, through the csv source."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from marketlake.schema import get_table
from marketlake.sources.files import CsvSource
from marketlake.validate import validate_bars

DAILY = get_table("stocks_daily_clean")


def _load(path: Path, table=DAILY, **kw) -> pd.DataFrame:
    return pd.concat([b.bars for b in CsvSource(path=path, **kw).fetch(None, table)], ignore_index=True)


def test_sp500_defects_found_and_good_rows_kept(shared_data: Path) -> None:
    raw = _load(shared_data / "ohlcv" / "sp500_daily_2012_2017.csv.gz")
    assert len(raw) == 606_801
    res = validate_bars(raw, DAILY, source="csv")  # its speed is a benchmark's business (bench_import)
    q = res.quarantined.to_pandas()
    missing = q[q["rule"] == "missing_value"]["reason"]
    assert missing.str.contains(r"\bopen\b").sum() == 384
    assert missing.str.contains(r"\bhigh\b").sum() == 208
    assert missing.str.contains(r"\blow\b").sum() == 227
    assert missing.str.contains(r"\bvolume\b").sum() == 406
    assert res.counts["high_below_low"] == 3
    # high < max(open, close): 23 rows; those also below the low are reported under high_below_low.
    vals = raw[["open", "high", "low", "close"]].astype(float)
    under = (vals["high"] < vals["open"]) | (vals["high"] < vals["close"])
    assert int(under.sum()) == 23
    assert set(raw.loc[under, "_location"]) <= set(q["location"])
    # The 4 zero-volume rows also lack open/high/low: quarantined for those, never for the volume of 0.
    zero = q[q["raw"].str.contains('"volume": "0"')]
    assert len(zero) == 4 and (zero["rule"] == "missing_value").all()
    assert not zero["reason"].str.contains("volume").any()
    # Every row without a defect is kept: the only losses are the quarantined rows.
    assert res.counts["good"] + res.counts["quarantined"] == len(raw)
    assert res.counts["outside_session"] == 0 and res.counts["off_grid"] == 0
    sizes = res.good.groupby("symbol").size()
    assert sizes.min() < sizes.max()  # short histories (IPOs, delistings) are kept as they are
    assert q["location"].str.match(r"sp500_daily_2012_2017\.csv\.gz:\d+$").all()


def test_spy_minutes_new_york_time_and_16_00_rows_outside(shared_data: Path) -> None:
    table = get_table("stocks_1min_clean")
    raw = _load(shared_data / "ohlcv" / "spy_1min_2020-12-15_18.csv", table, symbol="SPY")
    res = validate_bars(raw, table, source="csv")
    assert res.counts["good"] == 4 * 390
    assert res.counts["outside_session"] == 4  # the 16:00 rows: the session closes at 16:00
    assert res.good["datetime"].min() == pd.Timestamp("2020-12-15 14:30", tz="UTC")


def test_all_zero_file_is_quarantined(shared_data: Path) -> None:
    raw = _load(shared_data / "ohlcv" / "edge_all_zeros_daily.csv", symbol="ZERO")
    res = validate_bars(raw, DAILY, source="csv")
    assert res.counts["good"] == 0 and res.counts["non_positive_price"] == 200
