"""Cross-sectional fields: relative strength to a benchmark and to sector peers, and beta.

All alignment is by exact `datetime` (`Layout`, built from the keys before any value exists). Values at bar t use only peers' and the benchmark's values at t
(and, for beta, at earlier matched bars), so they stay causal when everything is truncated after t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketlake.features import _kernels
from marketlake.features._segments import Segments
from marketlake.features._threads import map_all


@dataclass(frozen=True)
class Layout:
    """Which rows meet at each datetime: each row's benchmark bar and the sector buckets.

    Made from the keys and sectors alone, before any value exists, so the engine builds it beside the
    per-symbol stage and the cross stage only gathers values.
    """

    bench_rows: np.ndarray | None  # int32 row of the benchmark's bar at each row's datetime, -1 if none; None: absent
    bounds: np.ndarray  # bucket k (one datetime) is bucket_rows[bounds[k]:bounds[k + 1]]
    bucket_rows: np.ndarray  # rows with a sector, bucketed by datetime (int32: a batch holds < 2**31 rows)
    bucket_groups: np.ndarray  # their sector codes (int32)
    n_groups: int


def layout(
    dt_ns: np.ndarray, seg: Segments, symbols: np.ndarray, sector_codes: np.ndarray, time_codes: np.ndarray,
    n_times: int, benchmark: str | None,
) -> Layout:
    """The `Layout` of a batch sorted by (symbol, datetime).

    `symbols`: one per segment; `sector_codes`: one integer per row, < 0 where the sector is NULL;
    `time_codes`: one integer per distinct datetime, 0 <= code < `n_times`; `benchmark`: its symbol (its bars
    are one of the segments, or the benchmark columns are NULL).
    """
    if len(dt_ns) >= 2**31:  # row indices are int32 (half the memory of the layout)
        raise ValueError(f"{len(dt_ns):,} rows in one batch; compute at most 2**31 - 1 rows per call")
    dt_ns = np.ascontiguousarray(dt_ns, np.int64)
    hit = np.flatnonzero(symbols == benchmark) if benchmark is not None else np.array([], dtype=np.int64)
    bench_rows = None
    if len(hit):
        a, b = int(seg.starts[hit[0]]), int(seg.stops[hit[0]])
        bench_rows = _kernels.align_rows(dt_ns, dt_ns[a:b], a, seg.starts, seg.stops)
    codes = np.ascontiguousarray(sector_codes, np.int32)
    bounds, rows, groups = _kernels.bucket_by_time(np.ascontiguousarray(time_codes, np.int32), codes, int(n_times))
    n_groups = max(int(codes.max()) + 1, 0) if len(codes) else 0
    return Layout(bench_rows, bounds, rows, groups, n_groups)


def benchmark_values(values: np.ndarray, lay: Layout) -> np.ndarray:
    """The benchmark's value of a column at each row's datetime (NaN where it has no bar then)."""
    if lay.bench_rows is None:
        return np.full(len(values), np.nan)
    return _kernels.at_rows(np.ascontiguousarray(values, np.float64), lay.bench_rows)


def relative_strength(ret: np.ndarray, bench_ret: np.ndarray) -> np.ndarray:
    """return_20 - benchmark return_20 at the same datetime; NULL where either is NULL."""
    return ret - bench_ret


def sector_relative_strength(ret: np.ndarray, lay: Layout, *, min_peers: int = 3, workers: int = 1) -> np.ndarray:
    """return_20 - median of non-NULL return_20 of the same sector at the same datetime (self included).

    Sectors and datetimes come from `lay`. NULL where the sector is NULL or fewer than `min_peers` values exist
    at that datetime. `workers` threads split the datetimes (each datetime is computed whole by one thread,
    so the result does not depend on the split).
    """
    ret = np.ascontiguousarray(ret, np.float64)
    bounds = lay.bounds
    n_times = len(bounds) - 1
    values = np.empty(len(lay.bucket_rows))  # in bucket order, so the medians read memory in order
    out = np.full(len(ret), np.nan)
    cuts = np.searchsorted(bounds, np.linspace(0, bounds[-1], max(1, workers) + 1)[1:-1])
    ranges = list(zip([0, *cuts.tolist()], [*cuts.tolist(), n_times]))

    def run(k: tuple[int, int]) -> None:
        lo, hi = int(bounds[k[0]]), int(bounds[k[1]])
        np.take(ret, lay.bucket_rows[lo:hi], out=values[lo:hi])
        _kernels.group_median_diff(values, lay.bucket_groups, bounds, lay.bucket_rows, lay.n_groups,
                                   int(min_peers), k[0], k[1], out)

    if len(ranges) == 1:
        run(ranges[0])
    else:
        map_all("sector", len(ranges), run, ranges)
    return out


def beta(
    ret: np.ndarray, bench_ret: np.ndarray, *, timeperiod: int = 60, seg: Segments
) -> np.ndarray:
    """cov(r, r_bench) / var(r_bench) over the symbol's last `timeperiod` bars (t included) where both exist.

    Reference: the OLS slope of r on r_bench (= the usual CAPM beta). Over the bars where both returns exist,
    window sums come from per-symbol running sums (S_j - S_j-w; returns are O(1e-2) and sums restart per
    symbol, so a symbol never depends on its neighbours in the batch), and each bar takes the value of the
    last matched bar at or before it (interpretation: a bar without a benchmark bar keeps the beta of the
    last 60 matched bars). NULL with fewer than `timeperiod` matched bars, or a flat benchmark.
    """
    return _kernels.beta(np.ascontiguousarray(ret, np.float64), np.ascontiguousarray(bench_ret, np.float64),
                         int(timeperiod), seg.starts, seg.stops)
