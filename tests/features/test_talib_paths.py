"""The compiled TA-Lib path equals the public `talib` functions per symbol, bit for bit, defects included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from marketlake.features import _talib, compute_table
from marketlake.features._segments import Segments
from tests.features.feature_bars import make_bars

_ARITY = {"MIDPRICE": ("high", "low"), "OBV": ("close", "volume"), "AD": ("high", "low", "close", "volume"),
          "MFI": ("high", "low", "close", "volume"), "CMF": ("high", "low", "close", "volume"),
          **{k: ("high", "low", "close")
             for k in ("WILLR", "CCI", "ADX", "PLUS_DI", "MINUS_DI", "ATR", "NATR", "STOCH")}}


def _series(rng: np.random.Generator, n: int, nan_share: float) -> dict[str, np.ndarray]:
    close = 50 + np.cumsum(rng.normal(0, 1, n))
    cols = {"close": close, "high": close + rng.random(n), "low": close - rng.random(n),
            "volume": rng.integers(0, 1000, n).astype(np.float64)}
    for x in cols.values():  # defects: NaN anywhere, leading runs included
        x[rng.random(n) < nan_share] = np.nan
    return cols


def _params(rng: np.random.Generator) -> dict[str, float | int]:
    return {"timeperiod": int(rng.integers(2, 40)), "fastperiod": int(rng.integers(2, 15)),
            "slowperiod": int(rng.integers(15, 40)), "signalperiod": int(rng.integers(2, 12)),
            "fastk_period": int(rng.integers(1, 20)), "slowk_period": int(rng.integers(1, 6)),
            "slowk_matype": int(rng.integers(0, 9)), "slowd_period": int(rng.integers(1, 6)),
            "slowd_matype": int(rng.integers(0, 9)), "matype": int(rng.integers(0, 9)),
            "nbdevup": float(rng.uniform(0.5, 3)), "nbdevdn": float(rng.uniform(0.5, 3))}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), lengths=st.lists(st.integers(0, 120), min_size=1, max_size=8),
       nan_share=st.sampled_from([0.0, 0.02, 0.3]))
def test_compiled_path_equals_public_talib_per_symbol(seed: int, lengths: list[int], nan_share: float) -> None:
    if not _talib.compiled_available():
        pytest.skip("TA-Lib's C library was not located; the engine uses the binding")
    rng = np.random.default_rng(seed)
    seg = Segments.from_lengths(np.array(lengths))
    cols, params = _series(rng, seg.n, nan_share), _params(rng)
    for name, fn in _talib.FUNCTIONS.items():
        inputs = tuple(cols[c] for c in _ARITY.get(name, ("close",)))
        kwargs = {k: params[k] for k in (*fn.ints, *fn.floats)}
        got = _talib.per_symbol(name, inputs, seg, params, compiled=True)
        for a, b in zip(seg.starts.tolist(), seg.stops.tolist()):
            if a == b:
                continue
            want = getattr(talib, name)(*(x[a:b] for x in inputs), **kwargs)
            want = want if isinstance(want, tuple) else (want,)
            for out, w in zip(got, want):
                expected = np.asarray(w, dtype=np.float64)
                filled = np.isfinite(expected) | np.isinf(expected)
                # where the binding leaves no value (uninitialised tail) the compiled path writes NaN
                assert np.array_equal(out[a:b][filled], expected[filled]), (name, kwargs, a, b)
                assert np.isnan(out[a:b][~filled]).all(), (name, kwargs, a, b)


def test_both_paths_agree_and_missing_parameters_are_refused() -> None:
    rng = np.random.default_rng(7)
    seg = Segments.from_lengths(np.array([0, 1, 30, 300, 5]))
    cols = _series(rng, seg.n, 0.0)
    cols["close"][31:34] = np.nan  # leading NaNs of the 300-bar symbol: skipped, as the binding does
    params = {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}
    compiled = _talib.per_symbol("MACD", (cols["close"],), seg, params, compiled=True)
    by_binding = _talib.per_symbol("MACD", (cols["close"],), seg, params, compiled=False)
    for a, b in zip(compiled, by_binding):
        assert np.array_equal(a, b, equal_nan=True)
    assert np.isfinite(compiled[0]).sum() > 200  # the case is not all NULL
    with pytest.raises(_talib.TALibError, match="signalperiod"):
        _talib.per_symbol("MACD", (cols["close"],), seg, {"fastperiod": 12, "slowperiod": 26})
    for compiled in (True, False):  # both paths refuse it with our error
        with pytest.raises(_talib.TALibError, match="SMA"):
            _talib.per_symbol("SMA", (cols["close"],), seg, {"timeperiod": 0}, compiled=compiled)  # range 2..100000


def test_engine_output_is_the_same_through_the_binding(tmp_path: Path) -> None:
    """The fallback (MARKETLAKE_TALIB=binding, e.g. where the C library is not found) stores the same table."""
    bars = make_bars(6, 260, seed=4)
    bars.to_parquet(tmp_path / "bars.parquet")
    code = ("import sys, pandas as pd; from marketlake.features import compute_table, _talib;"
            "assert not _talib.compiled_available();"
            f"t = compute_table(pd.read_parquet({str(tmp_path / 'bars.parquet')!r}), updated_at=pd.Timestamp("
            "'2024-01-01', tz='UTC').to_pydatetime());"
            f"import pyarrow.parquet as pq; pq.write_table(t, {str(tmp_path / 'out.parquet')!r})")
    env = {**os.environ, "MARKETLAKE_TALIB": "binding"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)
    expected = compute_table(bars, updated_at=pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime())
    assert _talib.compiled_available()
    assert pq.read_table(tmp_path / "out.parquet").equals(expected)
