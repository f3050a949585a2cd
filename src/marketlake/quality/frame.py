"""One pass of bookkeeping shared by every check: symbol codes and each row's position in its symbol.

Rows arrive sorted by (symbol, datetime) from storage, so symbol runs are contiguous: codes come from
run boundaries and `pos` (the row's index within its symbol) is `arange - start[code]`. Every check is
then column-wise NumPy (bincount by code, masks against `pos`) instead of a Python loop per symbol.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.schema import TableSpec


@dataclass
class Frame:
    """A production table's rows with per-symbol bookkeeping."""

    spec: TableSpec
    data: pa.Table
    symbols: list[str]
    codes: np.ndarray  # int64 symbol code per row
    pos: np.ndarray  # int64 index of the row within its symbol
    starts: np.ndarray  # first row of each symbol
    counts: np.ndarray  # rows per symbol
    ts_us: np.ndarray  # int64 UTC microseconds

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    def column(self, name: str) -> pa.ChunkedArray:
        return self.data.column(name)

    def floats(self, name: str) -> np.ndarray:
        """A float column as float64 with NULL -> NaN."""
        return self.data.column(name).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)

    def nulls(self, name: str) -> np.ndarray:
        return pc.is_null(self.data.column(name)).to_numpy(zero_copy_only=False)

    def first_last(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For rows in `mask`: (codes, counts, first ts, last ts) per symbol that has any."""
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            e = np.empty(0, np.int64)
            return e, e, e, e
        c = self.codes[idx]
        uniq, first = np.unique(c, return_index=True)
        last = np.r_[first[1:], idx.size] - 1
        counts = np.diff(np.r_[first, idx.size])
        return uniq, counts, self.ts_us[idx[first]], self.ts_us[idx[last]]


def to_dt(us: int | np.integer | None) -> datetime | None:
    if us is None:
        return None
    return datetime.fromtimestamp(int(us) / 1e6, tz=timezone.utc)


def build(spec: TableSpec, data: pa.Table) -> Frame:
    """Bookkeeping for rows sorted by (symbol, datetime)."""
    n = data.num_rows
    if n == 0:
        e = np.empty(0, np.int64)
        return Frame(spec, data, [], e, e, e, e, e)
    sym = data.column("symbol").combine_chunks()
    if n > 1:
        change = pc.not_equal(sym.slice(1), sym.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        boundary = np.r_[True, change]
    else:
        boundary = np.array([True])
    starts = np.flatnonzero(boundary)
    codes = np.cumsum(boundary) - 1
    pos = np.arange(n, dtype=np.int64) - starts[codes]
    counts = np.diff(np.r_[starts, n])
    symbols = sym.take(pa.array(starts)).to_pylist()
    ts = pc.cast(data.column("datetime"), pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return Frame(spec, data, symbols, codes.astype(np.int64), pos, starts, counts,
                 ts.to_numpy(zero_copy_only=False))


__all__ = ["Frame", "build", "to_dt"]
