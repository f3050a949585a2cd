"""Hypothesis invariants on random valid bars: ranges, partitions of the bar, ordering of the profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketlake.features import compute, compute_table

_SETTINGS = settings(max_examples=25, deadline=None)


@st.composite
def random_bars(draw: st.DrawFn, max_bars: int = 90) -> pd.DataFrame:
    n = draw(st.integers(1, max_bars))
    seed = draw(st.integers(0, 2**32 - 1))
    flat_every = draw(st.sampled_from([0, 3, 7]))  # some bars with H == L (and zero volume)
    rng = np.random.default_rng(seed)
    c = np.exp(np.cumsum(rng.normal(0, 0.03, n))) * draw(st.sampled_from([0.01, 1.0, 3000.0]))
    o = c * np.exp(rng.normal(0, 0.02, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.02, n)))
    low = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.02, n)))
    v = np.floor(rng.lognormal(5, 2, n))
    if flat_every:
        k = np.arange(n) % flat_every == 0
        o[k] = h[k] = low[k] = c[k]
        v[k] = 0.0
    dt = pd.date_range("2023-01-02 14:30", periods=n, freq="B", tz="UTC")
    return pd.DataFrame({"symbol": "X", "datetime": dt, "open": o, "high": h, "low": low, "close": c, "volume": v})


@_SETTINGS
@given(random_bars())
def test_bounded_and_partition_invariants(bars: pd.DataFrame) -> None:
    out = compute(bars)
    tol = 1e-9
    for col in ("rsi_14", "mfi_14", "stoch_k", "stoch_d"):
        x = out[col].dropna()
        assert ((x >= -tol) & (x <= 100 + tol)).all(), col
    parts = out[["close_location", "body_ratio", "upper_shadow_ratio", "lower_shadow_ratio"]].dropna()
    assert ((parts >= -tol) & (parts <= 1 + tol)).all().all()
    total = parts["body_ratio"] + parts["upper_shadow_ratio"] + parts["lower_shadow_ratio"]
    np.testing.assert_allclose(total.to_numpy(), 1.0, atol=1e-9)
    flat = out["high"] == out["low"]
    assert out.loc[flat, ["close_location", "body_ratio"]].isna().all().all()
    vp = out[["vp_value_area_low", "vp_poc", "vp_value_area_high", "low", "high"]].copy()
    vp["min_l"] = out["low"].rolling(20).min()
    vp["max_h"] = out["high"].rolling(20).max()
    vp = vp.dropna()
    assert (vp["vp_value_area_low"] <= vp["vp_poc"]).all() and (vp["vp_poc"] <= vp["vp_value_area_high"]).all()
    assert (vp["vp_value_area_low"] >= vp["min_l"]).all() and (vp["vp_value_area_high"] <= vp["max_h"]).all()
    for col, allowed in (("trend_regime", {-1, 0, 1}), ("volatility_regime", {0, 1, 2}),
                         ("trend_strength_regime", {0, 1, 2})):
        assert set(out[col].dropna().astype(int)) <= allowed, col
        assert str(out[col].dtype) == "Int8"


@_SETTINGS
@given(random_bars(max_bars=40), st.integers(0, 2**31))
def test_session_vwap_within_session_range(bars: pd.DataFrame, seed: int) -> None:
    rng = np.random.default_rng(seed)
    bars = bars.copy()
    # minute bars spread over a few New York sessions
    steps = np.cumsum(rng.integers(1, 240, len(bars)))
    bars["datetime"] = pd.Timestamp("2024-03-08 14:30", tz="UTC") + pd.to_timedelta(steps, unit="min")
    out = compute(bars, "stocks_1min_clean")
    for _, g in out.groupby("trade_date"):
        x = g["vwap"].dropna()
        assert (x >= g["low"].min() * (1 - 1e-12)).all() and (x <= g["high"].max() * (1 + 1e-12)).all()


@_SETTINGS
@given(random_bars())
def test_arrow_output_never_holds_nan_or_inf(bars: pd.DataFrame) -> None:
    tbl = compute_table(bars)
    for name in tbl.column_names:
        col = tbl.column(name)
        if col.type == "double":
            x = col.to_numpy(zero_copy_only=False)
            assert np.isfinite(x[~np.isnan(x)]).all()
            assert col.null_count == int(np.isnan(x).sum())  # every missing value is a NULL, never NaN
            assert not np.isnan(col.drop_null().to_numpy()).any(), name


def test_a_price_falling_to_zero_gives_null_never_inf_in_both_outputs() -> None:
    """log(0 / C_t-1) is -inf and C / 0 is inf: NULL in Arrow, NaN in pandas, on whatever path produced them."""
    n = 60
    close = np.linspace(10.0, 5.0, n)
    close[30] = 0.0  # one bar at zero: the log return into it and the ratios out of it are infinite
    bars = pd.DataFrame({"symbol": "ZERO", "datetime": pd.date_range("2023-01-02 14:30", periods=n, freq="B", tz="UTC"),
                         "open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
                         "volume": np.full(n, 1000.0)})
    frame, tbl = compute(bars), compute_table(bars)
    floats = [c for c in frame.columns if frame[c].dtype == "float64"]
    assert not np.isinf(frame[floats].to_numpy()).any()
    assert np.isnan(frame.loc[30, "log_return_1"]) and np.isnan(frame.loc[31, "return_1"])
    assert tbl.column("log_return_1")[30].as_py() is None and tbl.column("return_1")[31].as_py() is None
    assert frame.loc[29, "log_return_1"] == np.log(close[29] / close[28])  # neighbours are untouched


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # NumPy says so, rightly
def test_an_overflow_to_inf_is_stored_as_null() -> None:
    """close * volume beyond float64 (dollar_volume = inf): NULL in Arrow, NaN in pandas, not inf."""
    bars = pd.DataFrame({"symbol": "BIG", "datetime": pd.date_range("2023-01-02 14:30", periods=5, freq="B", tz="UTC"),
                         "open": 1e300, "high": 1e300, "low": 1e300, "close": 1e300, "volume": [1.0, 1e10, 1.0, 1.0, 1.0]})
    frame, tbl = compute(bars), compute_table(bars)
    assert np.isnan(frame.loc[1, "dollar_volume"]) and frame.loc[0, "dollar_volume"] == 1e300
    assert tbl.column("dollar_volume").to_pylist()[:2] == [1e300, None]
