"""A warehouse of real S&P 500 bars (a subset of symbols), loaded through the pipeline like `ingest csv`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from marketlake.pipeline import load_bars
from marketlake.schema import get_table
from marketlake.storage import DeltaStore
from marketlake.validate.grid import session_open_for_dates

DAILY = get_table("stocks_daily_clean")
# a mix of sectors and histories; ABBV listed 2013, so its early dates have no bar (no survivorship fill)
SYMBOLS = ["AAPL", "ABBV", "AMZN", "BA", "CVX", "GS", "HD", "JNJ", "JPM", "KO", "MSFT", "NVDA", "PFE", "WMT",
           "XOM", "T"]
SP500 = "ohlcv/sp500_daily_2012_2017.csv.gz"


def sp500_bars(shared: Path, symbols: list[str] = SYMBOLS, *, until: str | None = None,
               after: str | None = None) -> pd.DataFrame:
    """Raw bars of the file (session-open timestamps, as the CSV source stores daily bars)."""
    df = pd.read_csv(shared / SP500)
    df = df[df["symbol"].isin(symbols)].copy()
    if until is not None:
        df = df[df["datetime"] <= until]
    if after is not None:
        df = df[df["datetime"] > after]
    opens = session_open_for_dates(pd.to_datetime(df["datetime"]).to_numpy().astype("datetime64[D]"), DAILY)
    df["datetime"] = pd.to_datetime(opens, utc=True)
    return df.reset_index(drop=True)


def load(root: Path, shared: Path, *, until: str | None = None) -> DeltaStore:
    store = DeltaStore(root)
    load_bars(store, DAILY, sp500_bars(shared, until=until), source="csv")
    return store
