"""The Python API: identifiable reads, a missing warehouse is an error, ingest() of a DataFrame, resample=."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from marketlake import Warehouse
from marketlake.errors import ConfigError, StorageError
from marketlake.schema import get_table
from marketlake.sources import get_source

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def synthetic(table: str, *, start: str, end: str, symbols: list[str] | None = None) -> pd.DataFrame:
    src = get_source("synthetic", now=NOW, stocks=4, crypto=2, seed=11)
    parts = [b.bars for b in src.fetch(symbols, get_table(table), start=start, end=end)]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def minute_wh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, pd.DataFrame, pd.DataFrame]:
    """A warehouse with 1-minute stock bars over Thanksgiving week 2020 (an early close on the 27th, a
    holiday on the 26th) and 1-minute crypto bars over two UTC days, loaded through Warehouse.ingest()."""
    wh = Warehouse(tmp_path_factory.mktemp("api") / "wh")
    stocks = synthetic("stocks_1min_clean", start="2020-11-24", end="2020-11-28", symbols=["SPY", "AAPL"])
    crypto = synthetic("crypto_1min_clean", start="2024-03-09T22:00", end="2024-03-11T01:59")
    wh.ingest(stocks, table="stocks_1min_clean", source="synthetic")
    wh.ingest(pl.from_pandas(crypto), table="crypto_1min_clean", source="synthetic")  # Polars in
    return wh, stocks, crypto


def test_read_with_columns_keeps_symbol_and_datetime(minute_wh) -> None:
    wh, stocks, _ = minute_wh
    got = wh.read("stocks_1min_clean", symbols="AAPL", columns=["close", "rsi_14"])
    assert list(got.columns) == ["symbol", "datetime", "close", "rsi_14"]
    assert len(got) == int((stocks["symbol"] == "AAPL").sum())
    got = wh.read("stocks_1min_clean", symbols="AAPL", columns=["datetime", "close"], as_="polars")
    assert got.columns == ["symbol", "datetime", "close"]


def test_missing_warehouse_is_an_error_not_an_empty_frame(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "no-such-warehouse")
    with pytest.raises(StorageError, match="no warehouse at"):
        wh.read("stocks_daily_clean")
    with pytest.raises(StorageError, match="no warehouse at"):
        wh.sql("SELECT 1")
    with pytest.raises(StorageError, match="no warehouse at"):
        wh.tables()
    assert not (tmp_path / "no-such-warehouse").exists()  # reading never creates it


def test_ingest_round_trips_quarantines_and_is_idempotent(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    bars = synthetic("stocks_daily_clean", start="2024-01-01", end="2024-06-30", symbols=["SPY", "AAPL"])
    bad = bars.iloc[[5]].assign(high=-1.0, datetime=bars["datetime"].iloc[5] + pd.Timedelta(days=400))
    report = wh.ingest(pd.concat([bars, bad], ignore_index=True), table="stocks_daily_clean")
    assert report.inserted == len(bars) and report.quarantined == 1
    stored = wh.read("stocks_daily_clean", columns=["open", "high", "low", "close", "volume", "source"])
    want = bars.sort_values(["symbol", "datetime"]).reset_index(drop=True)
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(stored[col].to_numpy(float), want[col].to_numpy(float))
    assert set(stored["source"]) == {"python"}
    assert wh.sql("SELECT count(*) AS n FROM quarantine")["n"].iloc[0] == 1
    again = wh.ingest(bars, table="stocks_daily_clean")
    assert (again.inserted, again.updated) == (0, 0)
    with pytest.raises(ConfigError):
        wh.ingest([1, 2, 3], table="stocks_daily_clean")


def _oracle(bars: pd.DataFrame, *, step: pd.Timedelta, zone: str, open_time: str) -> pd.DataFrame:
    """Independent bucketing: local clock time, buckets counted from the local session open."""
    local = bars["datetime"].dt.tz_convert(zone)
    day_open = pd.to_datetime(local.dt.strftime("%Y-%m-%d") + " " + open_time).dt.tz_localize(zone)
    if step >= pd.Timedelta(days=1):
        start = day_open
    else:
        start = day_open + ((local - day_open) // step) * step
    keyed = bars.assign(bucket=start.dt.tz_convert("UTC"))
    out = keyed.sort_values(["symbol", "datetime"]).groupby(["symbol", "bucket"], sort=True).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
        volume=("volume", "sum"),
    ).reset_index().rename(columns={"bucket": "datetime"})
    return out


@pytest.mark.parametrize("rule,step", [("5min", "5min"), ("15min", "15min"), ("1h", "1h"), ("1d", "1D")])
def test_resample_stocks_aligned_to_the_session_open(minute_wh, rule: str, step: str) -> None:
    wh, stocks, _ = minute_wh
    got = wh.read("stocks_1min_clean", resample=rule)
    want = _oracle(stocks, step=pd.Timedelta(step), zone="America/New_York", open_time="09:30")
    assert len(got) == len(want)
    np.testing.assert_array_equal(got["datetime"].dt.as_unit("us").astype("int64").to_numpy(),
                                  want["datetime"].dt.as_unit("us").astype("int64").to_numpy())
    for col in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(got[col].to_numpy(float), want[col].to_numpy(float))
    np.testing.assert_allclose(got["volume"].to_numpy(float), want["volume"].to_numpy(float), rtol=1e-12)
    local = got["datetime"].dt.tz_convert("America/New_York")
    if rule == "1h":  # like the stored hourly table: 09:30 ... 15:30, four bars on the early close
        assert sorted(set(local.dt.strftime("%H:%M"))) == [f"{h:02d}:30" for h in range(9, 16)]
        per_day = local[got["symbol"] == "AAPL"].dt.date.value_counts()
        assert per_day[pd.Timestamp("2020-11-27").date()] == 4 and per_day[pd.Timestamp("2020-11-25").date()] == 7
    if rule == "1d":  # stamped at the open, like the stored daily table; no bar on Thanksgiving
        assert set(local.dt.strftime("%H:%M")) == {"09:30"}
        assert pd.Timestamp("2020-11-26").date() not in set(local.dt.date)


def test_resample_crypto_on_utc_days(minute_wh) -> None:
    wh, _, crypto = minute_wh
    got = wh.read("crypto_1min_clean", resample="1h", as_="arrow").to_pandas()
    want = _oracle(crypto, step=pd.Timedelta("1h"), zone="UTC", open_time="00:00")
    assert len(got) == len(want) == crypto["symbol"].nunique() * 28
    for col in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(got[col].to_numpy(float), want[col].to_numpy(float))
    np.testing.assert_allclose(got["volume"].to_numpy(float), want["volume"].to_numpy(float), rtol=1e-12)
    daily = wh.read("crypto_1min_clean", resample="1d")
    assert set(daily["datetime"].dt.strftime("%H:%M")) == {"00:00"}
    assert daily.groupby("symbol").size().tolist() == [3] * crypto["symbol"].nunique()


@pytest.mark.parametrize("rule", ["1min", "0min", "2d", "fortnight", "90s"])
def test_resample_rejects_rules_that_are_not_coarser_multiples(minute_wh, rule: str) -> None:
    wh, _, _ = minute_wh
    with pytest.raises(ConfigError):
        wh.read("stocks_1min_clean", resample=rule)
    with pytest.raises(ConfigError, match="OHLCV only"):
        wh.read("stocks_1min_clean", resample="5min", columns=["close", "rsi_14"])
