"""Real splits (AAPL and NFLX 7:1) on real bars: de-adjusted, imported as traded, then the splits loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketlake import Warehouse
from marketlake.schema import TABLE_NAMES
from marketlake.storage import DeltaStore
from tests.actions.conftest import PRICES, SPLITS, cli, de_adjust, write_splits

pytestmark = pytest.mark.shared_data
TABLE = "stocks_daily_clean"


@pytest.fixture(scope="module")
def loaded(sp500_adjusted: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two warehouses: one from the as-traded file plus the splits, one from the adjusted file (oracle)."""
    root = tmp_path_factory.mktemp("splits")
    two = sp500_adjusted[sp500_adjusted["symbol"].isin(list(SPLITS))]
    raw_csv, adj_csv = root / "raw.csv", root / "adjusted.csv"
    de_adjust(two).to_csv(raw_csv, index=False)
    two.to_csv(adj_csv, index=False)
    wh, oracle = root / "wh", root / "oracle"
    cli("ingest", "csv", str(raw_csv), "--table", TABLE, "-w", str(wh))
    cli("ingest", "csv", str(adj_csv), "--table", TABLE, "-w", str(oracle))
    store = DeltaStore(wh)
    v0 = store.version(TABLE)
    out = cli("actions", "load", str(write_splits(root / "splits.csv")), "-w", str(wh))
    return {"root": root, "wh": wh, "oracle": oracle, "adjusted": two, "v0": v0, "output": out}


def test_stored_series_equals_the_adjusted_file(loaded: dict[str, object]) -> None:
    stored = Warehouse(loaded["wh"]).read(TABLE).set_index(["symbol", "datetime"])
    adjusted = loaded["adjusted"].copy()  # type: ignore[union-attr]
    adjusted["datetime"] = pd.to_datetime(adjusted["datetime"]).dt.tz_localize("America/New_York")
    oracle = Warehouse(loaded["oracle"]).read(TABLE).set_index(["symbol", "datetime"])
    assert len(stored) == len(oracle) > 2000 and stored.index.equals(oracle.index)
    for c in [*PRICES, "volume"]:
        np.testing.assert_allclose(stored[c].to_numpy(float), oracle[c].to_numpy(float), rtol=1e-9, atol=0)
    # and against the published file itself (dates; the stored datetime is the session's stamp)
    by_day = stored.reset_index()
    by_day["day"] = by_day["datetime"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
    src = loaded["adjusted"].rename(columns={"datetime": "day"})  # type: ignore[union-attr]
    merged = by_day.merge(src, on=["symbol", "day"], suffixes=("", "_file"))
    assert len(merged) == len(stored)
    np.testing.assert_allclose(merged["close"], merged["close_file"], rtol=1e-9)


def test_features_recomputed_equal_a_fresh_load_of_the_stored_bars(loaded: dict[str, object],
                                                                   tmp_path: Path) -> None:
    """The rescaled rows' 90 computed fields are what a full load of those bars computes (a load of the
    published file is not the oracle: its prices differ from x7/7 in the last bit, and ADX/DI and the
    volume profile break exact ties differently)."""
    stored = Warehouse(loaded["wh"]).read(TABLE).drop(columns=["updated_at"])
    fresh = Warehouse(tmp_path / "fresh")
    fresh.ingest(stored[["symbol", "datetime", "open", "high", "low", "close", "volume"]], table=TABLE, source="csv")
    rebuilt = fresh.read(TABLE).drop(columns=["updated_at"])
    pd.testing.assert_frame_equal(stored, rebuilt, check_exact=False, rtol=1e-12, atol=1e-12)
    oracle = Warehouse(loaded["oracle"]).read(TABLE)  # and the smooth ones agree with the published file's
    for c in ("rsi_14", "macd", "hist_volatility_20", "sma_20", "atr_14", "obv"):
        np.testing.assert_allclose(stored[c].to_numpy(float), oracle[c].to_numpy(float), rtol=1e-7, equal_nan=True,
                                   err_msg=c)


def test_return_at_the_split_date_is_the_real_return(loaded: dict[str, object]) -> None:
    wh = Warehouse(loaded["wh"])
    adjusted = loaded["adjusted"]
    for symbol, (day, _ratio) in SPLITS.items():
        rows = adjusted[adjusted["symbol"] == symbol].reset_index(drop=True)  # type: ignore[index]
        i = int(np.flatnonzero(rows["datetime"].to_numpy() == day.isoformat())[0])
        real = rows["close"][i] / rows["close"][i - 1] - 1
        got = wh.read(TABLE, symbol, columns=["return_1"])
        at = got[got["datetime"].dt.tz_convert("America/New_York").dt.date == day]["return_1"].iloc[0]
        assert abs(at - real) < 1e-12 and abs(real) < 0.05  # not the -85.7 % of an unadjusted 7:1 split


def test_adjust_none_gives_back_the_as_traded_prices(loaded: dict[str, object]) -> None:
    raw = de_adjust(loaded["adjusted"])  # type: ignore[arg-type]
    got = Warehouse(loaded["wh"]).read(TABLE, adjust="none")
    got["day"] = got["datetime"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
    both = got.merge(raw.rename(columns={"datetime": "day"}), on=["symbol", "day"], suffixes=("", "_traded"))
    assert len(both) == len(got) == len(raw) - 2  # the two quarantined rows of the file
    for c in [*PRICES, "volume"]:
        np.testing.assert_allclose(both[c].to_numpy(float), both[f"{c}_traded"].to_numpy(float), rtol=1e-9,
                                   equal_nan=True, err_msg=c)
    aapl = both[both["symbol"] == "AAPL"]
    assert aapl["close"].iloc[0] > 600  # AAPL traded at ~$620 in August 2012


def test_reloading_the_same_file_changes_nothing(loaded: dict[str, object]) -> None:
    store = DeltaStore(loaded["wh"])
    versions = {t: store.version(t) for t in [*TABLE_NAMES, "corporate_actions", "symbols"] if store.exists(t)}
    assert versions[TABLE] == loaded["v0"] + 1  # one commit for the table, both splits together
    out = cli("actions", "load", str(loaded["root"] / "splits.csv"), "-w", str(loaded["wh"]))
    assert "0 new or changed, 0 applied" in out
    after = DeltaStore(loaded["wh"])
    assert {t: after.version(t) for t in versions} == versions
    listing = cli("actions", "list", "-w", str(loaded["wh"]))
    assert "NFLX" in listing and "1:7" in listing and "pending" not in listing


def test_sql_views_give_the_same_prices_as_read(loaded: dict[str, object]) -> None:
    wh = Warehouse(loaded["wh"])
    for view, adjust in (("stocks_daily_clean_raw", "none"), ("stocks_daily_clean", "splits")):
        got = wh.sql(f"SELECT symbol, datetime, open, close, volume, rsi_14 FROM {view} ORDER BY symbol, datetime")
        want = wh.read(TABLE, columns=["open", "close", "volume", "rsi_14"], adjust=adjust)
        assert list(got.columns) == list(want.columns) and len(got) == len(want)
        for c in ("open", "close", "volume", "rsi_14"):
            np.testing.assert_allclose(got[c].to_numpy(float), want[c].to_numpy(float), rtol=1e-12, equal_nan=True)
    assert wh.sql("SELECT close FROM stocks_daily_clean_raw WHERE symbol = 'AAPL' ORDER BY datetime LIMIT 1")[
        "close"].iloc[0] > 600
