"""Real S&P 500 bars de-adjusted to as-traded prices: the split tests' input and oracle."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from marketlake.cli.main import app

SPLITS = {"AAPL": (date(2014, 6, 9), 7.0), "NFLX": (date(2015, 7, 15), 7.0)}
PRICES = ["open", "high", "low", "close"]


@pytest.fixture(scope="session")
def sp500_adjusted(shared_data: Path) -> pd.DataFrame:  # noqa: F811 - fixture from tests/conftest.py
    """AAPL, NFLX and KO as published (split-adjusted), one row per bar."""
    frame = pd.read_csv(shared_data / "ohlcv" / "sp500_daily_2012_2017.csv.gz")
    return frame[frame["symbol"].isin(["AAPL", "NFLX", "KO"])].reset_index(drop=True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA}")
    return SHARED_DATA


def de_adjust(adjusted: pd.DataFrame) -> pd.DataFrame:
    """As traded: prices x ratio and volume / ratio before each split date (what the market printed)."""
    raw = adjusted.copy()
    for symbol, (day, ratio) in SPLITS.items():
        before = (raw["symbol"] == symbol) & (pd.to_datetime(raw["datetime"]).dt.date < day)
        raw.loc[before, PRICES] = raw.loc[before, PRICES] * ratio
        raw.loc[before, "volume"] = raw.loc[before, "volume"] / ratio
    return raw


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def write_splits(path: Path) -> Path:
    lines = ["symbol,kind,date,from_factor,to_factor,amount,currency"]
    lines += [f"{s},split,{d.isoformat()},1,{r:g},," for s, (d, r) in SPLITS.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
