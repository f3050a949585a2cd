"""The two compute stages: per-symbol producers block by block on threads, then the cross-sectional ones.

Output columns are allocated up front (`allocate`) so their pages can be populated while the input is
prepared; each block copies its columns in and notes which values are finite while they are in cache.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from marketlake.features import _kernels, _memory
from marketlake.features._batch import Rows
from marketlake.features._segments import Segments
from marketlake.features._threads import results, submit_all
from marketlake.features.registry import PRODUCERS, Context, Producer
from marketlake.features.state import Plan, Resume
from marketlake.schema.tables import TableSpec

POOL_MIN_ROWS = 200_000  # below this a second thread costs more than it saves
_BLOCK_ROWS = 32_768  # rows per block of whole symbols: ~100 working columns stay in cache


def _symbol_stage(
    ohlcv: dict[str, np.ndarray], lengths: np.ndarray, spec: TableSpec, session_id: np.ndarray | None,
    resume: Callable[[Segments], Resume] | None = None,
) -> dict[str, np.ndarray]:
    """Every per-symbol column for a run of whole symbols (the unit of parallel or distributed work);
    `resume` (incremental updates) gives the block's view of the feature state."""
    seg = Segments.from_lengths(lengths)
    ctx = Context(cols=dict(ohlcv), seg=seg, table=spec, session_id=session_id,
                  resume=None if resume is None else resume(seg))
    _run(ctx, "symbol")
    return {k: v for k, v in ctx.cols.items() if k not in ohlcv}


def _run(ctx: Context, stage: str) -> None:
    """The producers of `stage` in list order (a producer may read the columns of earlier ones)."""
    for producer in PRODUCERS:
        if producer.stage == stage:
            _store(ctx, producer, producer.run(ctx))


def run_cross(ctx: Context) -> dict[str, np.ndarray]:
    """The cross-stage producers, each given only the columns it declares (`reads`), so one reading anything
    else fails at once. Returns their columns (all rows).

    They run on the calling thread, one after the other (a producer may fan out on the pool, as the sector
    medians do): the arrays they return then come from the caller's malloc heap, which keeps its pages
    between calls, instead of a pool thread's arena, which glibc unmaps once it is empty and maps again,
    page-faulting ~300 MB per 2M-row call when that happened."""
    out = dataclasses.replace(ctx, cols={})
    for producer in PRODUCERS:
        if producer.stage == "cross":
            _store(out, producer, producer.run(dataclasses.replace(ctx, cols={k: ctx.cols[k] for k in producer.reads})))
    return out.cols


def _store(ctx: Context, producer: Producer, outs: list[np.ndarray] | tuple[np.ndarray, ...]) -> None:
    if len(outs) != len(producer.outputs):  # pragma: no cover - registry bug guard
        raise RuntimeError(f"producer of {producer.outputs} returned {len(outs)} arrays")
    for name, arr in zip(producer.outputs, outs):
        ctx.cols[name] = np.asarray(arr, dtype=np.float64)


def _blocks(stops: np.ndarray, block_rows: int) -> list[tuple[int, int]]:
    """Runs of whole symbols [a, b) of about `block_rows` rows each (a longer symbol is a block of its own)."""
    bounds = [0]
    n_seg = len(stops)
    while bounds[-1] < n_seg:
        a = bounds[-1]
        first_row = int(stops[a - 1]) if a else 0
        b = int(np.searchsorted(stops, first_row + block_rows, side="right"))
        bounds.append(max(b, a + 1))
    return list(zip(bounds[:-1], bounds[1:]))


@dataclass
class Computed:
    """Every output column (only the requested rows), plus what assembly needs about the block-computed ones."""

    cols: dict[str, np.ndarray]
    finite: dict[str, np.ndarray]  # per row, filled while each block was still in cache
    with_inf: set[str]  # block-computed columns holding an inf somewhere
    workers: int = 1  # threads the batch may use

    def finite_of(self, name: str) -> np.ndarray:
        known = self.finite.get(name)
        return np.isfinite(self.cols[name]) if known is None else known

    def has_inf(self, name: str) -> bool:
        return name in self.with_inf if name in self.finite else bool(np.isinf(self.cols[name]).any())


def threads_for(n_rows: int, workers: int | None) -> int:
    """Threads to use: `workers` if given, else up to 2 for batches big enough to pay for a second one."""
    if workers is None:
        return min(2, os.cpu_count() or 1) if n_rows >= POOL_MIN_ROWS else 1
    return max(1, int(workers))


_SYMBOL_OUTPUTS = tuple(o for p in PRODUCERS if p.stage == "symbol" for o in p.outputs)


def allocate(n: int) -> Computed:
    """Uninitialised symbol-stage columns (and finiteness flags) for n output rows; big ones start faulting
    in at once, on another thread."""
    out = Computed({name: np.empty(n) for name in _SYMBOL_OUTPUTS},
                   {name: np.empty(n, dtype=bool) for name in _SYMBOL_OUTPUTS}, set())
    if n >= POOL_MIN_ROWS:
        _memory.prefault([*out.cols.values(), *out.finite.values()])
    return out


def symbol_columns(
    batch: Rows, session_id: np.ndarray | None, spec: TableSpec, workers: int, out: Computed,
    sel: np.ndarray | None = None, keep: tuple[str, ...] = (), plan: Plan | None = None,
) -> dict[str, np.ndarray]:
    """`start_symbol_columns` and wait for it."""
    return start_symbol_columns(batch, session_id, spec, workers, out, sel, keep, plan)()


def start_symbol_columns(
    batch: Rows, session_id: np.ndarray | None, spec: TableSpec, workers: int, out: Computed,
    sel: np.ndarray | None = None, keep: tuple[str, ...] = (), plan: Plan | None = None,
) -> Callable[[], dict[str, np.ndarray]]:
    """Per-symbol columns, computed block by block (runs of whole symbols) on a thread pool, into `out`.
    With `workers` > 1 the blocks run in the background: the returned `finish` waits for them and returns
    the `keep` columns, and the calling thread is free meanwhile.

    With `sel` (ascending rows), only those rows are written to `out`: a caller asking for the latest bars
    of long histories does not pay for writing every column of every bar. The columns named in `keep` are
    returned for all rows either way (the cross stage reads every row of them).

    A block of ~32k rows gathers its own OHLCV rows (`Rows.gather`) and keeps its ~100 working columns in
    the CPU cache instead of streaming 2M-row temporaries through memory, and TA-Lib, the compiled kernels
    and NumPy's loops release the GIL, so threads share the work without copying inputs into worker
    processes. Each symbol is computed by the
    same code whatever the blocking or the thread count, so the output is bit-identical. Which values are
    finite (NULL in storage otherwise) is noted while a block is in cache, not by re-reading 1.5 GB later.

    With `plan` (`features.state`), each block continues the recursions of its continued symbols from
    their state and leaves every symbol's state at its last bar in `plan.S`.
    """
    lengths = batch.seg.stops - batch.seg.starts
    names, finite, with_inf = _SYMBOL_OUTPUTS, out.finite, out.with_inf
    full = {name: out.cols[name] for name in keep} if sel is None else {name: np.empty(batch.seg.n) for name in keep}

    def run_block(bounds: tuple[int, int]) -> None:
        a, b = bounds
        r0, r1 = int(batch.seg.starts[a]), int(batch.seg.stops[b - 1])
        sid = None if session_id is None else session_id[r0:r1]
        view = None if plan is None else (lambda seg: Resume.of(plan, seg, a, b, r0))
        cols = _symbol_stage(batch.gather(r0, r1), lengths[a:b], spec, sid, view)
        if sel is None:
            for name in names:
                if _kernels.emit(cols[name], out.cols[name][r0:r1], finite[name][r0:r1]):
                    with_inf.add(name)
            return
        for name in keep:
            full[name][r0:r1] = cols[name]
        i0, i1 = np.searchsorted(sel, (r0, r1))
        if i1 > i0:
            rows = sel[i0:i1] - r0
            for name in names:
                if _kernels.emit_rows(cols[name], rows, out.cols[name][i0:i1], finite[name][i0:i1]):
                    with_inf.add(name)

    blocks = _blocks(batch.seg.stops, _BLOCK_ROWS)
    if workers <= 1 or len(blocks) < 2:
        for bounds in blocks:
            run_block(bounds)
        return lambda: full
    futures = submit_all("features", workers, run_block, blocks)

    def finish() -> dict[str, np.ndarray]:
        results(futures)  # re-raises a block's exception here
        return full

    return finish


__all__ = ["POOL_MIN_ROWS", "Computed", "allocate", "run_cross", "start_symbol_columns", "symbol_columns",
           "threads_for"]
