"""Real data (../shared/data/ohlcv): unadjusted splits, defects, benchmark gaps and minute sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.pipeline import load_bars
from marketlake.quality import QualityConfig, run_quality
from marketlake.quality.checks_rows import check_ohlc
from marketlake.quality.checks_time import check_missing_bars
from marketlake.quality.frame import build
from marketlake.schema import get_table
from marketlake.storage import DeltaStore
from marketlake.validate.grid import session_open_for_dates

DAILY = get_table("stocks_daily_clean")


def _sp500(shared: Path, symbols: list[str]) -> pd.DataFrame:
    df = pd.read_csv(shared / "ohlcv" / "sp500_daily_2012_2017.csv.gz")
    df = df[df["symbol"].isin(symbols)].copy()
    opens = session_open_for_dates(pd.to_datetime(df["datetime"]).to_numpy().astype("datetime64[D]"), DAILY)
    df["datetime"] = pd.to_datetime(opens, utc=True)
    return df.reset_index(drop=True)


def test_real_splits_and_benchmark_gap(shared_data: Path, tmp_path: Path) -> None:
    store = DeltaStore(tmp_path / "wh")
    load_bars(store, DAILY, _sp500(shared_data, ["DVA", "UAA", "AAPL", "MSFT"]), source="csv")
    rep = run_quality(store, config=QualityConfig(as_of=datetime(2017, 8, 12, tzinfo=UTC)))
    splits = {(i.symbol, f"{i.first_datetime:%Y-%m-%d}") for i in rep.issues if i.check == "split"}
    assert {("DVA", "2013-09-09"), ("UAA", "2014-04-15")} <= splits  # 2:1 splits left unadjusted
    assert not {s for s, _ in splits} & {"AAPL", "MSFT"}  # AAPL's 2014 split is adjusted in this file
    deps = {(i.symbol, i.field) for i in rep.issues if i.check == "dependency"}
    assert ("AAPL", "rs_benchmark_20") in deps  # SPY is not in the file
    assert any(i.check == "metadata" and i.field == "exchange" for i in rep.issues)  # csv has no metadata
    fixed = run_quality(store, config=QualityConfig(as_of=datetime(2017, 8, 12, tzinfo=UTC)), fix=True)
    assert any(r.symbol == "DVA" and "not repairable" in r.detail for r in fixed.repairs)  # a file: no re-fetch


def test_real_ohlc_defects_located(shared_data: Path) -> None:
    raw = pd.read_csv(shared_data / "ohlcv" / "sp500_daily_2012_2017.csv.gz")
    raw = raw.sort_values(["symbol", "datetime"]).reset_index(drop=True)
    raw["datetime"] = pd.to_datetime(raw["datetime"], utc=True)
    frame = build(DAILY, pa.Table.from_pandas(raw, preserve_index=False))
    got: dict[str | None, int] = {}
    for i in check_ohlc(frame):
        got[i.field] = got.get(i.field, 0) + i.count
    h, lo = raw["high"], raw["low"]
    expected_high = int(((h < np.fmax(np.fmax(raw["open"], raw["close"]), lo)) | h.isna()).sum())
    assert got["high"] == expected_high and expected_high >= 3 + 208  # high < low (3) and missing highs (208)
    assert got["volume"] == 406  # missing volumes, as README counts them


def test_real_minute_session_gap(shared_data: Path) -> None:
    spec = get_table("stocks_1min_clean")
    df = pd.read_csv(shared_data / "ohlcv" / "spy_1min_2020-12-15_18.csv")
    ts = pd.to_datetime(df["date"] if "date" in df else df.iloc[:, 0]).dt.tz_localize("America/New_York")
    t = pa.table({"symbol": ["SPY"] * len(df), "datetime": ts.dt.tz_convert("UTC"),
                  "close": df["close"].astype(float)})
    clean = check_missing_bars(build(spec, t))  # 4 full sessions x 390 minutes, plus a 16:00 print per day
    assert [(i.field, i.count) for i in clean] == [("datetime", 4)]
    gone = datetime(2020, 12, 16, 15, 0, tzinfo=UTC)
    got = check_missing_bars(build(spec, t.filter(pc.not_equal(t.column("datetime"), gone))))
    assert [(i.symbol, i.count, i.first_datetime) for i in got if i.field is None] == [("SPY", 1, gone)]
