"""One pass of bookkeeping shared by every check: symbol codes and each row's position in its symbol.

Rows may arrive in file order (a full scan); reordering 97 Arrow columns costs more than every check
together, so the table is left as it is and only the NumPy arrays a check asks for are put in
(symbol, datetime) order through `order`. In that order symbol runs are contiguous: codes come from run
boundaries and `pos` (the row's index within its symbol) is `arange - start[code]`. Every check is then
column-wise NumPy (bincount by code, masks against `pos`) instead of a Python loop per symbol.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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
    order: np.ndarray | None = None  # row of `data` at each sorted position (None: already sorted)

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    def column(self, name: str) -> pa.ChunkedArray:
        """The raw column in storage order (for order-independent facts such as null_count)."""
        return self.data.column(name)

    def _sorted(self, arr: np.ndarray) -> np.ndarray:
        return arr if self.order is None else arr[self.order]

    def values(self, name: str) -> np.ndarray:
        """A column as NumPy in (symbol, datetime) order."""
        return self._sorted(self.data.column(name).to_numpy(zero_copy_only=False))

    def floats(self, name: str) -> np.ndarray:
        """A float column as float64 with NULL -> NaN, in (symbol, datetime) order."""
        return self.values(name).astype(np.float64, copy=False)

    def nulls(self, name: str) -> np.ndarray:
        return self._sorted(pc.is_null(self.data.column(name)).to_numpy(zero_copy_only=False))

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
    return datetime.fromtimestamp(int(us) / 1e6, tz=UTC)


def build(spec: TableSpec, data: pa.Table) -> Frame:
    """Bookkeeping for rows in any order (sorted input costs no reordering at all)."""
    n = data.num_rows
    if n == 0:
        e = np.empty(0, np.int64)
        return Frame(spec, data, [], e, e, e, e, e)
    enc = pc.dictionary_encode(data.column("symbol")).combine_chunks()
    names = enc.dictionary.to_pylist()
    rank_of = np.argsort(np.argsort(np.array(names, dtype=object)))
    ranks = rank_of[enc.indices.to_numpy()]
    ts = pc.cast(pc.cast(data.column("datetime"), pa.timestamp("us", tz="UTC")), pa.int64())
    ts_us = ts.to_numpy()
    lex = np.lexsort((ts_us, ranks))
    order: np.ndarray | None = lex
    if np.all(lex[1:] > lex[:-1]):
        order = None
    else:
        ranks, ts_us = ranks[order], ts_us[order]
    boundary = np.r_[True, ranks[1:] != ranks[:-1]]
    starts = np.flatnonzero(boundary)
    codes = (np.cumsum(boundary) - 1).astype(np.int64)
    pos = np.arange(n, dtype=np.int64) - starts[codes]
    counts = np.diff(np.r_[starts, n])
    by_rank = sorted(names)
    symbols = [by_rank[int(r)] for r in ranks[starts]]
    return Frame(spec, data, symbols, codes, pos, starts, counts, ts_us, order)


__all__ = ["Frame", "build", "to_dt"]
