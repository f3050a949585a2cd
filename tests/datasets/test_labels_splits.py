"""Labels against an independent per-symbol computation on real S&P bars; purging and embargo invariants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from marketlake.datasets import build
from marketlake.storage import DeltaStore

LABELS = ["fwd_return:5", "fwd_log_return:3", "excess_return:h=5,benchmark=mean", "excess_return:h=2,benchmark=AAPL",
          "sign:5", "threshold:h=5,up=0.01,down=0.02", "triple_barrier:h=10,mult=1.5,vol=20"]


@pytest.fixture(scope="module")
def built(sp500_shared: DeltaStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    ds = build(sp500_shared, table="stocks_daily_clean", start="2013-01-01", features=["close", "rsi_14"],
               labels=LABELS, splits=None, register=False)
    closes = sp500_shared.read("stocks_daily_clean", start="2013-01-01", columns=["symbol", "datetime", "close"])
    return ds.to_pandas(), closes.to_pandas()


def _independent(closes: pd.DataFrame) -> pd.DataFrame:
    """The same labels the slow, obvious way: pandas shift per symbol, Python loops for the barrier."""
    df = closes.sort_values(["symbol", "datetime"]).reset_index(drop=True)
    g = df.groupby("symbol")["close"]
    df["r5"] = g.shift(-5) / df["close"] - 1
    df["l3"] = np.log(g.shift(-3) / df["close"])
    df["r2"] = g.shift(-2) / df["close"] - 1
    df["ex_mean"] = df["r5"] - df.groupby("datetime")["r5"].transform("mean")
    aapl = df[df.symbol == "AAPL"].set_index("datetime")["r2"]
    df["ex_aapl"] = df["r2"] - df["datetime"].map(aapl)
    df["sign"] = np.sign(df["r5"])
    df["thr"] = np.where(df["r5"] > 0.01, 1.0, np.where(df["r5"] < -0.02, -1.0, 0.0))
    df.loc[df["r5"].isna(), "thr"] = np.nan
    tb = []
    for _sym, part in df.groupby("symbol", sort=False):
        c = part["close"].to_numpy()
        rets = c[1:] / c[:-1] - 1
        for i in range(len(c)):
            if i + 10 >= len(c) or i < 20:
                tb.append(math.nan)
                continue
            sigma = float(np.std(rets[i - 20:i], ddof=1))
            w = 1.5 * sigma * math.sqrt(10)
            out = 0.0
            for k in range(1, 11):
                r = c[i + k] / c[i] - 1
                if r <= -w:
                    out = -1.0
                    break
                if r >= w:
                    out = 1.0
                    break
            tb.append(out)
    df["tb"] = tb
    return df


def test_labels_equal_an_independent_computation(built: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ds, closes = built
    ref = _independent(closes)
    got = ds.sort_values(["symbol", "datetime"]).reset_index(drop=True)
    assert len(got) == len(ref) and (got["symbol"].to_numpy() == ref["symbol"].to_numpy()).all()
    pairs = {"fwd_return_5": "r5", "fwd_log_return_3": "l3", "excess_return_5": "ex_mean", "excess_return_2": "ex_aapl",
             "sign_5": "sign", "threshold_5": "thr", "triple_barrier_10": "tb"}
    for col, r in pairs.items():
        a, b = got[col].to_numpy(dtype=float), ref[r].to_numpy(dtype=float)
        assert (np.isnan(a) == np.isnan(b)).all(), col
        np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=1e-12, atol=1e-15, err_msg=col)
        assert got[col].dtype == np.float64
    # the horizon running past the data is NULL, never filled: each symbol's last 5 bars
    last5 = got.groupby("symbol").tail(5)
    assert last5["fwd_return_5"].isna().all()
    assert got.groupby("symbol").head(-5)["fwd_return_5"].notna().all()


def test_no_symbol_before_its_first_bar(built: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ds, closes = built
    first = closes.groupby("symbol")["datetime"].min()
    assert (ds.groupby("symbol")["datetime"].min() == first).all()  # ABBV starts in 2013, nothing filled before
    assert len(ds) == len(closes)


def _fold_frames(store: DeltaStore, splits: str) -> tuple[pd.DataFrame, dict]:
    ds = build(store, table="stocks_daily_clean", features=["rsi_14"], labels=["fwd_return:5", "fwd_return:10"],
               splits=splits, register=False)
    return ds.to_pandas(), ds.manifest


def _label_end(df: pd.DataFrame, h: int) -> pd.Series:
    """Independent: the datetime of the symbol's bar h ahead (its last bar where that runs past)."""
    s = df.sort_values(["symbol", "datetime"])
    end = s.groupby("symbol")["datetime"].shift(-h)
    end = end.fillna(s.groupby("symbol")["datetime"].transform("max"))
    return end.reindex(df.index)


@pytest.mark.parametrize("splits", ["walk_forward:folds=4,embargo=5", "walk_forward:folds=3,embargo=2,mode=rolling",
                                    "kfold:folds=4,embargo=7"])
def test_no_training_label_window_overlaps_its_test_window(sp500_shared: DeltaStore, splits: str) -> None:
    df, man = _fold_frames(sp500_shared, splits)
    end = _label_end(df, 10)  # the longest label decides
    times = np.sort(df["datetime"].unique())
    embargo = int(splits.split("embargo=")[1].split(",")[0])
    folds = [c for c in df.columns if c.startswith("fold_")]
    assert len(folds) == int(splits.split("folds=")[1].split(",")[0])
    for f in folds:
        test = df[f] == "test"
        train = df[f] == "train"
        lo, hi = df.loc[test, "datetime"].min(), df.loc[test, "datetime"].max()
        assert test.sum() > 0 and train.sum() > 0
        overlap = train & (df["datetime"] <= hi) & (end >= lo)
        assert not overlap.any(), f
        # the embargo: no training row in the `embargo` datetimes after the test window
        after = times[times > hi][:embargo]
        assert not (train & df["datetime"].isin(after)).any(), f
        # every test datetime is wholly test; each row is train, test or NULL
        assert set(df[f].dropna().unique()) <= {"train", "test"}
        assert df.loc[df["datetime"].between(lo, hi), f].eq("test").all()
        if splits.startswith("walk_forward"):
            assert df.loc[train, "datetime"].max() < lo  # training precedes testing
        # purging removes what it must and no more: rows whose window ends before the test stay
        kept = (df["datetime"] < lo) & (end < lo)
        if splits.startswith("walk_forward") and "rolling" not in splits:
            assert train[kept].all()
    # test windows tile the later datetimes without overlap
    tests = [(f["test_start"], f["test_end"]) for f in man["folds"]]
    assert all(a[1] < b[0] for a, b in zip(tests, tests[1:]))
    if "kfold" in splits:
        assert sum(f["embargoed_rows"] for f in man["folds"]) > 0  # the embargo really removed rows


def test_rolling_window_length(sp500_shared: DeltaStore) -> None:
    df, _ = _fold_frames(sp500_shared, "walk_forward:folds=3,embargo=0,mode=rolling,window=100")
    for f in ("fold_1", "fold_2", "fold_3"):
        span = df.loc[df[f] == "train", "datetime"].nunique()
        assert span == 100 - 10  # the window, minus the 10 purged datetimes before the test window
