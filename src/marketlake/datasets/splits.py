"""Fold assignments: walk-forward (expanding or rolling) and purged k-fold, with purging and an embargo.

Windows are cut on the sorted distinct datetimes of the sample, so every symbol shares the same test
windows. Purging: a training row whose label window [t, end of its label] overlaps the fold's test window
[first, last test datetime] is removed, since its label would read test-period prices. Embargo: training
rows in the `embargo` datetimes right after a test window are removed, since their features were computed
from bars inside it. Removed and unused rows are NULL in that fold's column.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from marketlake.datasets.spec import SplitSpec
from marketlake.errors import ConfigError

UNUSED, TRAIN, TEST = 0, 1, 2


@dataclass(frozen=True)
class FoldInfo:
    """What one fold holds (recorded in the manifest)."""

    fold: int
    train_rows: int
    test_rows: int
    purged_rows: int
    embargoed_rows: int
    train_start: int | None  # datetimes as int64 microseconds UTC (None when empty)
    train_end: int | None
    test_start: int
    test_end: int

    def to_dict(self) -> dict[str, int | None]:
        return asdict(self)


def _blocks(n: int, parts: int) -> list[np.ndarray]:
    if n < parts:
        raise ConfigError(f"the sample has {n} distinct datetimes, too few for {parts} test windows: widen "
                          f"--start/--end or use fewer folds")
    return np.array_split(np.arange(n), parts)


def assign(dt: np.ndarray, label_end: np.ndarray, spec: SplitSpec) -> tuple[list[np.ndarray], list[FoldInfo]]:
    """One int8 array per fold (UNUSED / TRAIN / TEST per row) and a summary per fold.

    `dt` and `label_end` are int64 per row (same unit); `label_end` is the last datetime the row's
    longest label reads."""
    times, code = np.unique(dt, return_inverse=True)
    n = len(times)
    if spec.kind == "walk_forward":
        blocks = _blocks(n, spec.folds + 1)
        tests = blocks[1:]
    else:
        blocks = _blocks(n, spec.folds)
        tests = blocks
    out, infos = [], []
    for i, block in enumerate(tests, start=1):
        lo_c, hi_c = int(block[0]), int(block[-1])
        lo_t, hi_t = times[lo_c], times[hi_c]
        test = (code >= lo_c) & (code <= hi_c)
        if spec.kind == "walk_forward":
            first = 0 if spec.mode == "expanding" else max(0, lo_c - (spec.window or len(blocks[0])))
            train = (code >= first) & (code < lo_c)
        else:
            train = ~test
        overlaps = train & (dt <= hi_t) & (label_end >= lo_t)
        embargoed = train & ~overlaps & (code > hi_c) & (code <= hi_c + spec.embargo)
        train &= ~(overlaps | embargoed)
        col = np.zeros(len(dt), np.int8)
        col[train] = TRAIN
        col[test] = TEST
        out.append(col)
        tr = dt[train]
        infos.append(FoldInfo(i, int(train.sum()), int(test.sum()), int(overlaps.sum()), int(embargoed.sum()),
                              int(tr.min()) if len(tr) else None, int(tr.max()) if len(tr) else None,
                              int(lo_t), int(hi_t)))
    return out, infos


_NAMES = pa.array([None, "train", "test"], pa.string())


def to_arrow(col: np.ndarray) -> pa.Array:
    """int8 codes -> a string column of 'train' / 'test' / NULL."""
    return _NAMES.take(pa.array(col.astype(np.int64)))


def from_arrow(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A stored fold column back to int8 codes."""
    import pyarrow.compute as pc

    codes = np.zeros(len(col), np.int8)
    codes[pc.fill_null(pc.equal(col, "train"), False).to_numpy(zero_copy_only=False)] = TRAIN
    codes[pc.fill_null(pc.equal(col, "test"), False).to_numpy(zero_copy_only=False)] = TEST
    return codes


__all__ = ["TEST", "TRAIN", "UNUSED", "FoldInfo", "assign", "from_arrow", "to_arrow"]
