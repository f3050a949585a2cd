"""Non-TA-Lib columns against independent oracles: plain Python loops, closed forms, hand-worked cases."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from marketlake.features import compute
from marketlake.features.volume_profile import volume_profile
from tests.features.feature_bars import make_bars


def _sym(out: pd.DataFrame, sym: str) -> pd.DataFrame:
    return out[out["symbol"] == sym].reset_index(drop=True)


def _close(a: float, b: float, rel: float = 1e-9) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def _check(series: pd.Series, expected: list[float], name: str, rel: float = 1e-9) -> None:
    got = series.to_numpy(np.float64)
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if not _close(float(g), float(e), rel)]
    assert not bad, f"{name}: first mismatch at {bad[0]}: {got[bad[0]]} != {expected[bad[0]]}"


def test_bar_formulas_by_loop(panel_features: pd.DataFrame) -> None:
    g = _sym(panel_features, "S001")
    o, h, lo, c, v = (g[x].tolist() for x in ("open", "high", "low", "close", "volume"))
    n = len(c)
    nan = float("nan")
    prev = [nan] + c[:-1]
    exp: dict[str, list[float]] = {
        "previous_close": prev,
        "change": [c[i] - prev[i] for i in range(n)],
        "percent_change": [100 * (c[i] - prev[i]) / prev[i] for i in range(n)],
        "dollar_volume": [c[i] * v[i] for i in range(n)],
        "bar_range": [h[i] - lo[i] for i in range(n)],
        "return_1": [c[i] / prev[i] - 1 for i in range(n)],
        "log_return_1": [math.log(c[i] / prev[i]) if i else nan for i in range(n)],
        "return_20": [c[i] / c[i - 20] - 1 if i >= 20 else nan for i in range(n)],
        "gap_percent": [100 * (o[i] / prev[i] - 1) for i in range(n)],
        "intraday_return": [c[i] / o[i] - 1 for i in range(n)],
        "close_location": [(c[i] - lo[i]) / (h[i] - lo[i]) for i in range(n)],
        "body_ratio": [abs(c[i] - o[i]) / (h[i] - lo[i]) for i in range(n)],
        "upper_shadow_ratio": [(h[i] - max(o[i], c[i])) / (h[i] - lo[i]) for i in range(n)],
        "lower_shadow_ratio": [(min(o[i], c[i]) - lo[i]) / (h[i] - lo[i]) for i in range(n)],
        "pivot_point": [nan] + [(h[i] + lo[i] + c[i]) / 3 for i in range(n - 1)],
        "ichimoku_chikou": [c[i] - c[i - 26] if i >= 26 else nan for i in range(n)],
        "dist_high_252": [c[i] / max(h[i - 251 : i + 1]) - 1 if i >= 251 else nan for i in range(n)],
        "dist_low_252": [c[i] / min(lo[i - 251 : i + 1]) - 1 if i >= 251 else nan for i in range(n)],
        "dist_sma_50": [c[i] / (sum(c[i - 49 : i + 1]) / 50) - 1 if i >= 49 else nan for i in range(n)],
    }
    mid = lambda a, b, i: (max(h[a : b + 1]) + min(lo[a : b + 1])) / 2  # noqa: E731
    exp["ichimoku_senkou_a"] = [
        ((mid(i - 26 - 8, i - 26, i) + mid(i - 26 - 25, i - 26, i)) / 2) if i >= 51 else nan for i in range(n)
    ]
    exp["ichimoku_senkou_b"] = [mid(i - 26 - 51, i - 26, i) if i >= 77 else nan for i in range(n)]
    exp["hist_volatility_20"] = [
        statistics.stdev([math.log(c[j] / c[j - 1]) for j in range(i - 19, i + 1)]) * math.sqrt(252)
        if i >= 20 else nan for i in range(n)
    ]
    exp["volume_zscore_20"] = [
        (v[i] - statistics.fmean(v[i - 19 : i + 1])) / statistics.pstdev(v[i - 19 : i + 1]) if i >= 19 else nan
        for i in range(n)
    ]
    tp = [(h[i] + lo[i] + c[i]) / 3 for i in range(n)]
    exp["vwap"] = [
        sum(tp[j] * v[j] for j in range(i - 19, i + 1)) / sum(v[i - 19 : i + 1]) if i >= 19 else nan for i in range(n)
    ]
    exp["bb_width"] = [
        (4 * statistics.pstdev(c[i - 19 : i + 1])) / statistics.fmean(c[i - 19 : i + 1]) if i >= 19 else nan
        for i in range(n)
    ]
    for name, e in exp.items():
        _check(g[name], e, name, rel=1e-7 if name in ("bb_width", "volume_zscore_20") else 1e-9)


def test_hist_volatility_uses_table_bars_per_year() -> None:
    bars = make_bars(1, 60, seed=2, freq="h", start="2024-01-01")
    bars["symbol"] = "BTC/USD"
    hv = {t: compute(bars, t)["hist_volatility_20"].to_numpy() for t in ("crypto_daily_clean", "crypto_hourly_clean")}
    ok = ~np.isnan(hv["crypto_daily_clean"])
    np.testing.assert_allclose(hv["crypto_hourly_clean"][ok] / hv["crypto_daily_clean"][ok], math.sqrt(24), rtol=1e-12)


# ---- volume profile: a plain Python oracle and a hand-worked case ----

def _vp_loop(h, lo, c, v, t, w=20, bins=24, va=0.7):  # type: ignore[no-untyped-def]
    win = range(t - w + 1, t + 1)
    mn, mx = min(lo[j] for j in win), max(h[j] for j in win)
    total = sum(v[j] for j in win)
    if not (mx > mn) or total <= 0:
        return (math.nan,) * 3
    width = (mx - mn) / bins
    prof = [0.0] * bins
    for j in win:
        k = math.floor(((h[j] + lo[j] + c[j]) / 3 - mn) / width)
        prof[min(max(k, 0), bins - 1)] += v[j]
    best = max(prof)
    centre = lambda k: mn + (k + 0.5) * width  # noqa: E731
    poc = min((k for k in range(bins) if prof[k] == best), key=lambda k: (abs(centre(k) - c[t]), k))
    up = dn = poc
    inc = prof[poc]
    while inc < va * total:
        a = prof[up + 1] if up + 1 < bins else None
        b = prof[dn - 1] if dn - 1 >= 0 else None
        if a is None and b is None:
            break
        if b is None or (a is not None and a >= b):
            up += 1
            inc += a  # type: ignore[operator]
        else:
            dn -= 1
            inc += b
    vah = mx if up == bins - 1 else mn + (up + 1) * width
    return centre(poc), vah, mn + dn * width


def test_volume_profile_matches_loop(panel_features: pd.DataFrame) -> None:
    g = _sym(panel_features, "S002")
    h, lo, c, v = (g[x].tolist() for x in ("high", "low", "close", "volume"))
    for t in range(19, len(c)):
        exp = _vp_loop(h, lo, c, v, t)
        got = tuple(float(g[x][t]) for x in ("vp_poc", "vp_value_area_high", "vp_value_area_low"))
        assert all(_close(a, b) for a, b in zip(got, exp)), (t, got, exp)
    assert g["vp_poc"][:19].isna().all()


def test_volume_profile_hand_worked() -> None:
    """20 bars on a 0..24 range: bar k has TP = k + 0.5 (k < 19), one big bar at TP 12.5 -> POC 12.5."""
    w = 20
    tp = np.array([k + 0.5 for k in range(19)] + [12.5])
    h = np.r_[np.full(19, 24.0), 24.0]
    lo = np.r_[np.full(19, 0.0), 0.0]
    c = 3 * tp - h - lo  # so that (H + L + C) / 3 == tp
    v = np.r_[np.full(19, 1.0), 100.0]
    poc, vah, val = volume_profile(h, lo, c, v, (h + lo + c) / 3, timeperiod=w, bins=24, value_area=0.7)
    # width 1; bin 12 holds 101 of 119 (> 70%), so the value area is the POC bin alone
    assert poc[-1] == pytest.approx(12.5) and vah[-1] == pytest.approx(13.0) and val[-1] == pytest.approx(12.0)
    assert np.isnan(poc[:-1]).all()


def test_volume_profile_tie_prefers_bin_nearest_close_then_lower() -> None:
    h = np.full(20, 24.0)
    lo = np.zeros(20)
    tp = np.array([2.5] * 10 + [20.5] * 10)  # two bins with equal volume
    v = np.ones(20)
    near_top = np.full(20, 19.0)  # the close is nearer the 20.5 centre
    poc, _, _ = volume_profile(h, lo, near_top, v, tp, timeperiod=20, bins=24, value_area=0.7)
    assert poc[-1] == pytest.approx(20.5)
    between = np.full(20, 11.5)  # exactly between the two centres -> the lower bin
    poc2, _, _ = volume_profile(h, lo, between, v, tp, timeperiod=20, bins=24, value_area=0.7)
    assert poc2[-1] == pytest.approx(2.5)


# ---- cross-section ----

def test_benchmark_rs_and_beta_align_by_datetime() -> None:
    bars = make_bars(3, 200, seed=4)
    spy = bars["symbol"] == "SPY"
    # the benchmark misses some datetimes; another symbol starts later
    drop = bars.index[spy][[30, 31, 90]]
    bars = bars.drop(index=drop)
    bars = bars.drop(index=bars.index[(bars["symbol"] == "S002")][:15])
    out = compute(bars)
    b = _sym(out, "SPY").set_index("datetime")
    for sym in ("S001", "S002"):
        g = _sym(out, sym)
        bench20 = b["return_20"].reindex(g["datetime"]).to_numpy()
        _check(g["rs_benchmark_20"], list(g["return_20"].to_numpy() - bench20), f"rs {sym}")
        r = g["return_1"].to_numpy()
        rb = b["return_1"].reindex(g["datetime"]).to_numpy()
        exp = []
        pairs: list[tuple[float, float]] = []
        for i in range(len(g)):
            if not (math.isnan(r[i]) or math.isnan(rb[i])):
                pairs.append((r[i], rb[i]))
            last = pairs[-60:]
            if len(last) < 60:
                exp.append(math.nan)
                continue
            xs, ys = zip(*last)
            exp.append(statistics.covariance(xs, ys) / statistics.variance(ys))
        _check(g["beta_60"], exp, f"beta {sym}", rel=1e-7)
    assert _sym(out, "SPY")["beta_60"].dropna().sub(1).abs().max() < 1e-9


def test_missing_benchmark_gives_nulls() -> None:
    out = compute(make_bars(3, 100, seed=5, symbols=["A", "B", "C"]))
    assert out["rs_benchmark_20"].isna().all() and out["beta_60"].isna().all()
    out2 = compute(make_bars(3, 100, seed=5, symbols=["A", "B", "C"]), benchmark="B")
    assert out2["rs_benchmark_20"].notna().sum() > 0


def test_sector_median_with_three_peers_minimum() -> None:
    bars = make_bars(7, 60, seed=6, sectors=("Tech", "Tech", "Tech", "Energy", "Energy", "Tech"))
    bars.loc[bars["symbol"] == "S006", "sector"] = None  # NULL sector -> NULL
    out = compute(bars)
    for _, row in out.iterrows():
        if row["symbol"] == "S006" or pd.isna(row["return_20"]):
            assert pd.isna(row["rs_sector_20"])
            continue
        peers = out[(out["datetime"] == row["datetime"]) & (out["sector"] == row["sector"])]["return_20"].dropna()
        if len(peers) < 3:
            assert pd.isna(row["rs_sector_20"]), row["symbol"]
        else:
            assert row["rs_sector_20"] == pytest.approx(row["return_20"] - statistics.median(peers), rel=1e-12)
    assert out.loc[out["sector"] == "Energy", "rs_sector_20"].isna().all()  # only two Energy symbols


# ---- regimes ----

def test_regimes_by_loop(panel_features: pd.DataFrame) -> None:
    g = _sym(panel_features, "S003")
    hv = g["hist_volatility_20"].to_numpy()
    for t in range(len(g)):
        sma200, sma50, c = g["sma_200"][t], g["sma_50"][t], g["close"][t]
        tr = g["trend_regime"][t]
        if pd.isna(sma200):
            assert pd.isna(tr)
        else:
            assert tr == (1 if c > sma200 and sma50 > sma200 else -1 if c < sma200 and sma50 < sma200 else 0)
        vr = g["volatility_regime"][t]
        window = hv[max(0, t - 251) : t + 1]
        if t < 251 or np.isnan(window).any():
            assert pd.isna(vr)
        else:
            rank = sum(1 for x in window if x <= hv[t]) / 252
            assert vr == (0 if rank < 1 / 3 else 1 if rank <= 2 / 3 else 2)
        adx = g["adx_14"][t]
        ts = g["trend_strength_regime"][t]
        assert pd.isna(ts) if pd.isna(adx) else ts == (0 if adx < 20 else 1 if adx < 25 else 2)
