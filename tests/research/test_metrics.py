"""Evaluation metrics against obvious hand-made cases and pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketlake.research.metrics import hit_rate, ic_series, long_short


def _panel(n_dt: int = 30, n_sym: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"dt": np.repeat(np.arange(n_dt), n_sym), "sym": np.tile(np.arange(n_sym), n_dt)})
    df["ret"] = rng.normal(0, 0.02, len(df))
    df["score"] = df["ret"] * 0.3 + rng.normal(0, 0.02, len(df))
    df.loc[rng.choice(len(df), 40, replace=False), "score"] = np.nan
    return df


def test_ic_and_rank_ic_equal_pandas_per_datetime() -> None:
    df = _panel()
    dates, ic, ric = ic_series(df["dt"].to_numpy(), df["score"].to_numpy(), df["ret"].to_numpy())
    ref = df.dropna().groupby("dt")
    np.testing.assert_allclose(ic, ref.apply(lambda g: g["score"].corr(g["ret"])).to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(ric, ref.apply(lambda g: g["score"].corr(g["ret"], method="spearman")).to_numpy(),
                               rtol=1e-10)
    assert list(dates) == list(range(30))


def test_perfect_and_inverted_scores() -> None:
    df = _panel()
    dt, r = df["dt"].to_numpy(), df["ret"].to_numpy()
    assert np.allclose(ic_series(dt, r, r)[1], 1.0)
    assert hit_rate(dt, r, r) == 1.0 and hit_rate(dt, -r, r) == 0.0


def test_long_short_turnover_costs_and_drawdown() -> None:
    df = _panel(n_dt=20)
    dt, sym, r = df["dt"].to_numpy(), df["sym"].to_numpy(), df["ret"].to_numpy()
    # a constant ranking: full turnover (2 units: 1 long + 1 short) once, then none
    fixed = df["sym"].to_numpy().astype(float)
    ls = long_short(dt, sym, fixed, r, step=5, cost_bps=10.0)
    assert ls.periods == 4 and ls.turnover == [2.0, 0.0, 0.0, 0.0]
    top, bot = df["sym"] >= 45, df["sym"] <= 4
    chosen = df["dt"].isin([0, 5, 10, 15])
    gross = (df[chosen & top].groupby("dt")["ret"].mean() - df[chosen & bot].groupby("dt")["ret"].mean()).to_numpy()
    np.testing.assert_allclose(ls.gross, gross, rtol=1e-12)
    np.testing.assert_allclose(ls.net, gross - np.array([2.0, 0, 0, 0]) * 10e-4, rtol=1e-12)
    equity = np.cumprod(1 + np.asarray(ls.net))
    assert np.isclose(ls.max_drawdown, np.max(1 - equity / np.maximum.accumulate(equity)))
    # perfect foresight earns, and a reshuffled ranking pays more turnover
    assert long_short(dt, sym, r, r, step=1, cost_bps=0).mean_gross > 0
    assert long_short(dt, sym, r, r, step=1, cost_bps=0).mean_turnover > 2.0
