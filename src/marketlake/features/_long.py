"""The long-window fields of continued symbols, at their new rows, from a narrow history.

An incremental update hands the engine only the last `short_history_bars()` bars of a continued symbol
(every window but the long ones fits in them); the fields whose windows reach further back (`LONG_FIELDS`:
the 252-bar high/low, the 252-value volatility tercile, the 200-bar SMA and what derives from it) are then
computed here at the new rows, from the symbol's last `long_history_bars()` highs, lows, closes and stored
`hist_volatility_20` values before `since` (`long_rows`) followed by its new bars, with the very kernels of
the full compute (exact per window, the SMA's running total continued from the state): the same bits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketlake.features import _resume, dynamics, regimes
from marketlake.features._batch import FeatureInputError, Rows
from marketlake.features._segments import Segments, rolling_max, rolling_min
from marketlake.frames import runs_of
from marketlake.schema.fields import FIELDS_BY_NAME

LONG_COLUMNS: tuple[str, ...] = ("symbol", "datetime", "high", "low", "close", "hist_volatility_20")
"""What `long_rows` holds per bar (stored columns)."""
LONG_FIELDS: tuple[str, ...] = ("sma_200", "dist_sma_200", "trend_regime", "dist_high_252", "dist_low_252",
                                "volatility_regime")
"""The fields computed here for continued symbols (the engine's values there are overwritten)."""
SMA_LONG = int(FIELDS_BY_NAME["sma_200"].params["timeperiod"])
_HIGH = int(FIELDS_BY_NAME["dist_high_252"].params["timeperiod"])
_LOW = int(FIELDS_BY_NAME["dist_low_252"].params["timeperiod"])
_VOL = int(FIELDS_BY_NAME["volatility_regime"].params["timeperiod"])


def long_history_bars() -> int:
    """Bars before `since` the long windows read: 251 highs/lows and hist_volatility_20 values, 199 closes."""
    return max(_HIGH, _LOW, _VOL, SMA_LONG) - 1


def _chronological(codes: np.ndarray, ns: np.ndarray) -> np.ndarray:
    """The order sorting rows by (code, time): stored tails come in runs of one symbol, chronological, so
    the runs are ordered instead of ~700k rows (a lexsort); any other input is lexsorted."""
    if not len(codes):
        return np.empty(0, np.int64)
    runs = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    inside = np.ones(len(codes) - 1, bool)
    inside[runs[1:] - 1] = False
    if len(runs) != len(np.unique(codes[runs])) or not bool(np.all(np.diff(ns)[inside] >= 0)):
        return np.lexsort((ns, codes))
    lengths = np.diff(np.r_[runs, len(codes)])
    by = np.argsort(codes[runs], kind="stable")
    starts, lengths = runs[by], lengths[by]
    return np.repeat(starts, lengths) + np.arange(len(codes)) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def patch(
    rows: Rows, first: np.ndarray, n_before: np.ndarray, sma_state: np.ndarray, sma_out: np.ndarray,
    cols: dict[str, np.ndarray], sel: np.ndarray | None, long_rows: pd.DataFrame,
) -> np.ndarray:
    """`LONG_FIELDS` at the new rows of the continued segments (`first` >= 0), written into `cols` (the
    engine's output columns at the rows `sel` of the sorted batch `rows`); returns the positions written.

    `sma_state`: the SMA-200 running total each segment's state started from; `sma_out` receives the total
    after its last bar (the new state). `n_before`: bars the state counted before the segment's first row."""
    cont = np.flatnonzero(first >= 0)
    if not len(cont):
        return np.empty(0, np.int64)
    starts, stops = rows.seg.starts, rows.seg.stops
    n_new = stops[cont] - first[cont]
    # the old bars of each continued symbol before its first new row, in segment order (string work on the
    # distinct symbols only: a per-row lookup of ~700k strings cost more than the kernels)
    run_starts, run_symbols = runs_of(long_rows["symbol"])  # stored tails come in runs of one symbol
    to_cont = pd.Index(rows.symbols[cont], dtype=object).get_indexer(pd.Index(run_symbols, dtype=object))
    sym_codes = np.repeat(to_cont, np.diff(np.r_[run_starts, len(long_rows)]))
    old_ns = np.asarray(pd.DatetimeIndex(long_rows["datetime"]).as_unit("ns").asi8, dtype=np.int64)
    cut = rows.dt_ns[first[cont]]
    keep = sym_codes >= 0
    keep[keep] = old_ns[keep] < cut[sym_codes[keep]]
    picked = np.flatnonzero(keep)
    order = picked[_chronological(sym_codes[picked], old_ns[picked])]
    sym_codes = sym_codes[order]
    n_old = np.bincount(sym_codes, minlength=len(cont)).astype(np.int64)
    need = long_history_bars()
    short = (n_old < need) & (n_old < n_before[cont] + (first[cont] - starts[cont]))
    if short.any():
        sym = str(rows.symbols[cont[int(np.argmax(short))]])
        raise FeatureInputError(f"{sym!r}: the long windows need its last {need} bars before `since` "
                                f"(high, low, close, hist_volatility_20) or its whole history")
    # long batch: per continued symbol its old bars, then its new rows
    lengths = n_old + n_new
    seg = Segments.from_lengths(lengths)
    seg_of = np.repeat(np.arange(len(cont)), lengths)
    is_new = np.arange(seg.n) - seg.starts[seg_of] >= n_old[seg_of]
    new_at, old_at = np.flatnonzero(is_new), np.flatnonzero(~is_new)
    batch_first = np.repeat(first, stops - starts)
    src_rows = np.flatnonzero((batch_first >= 0) & (np.arange(len(rows.dt_ns)) >= batch_first))  # sorted rows
    out_at = src_rows if sel is None else np.searchsorted(sel, src_rows)
    if sel is not None and not np.array_equal(sel[out_at], src_rows):  # pragma: no cover - caller bug guard
        raise FeatureInputError("the new rows of a continued symbol must be at or after `since`")

    def column(name: str, new_values: np.ndarray) -> np.ndarray:
        x = np.empty(seg.n)
        x[old_at] = long_rows[name].to_numpy(np.float64, na_value=np.nan)[order]
        x[new_at] = new_values
        return x

    high = column("high", rows.ohlcv["high"][src_rows])
    low = column("low", rows.ohlcv["low"][src_rows])
    close = column("close", rows.ohlcv["close"][src_rows])
    vol = column("hist_volatility_20", cols["hist_volatility_20"][out_at])
    c_new = close[new_at]
    sma = np.full(seg.n, np.nan)
    S = sma_state[cont].reshape(-1, 1).copy()
    _resume.sma(close, SMA_LONG, seg.starts, seg.stops, (seg.starts + n_old).astype(np.int64), S, 0, sma)
    sma_out[cont] = S[:, 0]
    s200 = sma[new_at]
    values = {
        "sma_200": s200,
        "dist_sma_200": dynamics.distance(c_new, s200),
        "trend_regime": regimes.trend_regime(c_new, cols["sma_50"][out_at], s200),
        "dist_high_252": dynamics.distance(c_new, rolling_max(high, _HIGH, seg)[new_at]),
        "dist_low_252": dynamics.distance(c_new, rolling_min(low, _LOW, seg)[new_at]),
        "volatility_regime": regimes.volatility_regime(vol, timeperiod=_VOL, seg=seg)[new_at],
    }
    for name, v in values.items():
        cols[name][out_at] = v
    return out_at


__all__ = ["LONG_COLUMNS", "LONG_FIELDS", "long_history_bars", "patch"]
