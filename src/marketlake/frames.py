"""Arrow tables handed to users as the frame library they asked for (`as_="pandas"|"polars"|"arrow"`), and
pandas row concatenation that keeps the parts' types."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.errors import ConfigError

OutputKind = Literal["pandas", "arrow", "polars"]


def to_frame(table: pa.Table, as_: OutputKind | str) -> Any:
    """`table` as pandas (the default everywhere), Polars, or unchanged Arrow."""
    if as_ == "arrow":
        return table
    if as_ == "polars":
        import polars as pl

        return pl.from_arrow(table)
    if as_ == "pandas":
        return table.to_pandas()
    raise ConfigError(f"as_ must be 'pandas', 'polars' or 'arrow', not {as_!r}")


_Part = TypeVar("_Part", pd.DataFrame, pd.Series)


def concat_rows(parts: Sequence[_Part], *, ignore_index: bool = False) -> _Part:
    """`pd.concat(parts)` along rows, where a part without rows does not decide any column's type.

    Why: since pandas 3 an empty part whose columns are untyped (`pd.DataFrame(columns=...)`, object)
    makes every column of the result object: a first load's 1.17 M one-minute bars became Python
    timestamps and floats, and validation, compute and the Parquet write then ran 3-6x slower. The
    result keeps the columns of every part, in order of appearance, as `pd.concat` does."""
    if not parts:
        raise ValueError("concat_rows needs at least one part")
    kept = [p for p in parts if len(p)] or list(parts)
    out = pd.concat(kept, ignore_index=ignore_index)
    if isinstance(out, pd.DataFrame) and len(kept) < len(parts):
        names = list(dict.fromkeys(c for p in parts for c in p.columns))  # type: ignore[union-attr]
        if list(out.columns) != names:
            out = out.reindex(columns=names)
    return out


def isin(column: pd.Series | pd.Index, values: Iterable[object]) -> np.ndarray:
    """`column.isin(values)` as a boolean array (NULL never matches a string).

    Why: pandas 3 tests a string column by first boxing every one of `values` in a pyarrow scalar
    (~15 us each): 40 ms per test of 2,650 symbols, several per incremental load. A string column goes
    to Arrow's hash set directly; other columns keep pandas' own `isin`."""
    if not isinstance(column.dtype, pd.StringDtype):
        return np.asarray(column.isin(list(values) if not isinstance(values, (list, tuple, set)) else values),
                          dtype=bool)
    wanted = pa.array([v for v in values if isinstance(v, str)], pa.string())
    data = pa.array(column.array)  # the Arrow data behind the column, not a copy of its values
    hits = pc.is_in(data, value_set=wanted)  # NULL is no member: `wanted` holds no NULL
    return np.asarray(pc.fill_null(hits, False).to_numpy(zero_copy_only=False), dtype=bool)


def datetime_ns(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Datetimes as int64 nanoseconds (tz-aware pandas values compare and index slowly as objects)."""
    return np.asarray(pd.DatetimeIndex(values).as_unit("ns").asi8, dtype=np.int64)


def runs_of(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of equal neighbouring values of `column` starts, and each run's value (an object
    array); a NULL starts a run of its own. Codes of rows known to come in runs (a table read per symbol)
    without hashing every row: for 700k Arrow strings ~7 ms, where `pd.factorize` took ~20 ms."""
    n = len(column)
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, dtype=object)
    if isinstance(column.dtype, pd.StringDtype):
        data = pa.array(column.array)
        data = data.combine_chunks() if isinstance(data, pa.ChunkedArray) else data
        differs = pc.fill_null(pc.not_equal(data.slice(1), data.slice(0, n - 1)), True)
        starts = np.flatnonzero(np.r_[True, differs.to_numpy(zero_copy_only=False)])
        values = data.take(pa.array(starts)).to_numpy(zero_copy_only=False).astype(object)
        return starts, values
    v = column.to_numpy(object)
    na = pd.isna(v)
    differs = (v[1:] != v[:-1]) | na[1:] | na[:-1]
    starts = np.flatnonzero(np.r_[True, differs])
    return starts, v[starts]


__all__ = ["OutputKind", "concat_rows", "datetime_ns", "isin", "runs_of", "to_frame"]
