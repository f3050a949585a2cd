"""Cross-sectional fields: relative strength to a benchmark and to sector peers, and beta.

All alignment is by exact `datetime`. Values at bar t use only peers' and the benchmark's values at t
(and, for beta, at earlier matched bars), so they stay causal when everything is truncated after t.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from marketlake.features import _kernels
from marketlake.features._segments import Segments, seg_or_single


def align_to(
    dt_ns: np.ndarray, bench_dt_ns: np.ndarray, bench_values: np.ndarray, seg: Segments | None = None
) -> np.ndarray:
    """The benchmark's value at each row's datetime (NaN where the benchmark has no bar then).

    `bench_dt_ns` must be sorted ascending and unique (one symbol's bars); `dt_ns` ascending per segment.
    """
    seg = seg_or_single(seg, len(dt_ns))
    return _kernels.align_to(np.ascontiguousarray(dt_ns, np.int64), np.ascontiguousarray(bench_dt_ns, np.int64),
                             np.ascontiguousarray(bench_values, np.float64), seg.starts, seg.stops)


def relative_strength(ret: np.ndarray, bench_ret: np.ndarray) -> np.ndarray:
    """return_20 - benchmark return_20 at the same datetime; NULL where either is NULL."""
    return ret - bench_ret


def sector_relative_strength(
    ret: np.ndarray, sector_codes: np.ndarray, time_codes: np.ndarray, n_times: int, *, min_peers: int = 3,
    workers: int = 1,
) -> np.ndarray:
    """return_20 - median of non-NULL return_20 of the same sector at the same datetime (self included).

    `sector_codes`: one integer per sector, < 0 where the sector is NULL; `time_codes`: one integer per
    distinct datetime, 0 <= code < `n_times` (the batch's, made once). NULL where the sector is NULL or
    fewer than `min_peers` values exist at that datetime. `workers` threads split the datetimes (each
    datetime is computed whole by one thread, so the result does not depend on the split).
    """
    values = np.ascontiguousarray(ret, np.float64)
    codes = np.ascontiguousarray(sector_codes, np.int64)
    n_groups = max(int(codes.max()) + 1, 0) if len(codes) else 0
    bounds, rows, in_order, groups = _kernels.bucket_by_time(values, np.ascontiguousarray(time_codes, np.int64),
                                                             codes, int(n_times))
    out = np.full(len(values), np.nan)
    cuts = np.searchsorted(bounds, np.linspace(0, bounds[-1], max(1, workers) + 1)[1:-1])
    ranges = list(zip([0, *cuts.tolist()], [*cuts.tolist(), int(n_times)]))

    def run(k: tuple[int, int]) -> None:
        _kernels.group_median_diff(in_order, groups, bounds, rows, n_groups, int(min_peers), k[0], k[1], out)

    if len(ranges) == 1:
        run(ranges[0])
    else:
        with ThreadPoolExecutor(max_workers=len(ranges), thread_name_prefix="marketlake-sector") as pool:
            list(pool.map(run, ranges))
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
