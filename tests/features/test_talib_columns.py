"""Every column fields.md ties to a TA-Lib function equals that function on the symbol's full history.

The oracle calls TA-Lib directly, every parameter spelled out here (not read from our catalogue), per symbol.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from marketlake.features import compute
from marketlake.schema import FIELDS
from tests.features.feature_bars import make_bars


def _oracle(o: np.ndarray, h: np.ndarray, low: np.ndarray, c: np.ndarray, v: np.ndarray) -> dict[str, np.ndarray]:
    macd = talib.MACD(c, fastperiod=12, slowperiod=26, signalperiod=9)
    stoch = talib.STOCH(h, low, c, fastk_period=14, slowk_period=3, slowk_matype=0, slowd_period=3, slowd_matype=0)
    bb = talib.BBANDS(c, timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=0)
    return {
        "typical_price": talib.TYPPRICE(h, low, c),
        "median_price": talib.MEDPRICE(h, low),
        "weighted_close": talib.WCLPRICE(h, low, c),
        "true_range": talib.TRANGE(h, low, c),
        "rsi_14": talib.RSI(c, timeperiod=14),
        "macd": macd[0], "macd_signal": macd[1], "macd_histogram": macd[2],
        "stoch_k": stoch[0], "stoch_d": stoch[1],
        "williams_r_14": talib.WILLR(h, low, c, timeperiod=14),
        "roc_10": talib.ROC(c, timeperiod=10),
        "mom_10": talib.MOM(c, timeperiod=10),
        "sma_10": talib.SMA(c, timeperiod=10), "sma_20": talib.SMA(c, timeperiod=20),
        "sma_50": talib.SMA(c, timeperiod=50), "sma_200": talib.SMA(c, timeperiod=200),
        "ema_12": talib.EMA(c, timeperiod=12), "ema_26": talib.EMA(c, timeperiod=26),
        "ema_50": talib.EMA(c, timeperiod=50), "ema_200": talib.EMA(c, timeperiod=200),
        "wma_20": talib.WMA(c, timeperiod=20),
        "kama_10": talib.KAMA(c, timeperiod=10),
        "bb_upper": bb[0], "bb_lower": bb[2],
        "adx_14": talib.ADX(h, low, c, timeperiod=14),
        "plus_di_14": talib.PLUS_DI(h, low, c, timeperiod=14),
        "minus_di_14": talib.MINUS_DI(h, low, c, timeperiod=14),
        "atr_14": talib.ATR(h, low, c, timeperiod=14),
        "natr_14": talib.NATR(h, low, c, timeperiod=14),
        "obv": talib.OBV(c, v),
        "volume_sma_20": talib.SMA(v, timeperiod=20),
        "cci_20": talib.CCI(h, low, c, timeperiod=20),
        "ppo": talib.PPO(c, fastperiod=12, slowperiod=26, matype=1),
        "mfi_14": talib.MFI(h, low, c, v, timeperiod=14),
        "cmf_20": talib.CMF(h, low, c, v, timeperiod=20),
        "ad_line": talib.AD(h, low, c, v),
        "ichimoku_tenkan": talib.MIDPRICE(h, low, timeperiod=9),
        "ichimoku_kijun": talib.MIDPRICE(h, low, timeperiod=26),
        "donchian_high_20": talib.MAX(h, timeperiod=20),
        "donchian_low_20": talib.MIN(low, timeperiod=20),
    }


def _assert_close(actual: np.ndarray, expected: np.ndarray, name: str) -> None:
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), f"{name}: NULL pattern differs from TA-Lib"
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(actual[ok], expected[ok], rtol=1e-9, atol=1e-12, err_msg=name)


def test_oracle_covers_every_talib_field() -> None:
    """The catalogue's TA-Lib columns (except session VWAP, tested below) are all checked here."""
    named = {f.name for f in FIELDS if f.talib is not None}
    o = np.linspace(10, 20, 60)
    assert named == set(_oracle(o, o, o, o, o))


@pytest.mark.parametrize("n_bars", [300, 45, 5])
def test_talib_columns_equal_talib(n_bars: int) -> None:
    bars = make_bars(4, n_bars, seed=n_bars)
    out = compute(bars, "stocks_daily_clean")
    for sym, got in out.groupby("symbol", sort=False):
        src = bars[bars["symbol"] == sym].sort_values("datetime")
        arrs = [src[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")]
        for name, expected in _oracle(*arrs).items():
            _assert_close(got[name].to_numpy(np.float64), expected, f"{sym}.{name}")


def test_unsorted_input_is_sorted_and_equal() -> None:
    bars = make_bars(3, 120, seed=5)
    shuffled = bars.sample(frac=1.0, random_state=1)
    a = compute(bars, updated_at=pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime())
    b = compute(shuffled, updated_at=pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime())
    pd.testing.assert_frame_equal(a, b)
    assert list(a["symbol"]) == sorted(a["symbol"])


def test_session_vwap_equals_talib_vwap_per_session() -> None:
    """Intraday: vwap = TA-Lib VWAP on each (symbol, trade_date) session's bars; resets each session."""
    bars = make_bars(2, 3 * 390, seed=7, freq="min", start="2024-03-08 14:30")  # crosses NY midnight + DST
    out = compute(bars, "stocks_1min_clean")
    for (sym, day), g in out.groupby(["symbol", "trade_date"], sort=False):
        h, low, c, v = (g[x].to_numpy(np.float64) for x in ("high", "low", "close", "volume"))
        _assert_close(g["vwap"].to_numpy(np.float64), talib.VWAP(h, low, c, v), f"vwap {sym} {day}")
    local = pd.DatetimeIndex(out["datetime"]).tz_convert("America/New_York")
    assert (out["trade_date"].astype("datetime64[s]").dt.date.to_numpy() == local.date).all()


def test_flat_stretch_is_null_only_where_talib_divides_by_zero() -> None:
    """A 30-bar flat, volume-less stretch: WILLR/CCI/CMF NULL exactly where their window is degenerate."""
    bars = make_bars(1, 120, seed=3)
    flat = slice(40, 69)  # .loc is inclusive: bars 40..69
    for col in ("open", "high", "low", "close"):
        bars.loc[flat, col] = 100.0
    bars.loc[flat, "volume"] = 0.0
    out = compute(bars)
    h, low, c, v = (bars[x].to_numpy(np.float64) for x in ("high", "low", "close", "volume"))
    checks = {
        "williams_r_14": (talib.WILLR(h, low, c, timeperiod=14), 14),
        "cci_20": (talib.CCI(h, low, c, timeperiod=20), 20),
        "cmf_20": (talib.CMF(h, low, c, v, timeperiod=20), 20),
    }
    for name, (expected, w) in checks.items():
        got = out[name].to_numpy(np.float64)
        degenerate = np.zeros(len(c), dtype=bool)
        degenerate[40 + w - 1 : 70] = True
        assert np.isnan(got[degenerate]).all(), name
        keep = ~degenerate
        _assert_close(got[keep], expected[keep], name)
