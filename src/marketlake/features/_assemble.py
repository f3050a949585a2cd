"""Output assembly: the computed columns as an Arrow table (`bar_schema()`) or a pandas DataFrame.

NaN and inf become NULL; strings are cast from their dictionary codes only here; columns are converted on
the worker threads (NumPy and Arrow kernels release the GIL).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Callable, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from marketlake.features._batch import Batch, dictionary, string_column, symbol_codes
from marketlake.features._stages import POOL_MIN_ROWS, Computed
from marketlake.schema.arrow import bar_schema
from marketlake.schema.fields import FIELDS, FieldSpec

_STR = pd.StringDtype(storage="pyarrow", na_value=np.nan)  # pandas 3's default "str" dtype
_T = TypeVar("_T")


def _per_field(build: Callable[[FieldSpec], _T], n_rows: int, workers: int) -> list[_T]:
    """`build` for every catalogue field, in order; on `workers` threads for big batches (the column
    conversions are NumPy and Arrow kernels that release the GIL)."""
    if workers <= 1 or n_rows < POOL_MIN_ROWS:
        return [build(f) for f in FIELDS]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="marketlake-assemble") as pool:
        return list(pool.map(build, FIELDS))


def to_arrow(batch: Batch, computed: Computed, stamp: datetime, sel: np.ndarray | None = None) -> pa.Table:
    """The table of the rows `sel` of `batch` (None: all); `computed` already holds only those rows."""
    pick = (lambda x: x) if sel is None else (lambda x: x[sel])
    n = batch.seg.n if sel is None else len(sel)

    def column(f: FieldSpec) -> pa.Array:
        if f.name == "symbol":
            names = [str(s) for s in batch.symbols]
            return dictionary(symbol_codes(batch, sel), names).cast(pa.string())
        if f.name == "datetime":
            return pa.array(pick(batch.dt_ns) // 1000, type=pa.timestamp("us", tz="UTC"))
        if f.name == "trade_date":
            return pa.array(pick(batch.trade_days), type=pa.date32())
        if f.name == "updated_at":
            us = int(pd.Timestamp(stamp).tz_convert("UTC").value // 1000)
            return pa.array(np.full(n, us, dtype=np.int64), type=pa.timestamp("us", tz="UTC"))
        if f.dtype == "string":
            return string_column(batch, f.name, sel)
        if f.dtype == "int8":
            x, bad = computed.cols[f.name], ~computed.finite_of(f.name)
            return pa.array(np.where(bad, 0, x).astype(np.int8), mask=bad)
        return _float_array(computed.cols[f.name], computed.finite_of(f.name))

    return pa.Table.from_arrays(_per_field(column, n, computed.workers), schema=bar_schema())


def _float_array(x: np.ndarray, finite: np.ndarray) -> pa.Array:
    """float64 Arrow array over the same memory, NULL where x is NaN or inf (validity bits packed by NumPy)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    nulls = len(x) - int(np.count_nonzero(finite))
    validity = pa.py_buffer(np.packbits(finite, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(pa.float64(), len(x), [validity, pa.py_buffer(x)], null_count=int(nulls))


def to_frame(batch: Batch, computed: Computed, stamp: datetime, sel: np.ndarray | None = None) -> pd.DataFrame:
    """The same columns as `to_arrow`, as pandas (built column by column: no 2 GB block consolidation)."""
    pick = (lambda x: x) if sel is None else (lambda x: x[sel])
    n = batch.seg.n if sel is None else len(sel)

    def column(f: FieldSpec) -> object:
        if f.name == "symbol":
            names = [str(s) for s in batch.symbols]
            return _STR.__from_arrow__(dictionary(symbol_codes(batch, sel), names).cast(pa.string()))
        if f.name == "datetime":
            return pd.DatetimeIndex(pick(batch.dt_ns), tz="UTC").as_unit("us")
        if f.name == "trade_date":
            return pd.array(pa.array(pick(batch.trade_days), type=pa.date32()), dtype=pd.ArrowDtype(pa.date32()))
        if f.name == "updated_at":
            return pd.DatetimeIndex(np.full(n, pd.Timestamp(stamp).tz_convert("UTC").value), tz="UTC").as_unit("us")
        if f.dtype == "string":
            return _STR.__from_arrow__(string_column(batch, f.name, sel))  # pandas "str" over Arrow memory
        if f.dtype == "int8":
            x, bad = computed.cols[f.name], ~computed.finite_of(f.name)
            return pd.arrays.IntegerArray(np.where(bad, 0, x).astype(np.int8), bad)
        x = computed.cols[f.name]
        if computed.has_inf(f.name):  # NaN already means NULL; only inf needs replacing
            x = np.where(np.isinf(x), np.nan, x)
        return x

    values = _per_field(column, n, computed.workers)
    return pd.DataFrame({f.name: v for f, v in zip(FIELDS, values)}, copy=False)


__all__ = ["to_arrow", "to_frame"]
