"""Dividends (total return), renames, delistings, the CSV form's errors and incoming vendor bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from marketlake import Warehouse
from marketlake.actions import read_actions
from marketlake.cli.main import app
from marketlake.datasets import build
from marketlake.pipeline import load_bars
from marketlake.storage import DeltaStore
from tests.actions.conftest import cli

TABLE = "stocks_daily_clean"
HEADER = "symbol,kind,date,from_factor,to_factor,amount,currency,new_symbol\n"
# Coca-Cola's quarterly dividends, ex-dates and amounts (USD) as announced, 2012-2017
KO_DIVIDENDS = [
    ("2012-09-12", 0.255), ("2012-11-28", 0.255), ("2013-03-13", 0.28), ("2013-06-12", 0.28),
    ("2013-09-12", 0.28), ("2013-11-27", 0.28), ("2014-03-12", 0.305), ("2014-06-12", 0.305),
    ("2014-09-11", 0.305), ("2014-11-26", 0.305), ("2015-03-12", 0.33), ("2015-06-11", 0.33),
    ("2015-09-11", 0.33), ("2015-11-27", 0.33), ("2016-03-11", 0.35), ("2016-06-13", 0.35),
    ("2016-09-13", 0.35), ("2016-11-29", 0.35), ("2017-03-13", 0.37), ("2017-06-13", 0.37),
]


def _bars(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["datetime"] = pd.to_datetime(out["datetime"]).dt.tz_localize("America/New_York").dt.tz_convert("UTC") \
        + pd.Timedelta(hours=9, minutes=30)
    return out


def _load(root: Path, text: str) -> str:
    path = root / "actions.csv"
    path.write_text(HEADER + text)
    return cli("actions", "load", str(path), "-w", str(root))


@pytest.mark.shared_data
def test_total_return_matches_an_independent_computation(sp500_adjusted: pd.DataFrame, tmp_path: Path) -> None:
    ko = _bars(sp500_adjusted[sp500_adjusted["symbol"] == "KO"])
    wh = Warehouse(tmp_path)
    wh.ingest(ko, table=TABLE, source="csv")
    store = DeltaStore(tmp_path)
    v = store.version(TABLE)
    _load(tmp_path, "".join(f"KO,dividend,{d},,,{a},USD,\n" for d, a in KO_DIVIDENDS))
    assert store.version(TABLE) == v  # dividends never touch stored prices
    stored = wh.read(TABLE, "KO", columns=["close"])
    tr = wh.read(TABLE, "KO", columns=["open", "close"], adjust="total_return")
    # independent: each day's total return is (close + dividend going ex that day) / previous close
    day = stored["datetime"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
    paid = day.map(dict(KO_DIVIDENDS)).fillna(0.0).to_numpy()
    c = stored["close"].to_numpy()
    want = (c[1:] + paid[1:]) / c[:-1]
    got = tr["close"].to_numpy()[1:] / tr["close"].to_numpy()[:-1]
    assert paid.sum() == pytest.approx(sum(a for _, a in KO_DIVIDENDS))  # every ex-date is a stored session
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert tr["close"].iloc[-1] == stored["close"].iloc[-1]  # the latest close is the stored one
    assert tr["close"].iloc[0] < stored["close"].iloc[0] * 0.9  # ~20 dividends of ~0.8 % each discounted
    np.testing.assert_allclose(tr["open"] / tr["close"], wh.read(TABLE, "KO")["open"] / stored["close"], rtol=1e-12)
    assert wh.read(TABLE, "KO", adjust="none")["close"].equals(stored["close"])  # no split: as traded = stored
    view = wh.sql("SELECT close FROM stocks_daily_clean_total_return WHERE symbol = 'KO' ORDER BY datetime")
    np.testing.assert_allclose(view["close"], tr["close"], rtol=1e-12)


@pytest.mark.shared_data
def test_rename_continues_the_history_under_the_new_symbol(sp500_adjusted: pd.DataFrame, tmp_path: Path) -> None:
    ko = _bars(sp500_adjusted[sp500_adjusted["symbol"] == "KO"].tail(300))
    cut = ko["datetime"].iloc[150]
    old = ko[ko["datetime"] < cut].assign(symbol="KOX")
    wh = Warehouse(tmp_path / "wh")
    wh.ingest(pd.concat([old, ko[ko["datetime"] >= cut]]), table=TABLE, source="csv")
    store = DeltaStore(tmp_path / "wh")
    v = store.version(TABLE)
    # no action recorded yet: the adjusted views are the stored rows
    assert wh.sql("SELECT count(*) AS n FROM stocks_daily_clean_raw")["n"].iloc[0] == len(wh.read(TABLE))
    _load(tmp_path / "wh", f"KOX,rename,{cut:%Y-%m-%d},,,,,KO\n")
    assert store.version(TABLE) == v + 1
    got = wh.read(TABLE).drop(columns=["updated_at"])
    fresh = Warehouse(tmp_path / "fresh")
    fresh.ingest(ko, table=TABLE, source="csv")  # the oracle: the whole history loaded under KO at once
    want = fresh.read(TABLE).drop(columns=["updated_at"])
    assert set(got["symbol"]) == {"KO"} and len(got) == len(want) >= len(ko) - 1  # one bad bar quarantined
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
    master = store.read_support("symbols").to_pandas().set_index("symbol")
    assert not master.loc["KOX", "active"] and master.loc["KOX", "inactive_reason"].startswith("renamed to KO")
    assert master.loc["KO", "active"] and master.loc["KO", f"first_bar_{TABLE}"] == ko["datetime"].iloc[0]
    versions = {t: store.version(t) for t in (TABLE, "symbols", "corporate_actions")}
    _load(tmp_path / "wh", f"KOX,rename,{cut:%Y-%m-%d},,,,,KO\n")  # again: nothing to do, no commit
    assert {t: DeltaStore(tmp_path / "wh").version(t) for t in versions} == versions


@pytest.mark.shared_data
def test_delisting_marks_the_symbol_inactive_and_keeps_its_bars(sp500_adjusted: pd.DataFrame, tmp_path: Path) -> None:
    ko = _bars(sp500_adjusted[sp500_adjusted["symbol"] == "KO"].tail(40))
    wh = Warehouse(tmp_path)
    wh.ingest(ko, table=TABLE, source="csv")
    kept = len(wh.read(TABLE, "KO"))
    _load(tmp_path, "KO,delisting,2017-08-14,,,,,\n")
    master = DeltaStore(tmp_path).read_support("symbols").to_pandas().set_index("symbol")
    assert not master.loc["KO", "active"] and master.loc["KO", "inactive_reason"] == "delisted on 2017-08-14"
    assert len(wh.read(TABLE, "KO")) == kept > 30  # a past universe still has its history
    stamps = wh.read(TABLE, "KO", columns=["datetime"])["datetime"]  # a dataset over the past: KO at each bar
    ds = build(tmp_path, table=TABLE, start=stamps.min(), end=stamps.max(), labels=["fwd_return:1"],
               splits=None, register=False)
    frame = ds.to_pandas()
    assert set(frame["symbol"]) == {"KO"} and len(frame) == kept
    (a,) = read_actions(DeltaStore(tmp_path))
    assert a.kind == "delisting" and str(a.date) == "2017-08-14" and a.applied_at is not None


@pytest.mark.parametrize(("line", "message"), [
    ("AAPL,spilt,2014-06-09,1,7,,", "kind 'spilt' is not one of"),
    ("AAPL,split,09/06/2014,1,7,,", "line 3, column 'date'"),
    ("AAPL,split,2014-06-09,1,,,", "needs from_factor and to_factor"),
    ("AAPL,split,2014-06-09,1,-7,,", "must be a positive number"),
    ("KO,dividend,2015-03-12,,,,USD", "needs an amount"),
    ("FB,rename,2022-06-09,,,,,", "needs a different new symbol"),
])
def test_bad_lines_are_clear_errors_and_record_nothing(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("symbol,kind,date,from_factor,to_factor,amount,currency,new_symbol\n"
                    "KO,dividend,2015-03-12,,,0.33,USD,\n" + line + "\n")
    result = CliRunner().invoke(app, ["actions", "load", str(path), "-w", str(tmp_path / "wh")])
    assert result.exit_code != 0 and message in str(result.exception)
    assert not DeltaStore(tmp_path / "wh").exists("corporate_actions")


def test_missing_columns_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("symbol,kind,date\nAAPL,split,2014-06-09\n")
    result = CliRunner().invoke(app, ["actions", "load", str(path), "-w", str(tmp_path)])
    assert result.exit_code != 0 and "missing columns ['from_factor', 'to_factor'" in str(result.exception)


@pytest.mark.shared_data
def test_as_traded_vendor_intraday_bars_are_stored_adjusted(shared_data: Path, tmp_path: Path) -> None:
    """A known split, then TwelveData 1-minute bars (unadjusted) of the days before it: stored adjusted,
    and a re-delivery of the same as-traded bars compares equal (no change, no commit)."""
    raw = pd.read_csv(shared_data / "ohlcv" / "spy_1min_2020-12-15_18.csv")
    minute = pd.DataFrame({
        "symbol": "SPY",
        "datetime": pd.to_datetime(raw["date"]).dt.tz_localize("America/New_York").dt.tz_convert("UTC"),
        **{c: raw[c].astype(float) for c in ("open", "high", "low", "close", "volume")},
    }).iloc[:800]
    _load(tmp_path, "SPY,split,2020-12-17,1,4,,,\n")
    traded = minute.copy()
    before = traded["datetime"] < pd.Timestamp("2020-12-17", tz="UTC")
    traded.loc[before, ["open", "high", "low", "close"]] *= 4
    traded.loc[before, "volume"] /= 4
    store = DeltaStore(tmp_path)
    load_bars(store, "stocks_1min_clean", traded, source="twelvedata")
    got = Warehouse(tmp_path).read("stocks_1min_clean").merge(minute, on=["symbol", "datetime"], suffixes=("", "_a"))
    assert len(got) > 700
    np.testing.assert_allclose(got["close"], got["close_a"], rtol=1e-12)
    np.testing.assert_allclose(got["volume"], got["volume_a"], rtol=1e-12)
    v = store.version("stocks_1min_clean")
    again = load_bars(store, "stocks_1min_clean", traded, source="twelvedata")
    assert again.inserted == again.updated == 0 and store.version("stocks_1min_clean") == v


@pytest.mark.shared_data
def test_as_traded_vendor_daily_bars_are_stored_adjusted(sp500_adjusted: pd.DataFrame, tmp_path: Path) -> None:
    """TwelveData daily bars arrive as traded (fetched with adjust=none) like intraday ones: after a known
    split they are stored adjusted, and a re-delivery of the same bars compares equal (no commit)."""
    from tests.actions.conftest import de_adjust

    aapl = sp500_adjusted[sp500_adjusted["symbol"] == "AAPL"].iloc[430:480]  # around the 2014-06-09 split
    _load(tmp_path, "AAPL,split,2014-06-09,1,7,,,\n")
    store = DeltaStore(tmp_path)
    load_bars(store, TABLE, _bars(de_adjust(aapl)), source="twelvedata")
    got = Warehouse(tmp_path).read(TABLE, "AAPL")
    np.testing.assert_allclose(got["close"].to_numpy(), aapl["close"].to_numpy()[: len(got)], rtol=1e-9)
    np.testing.assert_allclose(got["volume"].to_numpy(), aapl["volume"].to_numpy()[: len(got)], rtol=1e-9)
    v = store.version(TABLE)
    again = load_bars(store, TABLE, _bars(de_adjust(aapl)), source="twelvedata")
    assert again.inserted == again.updated == 0 and store.version(TABLE) == v


def test_an_applied_split_with_other_numbers_is_refused(tmp_path: Path) -> None:
    _load(tmp_path, "AAPL,split,2014-06-09,1,7,,,\n")
    path = tmp_path / "other.csv"
    path.write_text(HEADER + "AAPL,split,2014-06-09,1,4,,,\n")
    result = CliRunner().invoke(app, ["actions", "load", str(path), "-w", str(tmp_path)])
    assert result.exit_code != 0 and "already applied with other numbers" in str(result.exception)
    (a,) = read_actions(DeltaStore(tmp_path))
    assert a.to_factor == 7


def test_unknown_adjust_mode_is_a_clear_error(tmp_path: Path) -> None:
    from marketlake.errors import ConfigError

    _load(tmp_path, "KO,dividend,2015-03-12,,,0.33,USD,\n")  # creates the warehouse directory
    with pytest.raises(ConfigError, match="adjust must be one of splits, none, total_return"):
        Warehouse(tmp_path).read(TABLE, adjust="dividends")


@pytest.mark.shared_data
def test_a_recompute_of_vendor_daily_bars_does_not_hide_a_later_split(shared_data: Path, tmp_path: Path) -> None:
    from datetime import UTC, date, datetime

    from marketlake.actions import Action, record
    from tests.actions.conftest import de_adjust

    f = pd.read_csv(shared_data / "ohlcv" / "sp500_daily_2012_2017.csv.gz")
    f = f[(f["datetime"] >= "2013-11-01") & (f["datetime"] < "2014-06-01")]
    aapl = f[f["symbol"] == "AAPL"]
    others = f[f["symbol"].isin(["MSFT", "ORCL"])].copy()
    pre = (others["symbol"] == "MSFT") & (others["datetime"] < "2014-01-15")  # MSFT as traded around a 2:1 split
    others.loc[pre, ["open", "high", "low", "close"]] *= 2
    others.loc[pre, "volume"] /= 2
    meta = pd.DataFrame({"symbol": ["AAPL", "MSFT", "ORCL"], "sector": "Information Technology"})
    store = DeltaStore(tmp_path)
    fetched = datetime(2014, 6, 1, tzinfo=UTC)  # AAPL from TwelveData before its 2014-06-09 split: as traded
    load_bars(store, TABLE, _bars(others), source="csv", metadata=meta, now=fetched)
    load_bars(store, TABLE, _bars(de_adjust(aapl)), source="twelvedata", metadata=meta, now=fetched)
    record(store, [Action(symbol="MSFT", kind="split", date=date(2014, 1, 15), from_factor=1, to_factor=2)],
           now=datetime(2014, 7, 2, tzinfo=UTC))  # rewrites AAPL rows whose rs_sector_20 moves
    record(store, [Action(symbol="AAPL", kind="split", date=date(2014, 6, 9), from_factor=1, to_factor=7)],
           now=datetime(2014, 7, 3, tzinfo=UTC))
    got = Warehouse(tmp_path).read(TABLE, "AAPL", columns=["close"])
    np.testing.assert_allclose(got["close"].to_numpy(), aapl["close"].to_numpy()[: len(got)], rtol=1e-9)
