"""Which incoming rows are new, changed or unchanged against the stored rows (pure Arrow).

Equality ignores `updated_at`; NULL equals NULL, NaN equals NaN. The catalogue columns compare under
`features.equivalence.row_equivalent` (the OHLCV inputs and non-float columns exactly, computed floats within
the tolerance that incremental updates differ from a full rebuild by): a rebuild of an incrementally
maintained table rewrites no row for last-bit differences. Other columns compare exactly. Rows that are
equal are not rewritten, so they keep their stored `updated_at` and an identical re-load commits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.schema import KEY_COLUMNS

IGNORED = ("updated_at",)


@dataclass(frozen=True)
class RowDiff:
    """Positions into the incoming table."""

    new: np.ndarray
    changed: np.ndarray
    unchanged: int


def _equal(a: pa.ChunkedArray | pa.Array, b: pa.ChunkedArray | pa.Array) -> pa.Array:
    eq = pc.fill_null(pc.equal(a, b), False)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    out = pc.or_(eq, both_null)
    if pa.types.is_floating(a.type):
        both_nan = pc.fill_null(pc.and_(pc.is_nan(a), pc.is_nan(b)), False)
        out = pc.or_(out, both_nan)
    return out


def diff_rows(incoming: pa.Table, stored: pa.Table, *, keys: tuple[str, ...] = KEY_COLUMNS) -> RowDiff:
    """Classify incoming rows (unique keys) against stored rows (unique keys, same schema)."""
    n = incoming.num_rows
    if stored.num_rows == 0 or n == 0:
        return RowDiff(new=np.arange(n, dtype=np.int64), changed=np.empty(0, np.int64), unchanged=0)
    left = incoming.select(list(keys)).append_column("__l", pa.array(np.arange(n, dtype=np.int64)))
    right = stored.select(list(keys)).append_column(
        "__r", pa.array(np.arange(stored.num_rows, dtype=np.int64))
    )
    joined = left.join(right, list(keys), join_type="left outer", use_threads=True)
    li = joined.column("__l").to_numpy()
    ri_col = joined.column("__r")
    matched = ~pc.is_null(ri_col).to_numpy(zero_copy_only=False)
    new = np.sort(li[~matched])
    li_m = li[matched]
    if li_m.size == 0:
        return RowDiff(new=new, changed=np.empty(0, np.int64), unchanged=0)
    ri_m = pc.filter(ri_col, pa.array(matched)).to_numpy()
    from marketlake.features.equivalence import row_equivalent  # pure; imported late: storage loads light
    from marketlake.schema import FIELD_NAMES

    take_l, take_r = pa.array(li_m), pa.array(ri_m)
    catalogue = [c for c in incoming.column_names if c in FIELD_NAMES and c not in keys and c in stored.column_names]
    same = row_equivalent(incoming.select(catalogue).take(take_l), stored.select(catalogue).take(take_r),
                          ignore=IGNORED)
    for name in incoming.column_names:
        if name in keys or name in IGNORED or name in catalogue:
            continue
        a = incoming.column(name).take(take_l)
        b = stored.column(name).take(take_r)
        same &= _equal(a, b).to_numpy(zero_copy_only=False)
    changed = np.sort(li_m[~same])
    return RowDiff(new=new, changed=changed, unchanged=int(same.sum()))


__all__ = ["RowDiff", "diff_rows"]
