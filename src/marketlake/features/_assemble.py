"""Output assembly: the columns as an Arrow table (`bar_schema()`) or a pandas DataFrame.

Two halves, so the engine can build the first while the per-symbol stage runs:
* `labels_arrow` / `labels_frame`: the columns that need no computed value (symbol, datetime, trade date,
  metadata and audit strings), cast from their dictionary codes only here;
* `to_arrow` / `to_frame`: the computed columns (NaN and inf become NULL), converted on the worker threads
  (NumPy and Arrow kernels release the GIL), merged with the labels in catalogue order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from marketlake.features import _kernels
from marketlake.features._batch import Batch, dictionary, string_column, symbol_codes
from marketlake.features._stages import POOL_MIN_ROWS, Computed
from marketlake.features._threads import map_all
from marketlake.schema.arrow import bar_schema
from marketlake.schema.fields import FIELDS, FieldSpec

_STR = pd.StringDtype(storage="pyarrow", na_value=np.nan)  # pandas 3's default "str" dtype
_T = TypeVar("_T")
LABELS = ("symbol", "datetime", "trade_date", "updated_at", *(f.name for f in FIELDS if f.dtype == "string"))
_LABEL_FIELDS = tuple(f for f in FIELDS if f.name in LABELS)
_COMPUTED_FIELDS = tuple(f for f in FIELDS if f.name not in LABELS)

Labels = Callable[[Batch, datetime, "np.ndarray | None"], dict[str, object]]


def _per_field(build: Callable[[FieldSpec], _T], fields: tuple[FieldSpec, ...], n_rows: int, workers: int) -> list[_T]:
    """`build` for every field, in order; on `workers` threads for big batches."""
    if workers <= 1 or n_rows < POOL_MIN_ROWS:
        return [build(f) for f in fields]
    return map_all("assemble", workers, build, fields)


def labels_arrow(batch: Batch, stamp: datetime, sel: np.ndarray | None = None) -> dict[str, object]:
    """The label columns of the rows `sel` (None: all) as Arrow arrays."""
    pick = (lambda x: x) if sel is None else (lambda x: x[sel])
    n = batch.seg.n if sel is None else len(sel)
    out: dict[str, object] = {
        "symbol": dictionary(symbol_codes(batch, sel), [str(s) for s in batch.symbols]).cast(pa.string()),
        "datetime": pa.array(pick(batch.dt_ns) // 1000, type=pa.timestamp("us", tz="UTC")),
        "trade_date": pa.array(pick(batch.trade_days), type=pa.date32()),
        "updated_at": pa.array(np.full(n, _micros(stamp), dtype=np.int64), type=pa.timestamp("us", tz="UTC")),
    }
    nulls = pa.nulls(n, pa.string())  # one buffer for every absent metadata column
    for f in _LABEL_FIELDS:
        if f.dtype == "string" and f.name != "symbol":
            out[f.name] = string_column(batch, f.name, sel, nulls)
    return out


def labels_frame(batch: Batch, stamp: datetime, sel: np.ndarray | None = None) -> dict[str, object]:
    """The same label columns as pandas arrays (strings stay over Arrow memory)."""
    arrow = labels_arrow(batch, stamp, sel)
    out: dict[str, object] = {}
    for name, values in arrow.items():
        if name in ("datetime", "updated_at"):
            out[name] = pd.DatetimeIndex(values.to_numpy(zero_copy_only=False), tz="UTC").as_unit("us")  # type: ignore[attr-defined]
        elif name == "trade_date":
            out[name] = pd.array(values, dtype=pd.ArrowDtype(pa.date32()))
        else:
            out[name] = _STR.__from_arrow__(values)
    return out


def _micros(stamp: datetime) -> int:
    return int(pd.Timestamp(stamp).tz_convert("UTC").value // 1000)


def to_arrow(labels: Mapping[str, object], computed: Computed, n: int) -> pa.Table:
    """The table: `labels` (from `labels_arrow`) and the computed columns, typed as `bar_schema()`."""

    def column(f: FieldSpec) -> pa.Array:
        if f.dtype == "int8":
            ok = computed.finite_of(f.name)
            return pa.array(_kernels.as_int8(computed.cols[f.name], ok), mask=~ok)
        return _float_array(computed.cols[f.name], computed.finite_of(f.name))

    built = dict(zip((f.name for f in _COMPUTED_FIELDS), _per_field(column, _COMPUTED_FIELDS, n, computed.workers)))
    return pa.Table.from_arrays([labels[f.name] if f.name in labels else built[f.name] for f in FIELDS],
                                schema=bar_schema())


def _float_array(x: np.ndarray, finite: np.ndarray) -> pa.Array:
    """float64 Arrow array over the same memory, NULL where x is NaN or inf (validity bits packed by NumPy)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    nulls = len(x) - int(np.count_nonzero(finite))
    validity = pa.py_buffer(np.packbits(finite, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(pa.float64(), len(x), [validity, pa.py_buffer(x)], null_count=int(nulls))


def to_frame(labels: Mapping[str, object], computed: Computed, n: int) -> pd.DataFrame:
    """The same columns as `to_arrow`, as pandas (built column by column: no 2 GB block consolidation)."""

    def column(f: FieldSpec) -> object:
        if f.dtype == "int8":
            ok = computed.finite_of(f.name)
            return pd.arrays.IntegerArray(_kernels.as_int8(computed.cols[f.name], ok), ~ok)
        x = computed.cols[f.name]
        if computed.has_inf(f.name):  # NaN already means NULL; only inf needs replacing
            x = np.where(np.isinf(x), np.nan, x)
        return x

    built = dict(zip((f.name for f in _COMPUTED_FIELDS), _per_field(column, _COMPUTED_FIELDS, n, computed.workers)))
    return pd.DataFrame({f.name: labels[f.name] if f.name in labels else built[f.name] for f in FIELDS}, copy=False)


__all__ = ["LABELS", "Labels", "labels_arrow", "labels_frame", "to_arrow", "to_frame"]
