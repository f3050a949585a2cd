"""Row equality that tolerates last-bit differences: what a full rebuild compares before rewriting a row.

Rows written by incremental updates equal a full rebuild's bit for bit except where the continuation
cannot replay TA-Lib's arithmetic exactly (docs/features.md "Incremental updates"). A rebuild that rewrote
those rows would churn the table for nothing, so the storage diff asks `equivalent` per row instead of `==`.

Rules, column by column (the 97 catalogue columns; `updated_at` is ignored: it is when, not what):
* exact: every non-float column (strings, `datetime`, `trade_date`, the int8 regimes) and the OHLCV inputs
  `open, high, low, close, volume`, NULL equal to NULL only;
* `DRIFT_COLUMNS` (floats recomputed from the last bars while a full compute carries TA-Lib's running sums
  from the symbol's first bar): |a - b| <= drift_rtol * max(|a|, |b|) + drift_atol (drift_atol = 0 for the
  `PRICE_SCALED` ones), defaults 1e-9 and 1e-9;
* every other float column: relative `rtol` (1e-12);
a float pair is equal when both are NULL, or both are non-NULL and |a - b| <= tol * max(|a|, |b|) (so 0 only
equals 0); a NULL never equals a value.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.schema.fields import FIELDS

EXACT_FLOATS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
DRIFT_COLUMNS: tuple[str, ...] = (
    "wma_20", "bb_upper", "bb_lower", "bb_width", "bb_percent_b", "mfi_14", "cmf_20", "beta_60",
)
# price-scaled drift columns compare relatively only; the others are oscillators/ratios of order 1..100, where
# a running sum's drift shows as an absolute error near 0 (stoch_k at the window's low: 1e-14 vs 0)
PRICE_SCALED: tuple[str, ...] = ("wma_20", "bb_upper", "bb_lower")
IGNORED: tuple[str, ...] = ("updated_at",)


def _floats(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    values = np.asarray(arr.fill_null(np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)
    return values, np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool) | np.isnan(values)


def _close(x: pa.ChunkedArray, y: pa.ChunkedArray, tol: float, atol: float = 0.0) -> np.ndarray:
    a, a_null = _floats(x)
    b, b_null = _floats(y)
    with np.errstate(invalid="ignore"):
        near = np.abs(a - b) <= tol * np.maximum(np.abs(a), np.abs(b)) + atol
    return (a_null & b_null) | (~a_null & ~b_null & (near | (a == b)))


def _same(x: pa.ChunkedArray, y: pa.ChunkedArray) -> np.ndarray:
    eq = pc.fill_null(pc.equal(x, y), False)
    both = pc.and_(pc.is_null(x), pc.is_null(y))
    return np.asarray(pc.or_(eq, both).to_numpy(zero_copy_only=False), dtype=bool)


def row_equivalent(
    a: pa.Table, b: pa.Table, *, rtol: float = 1e-12, drift_rtol: float = 1e-9, drift_atol: float = 1e-9,
    ignore: Iterable[str] = IGNORED,
) -> np.ndarray:
    """Per row: do rows i of `a` and `b` (same length, aligned by the caller, e.g. joined on symbol and
    datetime) hold the same values under the rules above? Compares the catalogue columns both tables hold."""
    if a.num_rows != b.num_rows:
        raise ValueError(f"row_equivalent needs aligned tables; got {a.num_rows} and {b.num_rows} rows")
    skip = set(ignore)
    out = np.ones(a.num_rows, dtype=bool)
    for f in FIELDS:
        if f.name in skip or f.name not in a.column_names or f.name not in b.column_names:
            continue
        x, y = a.column(f.name), b.column(f.name)
        if f.dtype == "float64" and f.name not in EXACT_FLOATS:
            if f.name in DRIFT_COLUMNS:
                out &= _close(x, y, drift_rtol, 0.0 if f.name in PRICE_SCALED else drift_atol)
            else:
                out &= _close(x, y, rtol)
        else:
            out &= _same(x, y)
    return out


def equivalent(
    a: pa.Table, b: pa.Table, *, rtol: float = 1e-12, drift_rtol: float = 1e-9, drift_atol: float = 1e-9,
    ignore: Iterable[str] = IGNORED,
) -> bool:
    """Whether every row of `a` is equivalent to the same row of `b` (`row_equivalent`)."""
    return a.num_rows == b.num_rows and bool(row_equivalent(a, b, rtol=rtol, drift_rtol=drift_rtol,
                                                             drift_atol=drift_atol, ignore=ignore).all())


__all__ = ["DRIFT_COLUMNS", "EXACT_FLOATS", "IGNORED", "PRICE_SCALED", "equivalent", "row_equivalent"]
