"""Incremental updates: continuing from the feature state equals a full compute over the whole history.

Oracles: TA-Lib itself (every state kernel replayed from a symbol's first bar must print TA-Lib's values),
and the full compute over all bars (features are causal, so its rows at the new bars are what any chain of
updates must write). Column classes (docs/features.md "Incremental updates"):
* bit-identical: every column except those below, NULL positions included;
* atr_14, natr_14, kama_10: continued from state, within 1e-12 relative (the build's step is not reproduced
  bit for bit; see `_resume.atr` and `_resume.kama`);
* DRIFT_COLUMNS: recomputed from the last bars, within 1e-9 relative (+ 1e-9 absolute for the oscillators)
  of the full compute (TA-Lib's running sums in the full compute), NULL positions identical.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from marketlake.features import FeatureInputError, _resume, compute_table, state
from marketlake.features._long import LONG_COLUMNS
from marketlake.features._segments import Segments, rolling_max, rolling_min
from marketlake.features.equivalence import DRIFT_COLUMNS, PRICE_SCALED, equivalent, row_equivalent
from marketlake.features.state import history_bars, short_history_bars
from marketlake.schema import SUPPORT_SCHEMAS
from marketlake.schema.fields import FIELDS
from tests.features.feature_bars import SHARED_OHLCV, load_ohlcv, make_bars

W = history_bars()
SHORT = short_history_bars()
NEAR = ("atr_14", "natr_14", "kama_10")
FLOATS = tuple(f.name for f in FIELDS if f.dtype == "float64")
EXACT = tuple(c for c in (*FLOATS, "trend_regime", "volatility_regime", "trend_strength_regime")
              if c not in DRIFT_COLUMNS and c not in NEAR)


# --- the kernels replay TA-Lib -----------------------------------------------------------------------------------

def _series(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    close = np.abs(50 + np.cumsum(rng.normal(0, 1, n)))
    high, low = close + rng.random(n), np.maximum(close - rng.random(n), 0.0)
    volume = rng.integers(0, 1000, n).astype(np.float64)
    if n > 40:  # flat stretch, zero volume, zero prices
        k = int(rng.integers(0, n - 30))
        close[k:k + 25] = high[k:k + 25] = low[k:k + 25] = close[k]
        volume[k + 3:k + 9] = 0.0
        z = int(rng.integers(0, n - 5))
        close[z:z + 3] = high[z:z + 3] = low[z:z + 3] = 0.0
    return {"high": high, "low": low, "close": close, "volume": volume}


def _run_fresh(cols: dict[str, np.ndarray], seg: Segments) -> dict[str, list[np.ndarray]]:
    n, k = seg.n, len(seg.starts)
    first = np.full(k, -1, np.int64)
    S = np.full((k, len(state.STATE_COLUMNS)), np.nan)
    j = {c: i for i, c in enumerate(state.STATE_COLUMNS)}
    c, h, lo, v = cols["close"], cols["high"], cols["low"], cols["volume"]
    got: dict[str, list[np.ndarray]] = {}

    def outs(m: int) -> list[np.ndarray]:
        return [np.empty(n) for _ in range(m)]

    for p in (12, 26, 50, 200):
        got[f"EMA{p}"] = o = outs(1)
        _resume.ema(c, p, seg.starts, seg.stops, first, S, j[f"ema_{p}"], *o)
    for p in (10, 20, 200):
        got[f"SMA{p}"] = o = outs(1)
        _resume.sma(c, p, seg.starts, seg.stops, first, S, j["sma_10_total"], *o)
    got["MACD"] = o = outs(3)
    _resume.macd(c, 12, 26, 9, seg.starts, seg.stops, first, S, j["macd_fast"], *o)
    got["RSI"] = o = outs(1)
    _resume.rsi(c, 14, seg.starts, seg.stops, first, S, j["rsi_gain"], *o)
    got["ATR"] = o = outs(2)
    _resume.atr(h, lo, c, 14, seg.starts, seg.stops, first, S, j["atr"], *o)
    got["ADX"] = o = outs(3)
    _resume.adx(h, lo, c, 14, seg.starts, seg.stops, first, S, j["dm_plus"], *o)
    got["KAMA"] = o = outs(1)
    _resume.kama(c, 10, seg.starts, seg.stops, first, S, j["kama"], *o)
    got["OBV"] = o = outs(1)
    _resume.obv(c, v, seg.starts, seg.stops, first, S, j["obv"], *o)
    got["AD"] = o = outs(1)
    _resume.ad(h, lo, c, v, seg.starts, seg.stops, first, S, j["ad"], *o)
    got["STOCH"] = o = outs(2)
    _resume.stoch(rolling_max(h, 14, seg), rolling_min(lo, 14, seg), c, 14, 3, 3, seg.starts, seg.stops, first, S,
                  j["stoch_k_total"], *o)
    return got


def _want(name: str, cols: dict[str, np.ndarray], a: int, b: int) -> tuple[np.ndarray, ...]:
    h, lo, c, v = (cols[k][a:b] for k in ("high", "low", "close", "volume"))
    if name.startswith(("EMA", "SMA")):
        return (getattr(talib, name[:3])(c, int(name[3:])),)
    calls = {"MACD": lambda: talib.MACD(c, 12, 26, 9), "RSI": lambda: (talib.RSI(c, 14),),
             "ATR": lambda: (talib.ATR(h, lo, c, 14), talib.NATR(h, lo, c, 14)),
             "ADX": lambda: (talib.ADX(h, lo, c, 14), talib.PLUS_DI(h, lo, c, 14), talib.MINUS_DI(h, lo, c, 14)),
             "KAMA": lambda: (talib.KAMA(c, 10),), "OBV": lambda: (talib.OBV(c, v),),
             "AD": lambda: (talib.AD(h, lo, c, v),), "STOCH": lambda: talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)}
    return tuple(np.asarray(x, dtype=np.float64) for x in calls[name]())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), lengths=st.lists(st.integers(0, 700), min_size=1, max_size=6))
def test_state_kernels_replay_talib_from_the_first_bar(seed: int, lengths: list[int]) -> None:
    """A fresh replay prints TA-Lib's values (bit for bit; ATR/NATR, KAMA within 1e-13) for short, flat, zero-volume
    and zero-price series, so the state it ends with is TA-Lib's own."""
    rng = np.random.default_rng(seed)
    seg = Segments.from_lengths(np.array(lengths))
    cols = _series(rng, seg.n)
    got = _run_fresh(cols, seg)
    for name, outs in got.items():
        for a, b in zip(seg.starts.tolist(), seg.stops.tolist()):
            if a == b:
                continue
            for g, w in zip(outs, _want(name, cols, a, b)):
                x = g[a:b]
                assert np.array_equal(np.isnan(x), np.isnan(w)), (name, b - a)
                if name in ("ATR", "KAMA"):
                    np.testing.assert_allclose(x, w, rtol=1e-13, atol=0, err_msg=name)
                else:
                    assert np.array_equal(x, w, equal_nan=True), (name, b - a, np.flatnonzero(x != w)[:5])


# --- chains of updates equal the full compute -------------------------------------------------------------------

def _tail(bars: pd.DataFrame, since: pd.Timestamp, until: pd.Timestamp | None, keep: int = W) -> pd.DataFrame:
    """Per symbol: the last W bars before `since` (`keep` of them when it has more) and those in [since, until)."""
    old = bars[bars["datetime"] < since].groupby("symbol", sort=False).tail(W)
    if keep < W:  # the whole history of a short symbol, else only its last `keep` bars
        longer = old.groupby("symbol", sort=False)["datetime"].transform("size").to_numpy() >= W
        old = pd.concat([old[~longer], old[longer].groupby("symbol", sort=False).tail(keep)])
    new = bars[(bars["datetime"] >= since) & ((bars["datetime"] < until) if until is not None else True)]
    return pd.concat([old, new], ignore_index=True)


def _assert_rows_match(got: pa.Table, want: pd.DataFrame, where: str) -> None:
    g = got.to_pandas()
    assert len(g) == len(want), where
    assert g["symbol"].tolist() == want["symbol"].tolist() and (g["datetime"].to_numpy() == want["datetime"].to_numpy()).all()
    for c in (*FLOATS, "trend_regime", "volatility_regime", "trend_strength_regime"):
        x = g[c].to_numpy(np.float64, na_value=np.nan)
        y = want[c].to_numpy(np.float64, na_value=np.nan)
        assert np.array_equal(np.isnan(x), np.isnan(y)), (where, c, "NULL positions")
        if c in EXACT:
            assert np.array_equal(x, y, equal_nan=True), (where, c, np.nanmax(np.abs(x - y)))
        else:
            atol = 0.0 if c in NEAR or c in PRICE_SCALED else 1e-9
            np.testing.assert_allclose(x, y, rtol=1e-12 if c in NEAR else 1e-9, atol=atol, err_msg=f"{where} {c}")
    for c in ("trade_date", "name", "sector", "source"):
        assert g[c].astype(object).fillna("-").tolist() == want[c].astype(object).fillna("-").tolist(), (where, c)


def _chain(bars: pd.DataFrame, table: str, start: int, steps: list[int], short: bool = False, **kw: object) -> None:
    """Full compute (with state) over the distinct datetimes before `start`, then one update per entry of
    `steps` (that many datetimes each), every update from the last W bars + the previous state.

    `short`: the continued symbols pass only their last `short_history_bars()` bars and their long-window
    columns (`_long.LONG_COLUMNS`) over the last W bars as `long_rows`, hist_volatility_20 as stored (the
    rebuild's, which each step checks the chain wrote)."""
    bars = bars.sort_values(["symbol", "datetime"], ignore_index=True)
    rebuilt = compute_table(bars, table, updated_at=datetime(2026, 1, 1), **kw)  # type: ignore[arg-type]
    full = rebuilt.to_pandas()
    dt = rebuilt.column("datetime").to_numpy(zero_copy_only=False)
    times = np.sort(bars["datetime"].unique())
    cut = pd.Timestamp(times[start])
    _, st_ = compute_table(bars[bars["datetime"] < cut], table, state_out=True, **kw)  # type: ignore[call-overload]
    i = start
    for k in steps:
        since = pd.Timestamp(times[i])
        until = pd.Timestamp(times[i + k]) if i + k < len(times) else None
        extra: dict[str, object] = {}
        if short:
            old = full[full["datetime"] < since].groupby("symbol", sort=False).tail(W)
            long_rows = old[list(LONG_COLUMNS)].reset_index(drop=True)
            if i % 2:  # in any order (the engine sorts them; the pipeline passes them sorted per symbol)
                long_rows = long_rows.sample(frac=1.0, random_state=i).reset_index(drop=True)
            extra["long_rows"] = long_rows
        rows, st_ = compute_table(_tail(bars, since, until, SHORT if short else W), table, since=since.to_pydatetime(),
                                  state=st_, state_out=True, updated_at=datetime(2026, 1, 1), **extra,
                                  **kw)  # type: ignore[call-overload]
        picked = (dt >= since.to_datetime64()) & ((dt < until.to_datetime64()) if until is not None else True)
        want = full[picked]
        _assert_rows_match(rows, want.reset_index(drop=True), f"{table} step at {since}")
        assert equivalent(rows, rebuilt.filter(pa.array(picked))), since  # a rebuild would rewrite no row
        i += k


def _spy_daily() -> pd.DataFrame:
    return load_ohlcv("spy_daily_2017_2018.csv", symbol="SPY", tz="America/New_York")


def test_spy_daily_one_bar_at_a_time_x30_then_k_bars() -> None:
    _chain(_spy_daily(), "stocks_daily_clean", 300, [1] * 30 + [3, 7, 20])


def test_btc_daily_crypto_table() -> None:
    bars = load_ohlcv("btc_daily_2017_2021.csv", symbol="BTC/USD")
    _chain(bars, "crypto_daily_clean", 900, [1] * 10 + [5, 50])


def test_spx_long_history_and_penny_stock() -> None:
    spx = load_ohlcv("spx_daily_1999_2020.csv", symbol="SPX")
    _chain(spx, "stocks_daily_clean", 5200, [1] * 5 + [10])
    penny = load_ohlcv("penny_stock_daily.csv", symbol="PENNY", tz="America/New_York")
    _chain(penny, "stocks_daily_clean", 400, [1] * 10 + [4, 30])


def test_zero_prices_flat_stretches_and_zero_volume() -> None:
    zeros = load_ohlcv("edge_all_zeros_daily.csv", symbol="ZERO", tz="America/New_York")
    spy = _spy_daily()
    spy = spy[spy["datetime"] > zeros["datetime"].max()].assign(symbol="ZERO")
    spy.loc[spy.index[50:90], ["open", "high", "low", "close"]] = 80.0  # a flat stretch after the zeros
    spy.loc[spy.index[60:80], "volume"] = 0.0
    bars = pd.concat([zeros, spy], ignore_index=True)  # 200 zero bars, then a real history
    _chain(bars, "stocks_daily_clean", 330, [1] * 20 + [5, 100])


def test_short_histories_new_symbols_and_many_symbols() -> None:
    """S&P subset: symbols with fewer bars than W (whole history passed: recomputed), a symbol that appears
    after the first state (no state row: its bars are its whole history), SPY as benchmark."""
    path = SHARED_OHLCV / "sp500_daily_2012_2017.csv.gz"
    if not path.is_file():
        pytest.skip(f"real data not present at {path}")
    raw = pd.read_csv(path)
    keep = ["AAPL", "MSFT", "XOM", "JPM", "PFE", "GE", "T", "KO"]
    raw = raw[raw["symbol"].isin(keep)].dropna()
    bars = pd.DataFrame({"symbol": raw["symbol"], "datetime": pd.to_datetime(raw["datetime"]).dt.tz_localize("UTC"),
                         **{c: raw[c].astype("float64") for c in ("open", "high", "low", "close", "volume")}})
    bars["sector"] = bars["symbol"].map(lambda s: "Tech" if s in ("AAPL", "MSFT") else "Other")
    spy = make_bars(1, 1300, seed=2, start="2012-08-13", freq="B")  # a benchmark on the same dates
    spy = spy[spy["datetime"].isin(bars["datetime"])]
    late = bars[bars["symbol"] == "KO"]
    bars = pd.concat([bars[bars["symbol"] != "KO"], spy, late[late["datetime"] >= late["datetime"].iloc[-120]]])
    short = bars[bars["symbol"] == "GE"]
    bars = pd.concat([bars[bars["symbol"] != "GE"], short.tail(260)], ignore_index=True)  # < W + steps
    _chain(bars, "stocks_daily_clean", 1100, [1] * 5 + [3, 3, 40])


def test_spy_one_minute_across_sessions() -> None:
    """Session VWAP keeps its running sums in the state (W < a session's 390 bars); trade dates in New York."""
    bars = load_ohlcv("spy_1min_2020-12-15_18.csv", symbol="SPY", tz="America/New_York")
    bars["exchange_timezone"] = "America/New_York"
    _chain(bars, "stocks_1min_clean", 700, [1] * 30 + [17, 100, 391])


def test_hourly_synthetic_many_symbols() -> None:
    bars = make_bars(5, 700, seed=11, freq="h")
    bars["exchange_timezone"] = "UTC"
    _chain(bars, "crypto_hourly_clean", 600, [1] * 8 + [2, 13], benchmark="SPY")


def test_short_tails_with_long_rows_equal_the_full_compute() -> None:
    """Continued symbols given only their last short_history_bars() bars plus the narrow long-window rows:
    the same rows as the full compute (sma_200, the 252-bar extremes and the volatility tercile included),
    on real daily bars, long histories, zero prices and flat stretches, one bar and k bars at a time."""
    _chain(_spy_daily(), "stocks_daily_clean", 300, [1] * 12 + [3, 7, 20], short=True)
    spx = load_ohlcv("spx_daily_1999_2020.csv", symbol="SPX")
    _chain(spx, "stocks_daily_clean", 5200, [1] * 3 + [10, 260], short=True)
    zeros = load_ohlcv("edge_all_zeros_daily.csv", symbol="ZERO", tz="America/New_York")
    spy = _spy_daily()
    spy = spy[spy["datetime"] > zeros["datetime"].max()].assign(symbol="ZERO")
    spy.loc[spy.index[50:90], ["open", "high", "low", "close"]] = 80.0
    spy.loc[spy.index[60:80], "volume"] = 0.0
    _chain(pd.concat([zeros, spy], ignore_index=True), "stocks_daily_clean", 330, [1] * 10 + [5, 100], short=True)


def test_short_tails_many_symbols_and_hourly() -> None:
    """Many symbols of different lengths (short ones whole, one appearing late) and an hourly table."""
    bars = make_bars(12, 700, seed=5)
    bars = bars[~((bars["symbol"] == bars["symbol"].iloc[0]) & (bars.index % 700 < 450))]  # starts late
    _chain(bars, "stocks_daily_clean", 480, [1] * 6 + [2, 9, 60], short=True)
    hourly = make_bars(4, 700, seed=12, freq="h")
    hourly["exchange_timezone"] = "UTC"
    _chain(hourly, "crypto_hourly_clean", 600, [1] * 4 + [2, 13], short=True, benchmark="SPY")


def test_short_tails_refuse_too_few_long_rows() -> None:
    bars = _spy_daily()
    since = pd.Timestamp(np.sort(bars["datetime"].unique())[300])
    _, st_ = compute_table(bars[bars["datetime"] < since], state_out=True)
    old = bars[bars["datetime"] < since]
    long_rows = old.tail(100).assign(hist_volatility_20=0.1)[list(LONG_COLUMNS)]
    with pytest.raises(FeatureInputError, match="long windows need"):
        compute_table(_tail(bars, since, None, SHORT), since=since.to_pydatetime(), state=st_, long_rows=long_rows)
    with pytest.raises(FeatureInputError, match="needs the last"):  # shorter than the short tail
        compute_table(_tail(bars, since, None, SHORT - 30), since=since.to_pydatetime(), state=st_,
                      long_rows=long_rows)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), extra=st.integers(1, 150), steps=st.lists(st.integers(1, 9), min_size=1,
                                                                                max_size=4))
def test_random_series_with_defects_of_real_feeds(seed: int, extra: int, steps: list[int]) -> None:
    """Flat stretches, zero volume, zero prices (`_series`) at random places before and after the cut."""
    rng = np.random.default_rng(seed)
    n = extra + sum(steps)
    cols = _series(rng, n + W)
    bars = pd.DataFrame({"symbol": "X", "datetime": pd.date_range("2020-01-01", periods=n + W, freq="D", tz="UTC"),
                         "open": cols["close"], **cols})
    _chain(bars, "crypto_daily_clean", W + extra, steps, short=bool(seed % 2))  # odd seeds: short tails


def test_threads_and_blocks_give_the_same_rows_and_state() -> None:
    """Two blocks of whole symbols on two threads write disjoint rows of one state matrix."""
    bars = make_bars(45, 800, seed=4)  # 36k rows: two blocks
    since = pd.Timestamp(bars["datetime"].iloc[700])
    _, st1 = compute_table(bars[bars["datetime"] < since], state_out=True, workers=1)
    _, st2 = compute_table(bars[bars["datetime"] < since], state_out=True, workers=2)
    _same_state(st1, st2)
    tail = _tail(bars, since, None)
    one = compute_table(tail, since=since, state=st1, state_out=True, workers=1, updated_at=datetime(2026, 1, 1))
    two = compute_table(tail, since=since, state=st1, state_out=True, workers=2, updated_at=datetime(2026, 1, 1))
    assert one[0].equals(two[0])
    _same_state(one[1], two[1])
    _, whole = compute_table(bars, state_out=True)
    _same_state(one[1], whole, skip=("atr", "kama"))  # the chained state = a fresh one's (ATR/KAMA: ulps)


def test_a_symbol_without_new_bars_keeps_its_state() -> None:
    """Its tail's own masks (here: a flat tail after a moving history) must not reset the state's flags."""
    bars = make_bars(2, 700, seed=6)
    flat = (bars["symbol"] == "S001") & (bars.index % 700 >= 300)
    bars.loc[flat, ["open", "high", "low", "close"]] = 42.0
    since = pd.Timestamp(bars["datetime"].iloc[690])
    _, st_ = compute_table(bars[bars["datetime"] < since], state_out=True)
    tail = _tail(bars, since, None)
    tail = tail[(tail["symbol"] == "SPY") | (tail["datetime"] < since)]  # S001: no new bar
    _, after = compute_table(tail, since=since, state=st_, state_out=True)
    idx = after.column("symbol").to_pylist().index("S001")
    before = st_.column("symbol").to_pylist().index("S001")
    _same_state(after.slice(idx, 1), st_.slice(before, 1))
    assert after.column("close_moved")[idx].as_py() == 1.0


def _same_state(a: pa.Table, b: pa.Table, skip: tuple[str, ...] = ()) -> None:
    assert a.column_names == b.column_names and a.num_rows == b.num_rows
    for name in a.column_names:
        x, y = a.column(name).to_numpy(zero_copy_only=False), b.column(name).to_numpy(zero_copy_only=False)
        if name in skip:
            np.testing.assert_allclose(x, y, rtol=1e-12)
        elif x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), name
        else:
            assert (x == y).all(), name


# --- the state table ----------------------------------------------------------------------------------------------

def test_state_rows_are_the_support_schema_and_extraction_leaves_rows_unchanged() -> None:
    bars = make_bars(3, 400, seed=5)
    plain = compute_table(bars, updated_at=datetime(2026, 1, 1))
    rows, st_ = compute_table(bars, updated_at=datetime(2026, 1, 1), state_out=True)
    assert rows.equals(plain)
    assert st_.schema.equals(SUPPORT_SCHEMAS["feature_state"])
    assert sorted(st_.column("symbol").to_pylist()) == sorted(bars["symbol"].unique())
    assert set(st_.column("n_bars").to_pylist()) == {400}
    assert set(st_.column("engine").to_pylist()) == {state.fingerprint()}


def test_a_symbol_with_a_nan_bar_gets_no_state_row() -> None:
    bars = make_bars(2, 300, seed=5)
    bars.loc[5, "volume"] = np.nan
    _, st_ = compute_table(bars, state_out=True)
    assert bars.loc[5, "symbol"] not in st_.column("symbol").to_pylist()


def _setup() -> tuple[pd.DataFrame, pa.Table, pd.Timestamp]:
    bars = _spy_daily()
    cut = bars["datetime"].iloc[400]
    _, st_ = compute_table(bars[bars["datetime"] < cut], state_out=True)
    return bars, st_, cut


def test_a_state_that_does_not_fit_the_bars_is_refused() -> None:
    bars, st_, cut = _setup()
    tail = _tail(bars, cut, None)
    with pytest.raises(FeatureInputError, match="since="):
        compute_table(tail, state=st_)
    with pytest.raises(FeatureInputError, match="last bar before"):  # the state is for an older bar
        compute_table(tail, since=bars["datetime"].iloc[401], state=st_)
    with pytest.raises(FeatureInputError, match="needs the last"):
        compute_table(tail.iloc[W - 250:], since=cut, state=st_)
    with pytest.raises(FeatureInputError, match="history changed"):  # a late bar inserted before `since`
        extra = bars.iloc[[0]].assign(datetime=bars["datetime"].iloc[0] - pd.Timedelta(days=3))
        compute_table(pd.concat([extra, bars]), since=cut, state=st_)
    stale = st_.set_column(st_.schema.get_field_index("engine"), "engine", pa.array(["0" * 16], pa.string()))
    with pytest.raises(FeatureInputError, match="another feature engine"):
        compute_table(tail, since=cut, state=stale)


def test_whole_history_with_a_state_is_recomputed_exactly() -> None:
    bars, st_, cut = _setup()
    full = compute_table(bars, since=cut, updated_at=datetime(2026, 1, 1))
    again = compute_table(bars, since=cut, state=st_, updated_at=datetime(2026, 1, 1))
    assert again.equals(full)


# --- equivalence for the storage diff -----------------------------------------------------------------------------

def test_equivalent_tolerates_last_bits_only_where_documented() -> None:
    bars = make_bars(2, 300, seed=9)
    a = compute_table(bars, updated_at=datetime(2026, 1, 1))
    later = compute_table(bars, updated_at=datetime(2026, 2, 1))
    assert equivalent(a, later)  # updated_at is ignored

    def with_col(t: pa.Table, name: str, values: np.ndarray | pa.Array) -> pa.Table:
        i = t.schema.get_field_index(name)
        return t.set_column(i, t.schema.field(i), pa.array(values, t.schema.field(i).type))

    ema = a.column("ema_12").to_numpy(zero_copy_only=False)
    assert equivalent(a, with_col(a, "ema_12", ema * (1 + 4e-13)))
    mask = row_equivalent(a, with_col(a, "ema_12", ema * (1 + 1e-10)))
    assert not mask[~np.isnan(ema)].any() and mask[np.isnan(ema)].all()
    bb = a.column("bb_width").to_numpy(zero_copy_only=False)
    assert equivalent(a, with_col(a, "bb_width", bb * (1 + 1e-11)))  # a drift column
    close = a.column("close").to_numpy(zero_copy_only=False)
    assert not equivalent(a, with_col(a, "close", close * (1 + 1e-15) + 1e-12))  # inputs: exact
    nulled = pa.array(np.where(np.arange(len(ema)) == 250, np.nan, ema), pa.float64(), from_pandas=True)
    assert row_equivalent(a, with_col(a, "ema_12", nulled)).sum() == a.num_rows - 1  # NULL vs value
    names = a.column("sector").to_pylist()
    names[3] = "Other"
    assert row_equivalent(a, with_col(a, "sector", pa.array(names))).sum() == a.num_rows - 1
