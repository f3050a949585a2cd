"""compute / compute_table: bars in, the 97 catalogue columns out. Pure (no I/O), deterministic.

Flow: order the bars by (symbol, datetime), one contiguous segment per symbol (`_batch`); run the
symbol-stage producers (TA-Lib per symbol slice, compiled per-symbol loops, NumPy elementwise) block by
block of whole symbols on a thread pool, each block gathering its own OHLCV rows, while this thread builds
the labels and the cross-sectional layout; then the cross-sectional producers (benchmark, sector) over the
whole batch (`_stages`); assemble the columns in catalogue order, typed as `bar_schema()` (`_assemble`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, overload

import numpy as np
import pandas as pd
import pyarrow as pa

from marketlake.features import _long, _memory, cross_section, state
from marketlake.features._assemble import Labels, labels_arrow, labels_frame, to_arrow, to_frame
from marketlake.features._batch import (
    Batch,
    FeatureInputError,
    Rows,
    label,
    resolve_table,
    selection,
    sort_rows,
    string_codes,
)
from marketlake.features._stages import Computed, allocate, run_cross, start_symbol_columns, threads_for
from marketlake.features.registry import CROSS_INPUTS, PRODUCERS, Context
from marketlake.schema.tables import TableSpec


def _columns(
    bars: pd.DataFrame, table: str | TableSpec, benchmark: str | None, source: str | None,
    updated_at: datetime | None, workers: int | None, metadata: pd.DataFrame | None,
    since: datetime | None, labels_of: Labels, plan_of: Callable[[Rows, TableSpec], state.Plan] | None = None,
    long_rows: pd.DataFrame | None = None,
) -> tuple[dict[str, object], Computed, int, pa.Table | None]:
    """Every output column for the requested rows (at or after `since`; all without it): the label columns
    built by `labels_of`, the computed ones, and the number of rows.

    The labels (metadata strings, trade dates and their output columns) and the cross-sectional layout need
    nothing the per-symbol stage makes, so this thread builds them while the pool runs that stage's blocks
    (intraday tables label first: the stage needs the sessions). Their big arrays then come from this
    thread's malloc heap, which keeps its pages from call to call.

    `plan_of` (incremental updates, or a full compute asked for its state) matches the sorted rows with
    the feature state; the new state is returned as `feature_state` rows (None without it). With
    `long_rows` the continued symbols' long-window fields are computed from them (`_long.patch`)."""
    spec = resolve_table(table)
    threads = threads_for(len(bars), workers)
    computed = allocate(len(bars)) if since is None else None  # faulted in on a spare core meanwhile
    rows = sort_rows(bars)  # OHLCV is gathered block by block in the per-symbol stage
    plan = plan_of(rows, spec) if plan_of is not None else None
    if plan is not None and plan.drop.any():  # align continued tails (`state.kept_rows`), then match again
        bars = bars.iloc[state.kept_rows(rows, plan)]
        rows = sort_rows(bars)
        plan = plan_of(rows, spec)  # type: ignore[misc]
    sel = selection(rows, since)
    n = rows.seg.n if sel is None else len(sel)
    j200 = state.STATE_COLUMNS.index("sma_200_total")
    sma_in = plan.S[:, j200].copy() if plan is not None and long_rows is not None else None
    if computed is None:
        computed = allocate(n)
    computed.workers = threads
    stamp = updated_at if updated_at is not None else datetime.now(UTC)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)

    def labelled() -> tuple[Batch, dict[str, object]]:
        batch = label(bars, rows, spec, source, metadata)
        return batch, labels_of(batch, stamp, sel)

    def laid_out(batch: Batch) -> cross_section.Layout:
        return cross_section.layout(batch.dt_ns, batch.seg, batch.symbols, string_codes(batch.strings["sector"]),
                                    batch.time_codes, batch.n_times,
                                    benchmark if benchmark is not None else spec.default_benchmark)

    pick = (lambda x: x) if sel is None else (lambda x: x[sel])
    cols = computed.cols
    if not rows.seg.n:
        cols.update({k: np.empty(0) for k in rows.ohlcv})
        cols.update({name: np.empty(0) for p in PRODUCERS for name in p.outputs})
        return labelled()[1], computed, n, None if plan is None else state.to_table(rows, plan, spec)
    first = labelled() if spec.intraday else None  # intraday: the per-symbol stage needs the sessions
    session_id = first[0].session_id if first is not None else None
    finish = start_symbol_columns(rows, session_id, spec, threads, computed, sel, keep=CROSS_INPUTS, plan=plan)
    try:  # the blocks run on the pool meanwhile
        batch, labels = first if first is not None else labelled()
        lay = laid_out(batch)
    finally:
        full = finish()
    cols.update({k: pick(v) for k, v in rows.ohlcv.items()})  # gathered by now
    ctx = Context(cols=full, seg=batch.seg, table=spec, layout=lay, workers=threads)
    cols.update({k: pick(v) for k, v in run_cross(ctx).items()})
    if sma_in is not None and plan is not None and long_rows is not None:
        at = _long.patch(rows, plan.first, plan.n_before, sma_in, plan.S[:, j200], cols, sel, long_rows)
        for name in _long.LONG_FIELDS:
            computed.finite[name][at] = np.isfinite(cols[name][at])
            if np.isinf(cols[name][at]).any():
                computed.with_inf.add(name)
    return labels, computed, n, None if plan is None else state.to_table(rows, plan, spec)


def _planner(
    since: datetime | None, feature_state: pa.Table | None, state_out: bool, short: bool = False
) -> Callable[[Rows, TableSpec], state.Plan] | None:
    """How `_columns` matches rows with state: from `feature_state` (an update), fresh (a full compute asked
    for its state), or not at all."""
    if feature_state is None:
        return (lambda rows, spec: state.fresh_plan(len(rows.symbols))) if state_out else None
    if since is None:
        raise FeatureInputError("a feature state continues from the bars before `since`; pass since= as well")
    ts = pd.Timestamp(since)
    cut = (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).as_unit("ns").value
    return lambda rows, spec: state.plan(rows, int(cut), feature_state, spec, short=short)


@overload
def compute_table(
    bars: pd.DataFrame, table: str | TableSpec = ..., *, benchmark: str | None = ..., source: str | None = ...,
    updated_at: datetime | None = ..., workers: int | None = ..., metadata: pd.DataFrame | None = ...,
    since: datetime | None = ..., state: pa.Table | None = ..., state_out: Literal[False] = ...,
    long_rows: pd.DataFrame | None = ...,
) -> pa.Table: ...


@overload
def compute_table(
    bars: pd.DataFrame, table: str | TableSpec = ..., *, benchmark: str | None = ..., source: str | None = ...,
    updated_at: datetime | None = ..., workers: int | None = ..., metadata: pd.DataFrame | None = ...,
    since: datetime | None = ..., state: pa.Table | None = ..., state_out: Literal[True],
    long_rows: pd.DataFrame | None = ...,
) -> tuple[pa.Table, pa.Table]: ...


def compute_table(
    bars: pd.DataFrame,
    table: str | TableSpec = "stocks_daily_clean",
    *,
    benchmark: str | None = None,
    source: str | None = None,
    updated_at: datetime | None = None,
    workers: int | None = None,
    metadata: pd.DataFrame | None = None,
    since: datetime | None = None,
    state: pa.Table | None = None,
    state_out: bool = False,
    long_rows: pd.DataFrame | None = None,
) -> pa.Table | tuple[pa.Table, pa.Table]:
    """The 97 columns as an Arrow table typed exactly as `bar_schema()`; NaN/inf are stored as NULL.

    Same arguments as `compute`. This is what the pipeline writes and what live serving returns.

    Incremental updates (docs/features.md "Incremental updates"):
        state: `feature_state` rows (`SUPPORT_SCHEMAS["feature_state"]`) from an earlier call. With it,
            `bars` may hold per symbol only the last `features.history_bars()` bars before `since` plus the
            new ones: the recursive columns of the new rows continue from the state, the others are
            computed from those bars. A symbol without a state row is taken as its whole history. Needs
            `since`; a state that does not fit the bars raises FeatureInputError.
        state_out: also return the state at each symbol's last bar: `(rows, state)`.
        long_rows: with `state`, the continued symbols' bars may be only their last
            `features.short_history_bars()` before `since`; their long-window fields (`LONG_FIELDS` of
            `features._long`: sma_200, dist_sma_200, trend_regime, dist_high/low_252, volatility_regime) are
            then computed from these rows (`_long.LONG_COLUMNS`: their last `long_history_bars()` bars before
            `since`, with the stored hist_volatility_20), the same bits as from the whole history.
    """
    with _memory.no_hugepage_advice():
        labels, computed, n, new_state = _columns(bars, table, benchmark, source, updated_at, workers, metadata,
                                                  since, labels_arrow,
                                                  _planner(since, state, state_out, long_rows is not None),
                                                  long_rows)
        rows = to_arrow(labels, computed, n)
        if state_out:
            assert new_state is not None
            return rows, new_state
        return rows


def compute(
    bars: pd.DataFrame,
    table: str | TableSpec = "stocks_daily_clean",
    *,
    benchmark: str | None = None,
    source: str | None = None,
    updated_at: datetime | None = None,
    workers: int | None = None,
    metadata: pd.DataFrame | None = None,
    since: datetime | None = None,
) -> pd.DataFrame:
    """Compute the 97 catalogue columns for every bar; sorted by (symbol, datetime), catalogue order.

    Args:
        bars: `symbol`, `datetime` (UTC; naive is taken as UTC), `open, high, low, close, volume`, optional
            metadata columns (`name`, ..., `exchange_timezone`) and `source`. Validated bars: a NaN inside
            a series poisons recursive TA-Lib indicators for every later bar.
        table: table name or spec; gives bars per year, intraday sessions and the default benchmark.
        benchmark: benchmark symbol for rs_benchmark_20 and beta_60 (taken from `bars`); default the
            table's (SPY / BTC/USD). Absent from `bars` -> those columns are NULL.
        source: value of the `source` column when `bars` has none.
        updated_at: audit timestamp for every row (default: now, UTC).
        metadata: optional per-symbol metadata, one row per `symbol` with any of the metadata columns; used
            for the columns `bars` does not carry (cheaper than merging it onto every bar).
        since: return only bars at or after this instant (UTC; naive = UTC). Earlier bars still feed every
            window and recursion: pass a symbol's whole history and ask for its latest bars.
        workers: threads for the per-symbol stage; None = up to 2 when the batch has >= 200k rows, 1 = the
            calling thread only. Results are bit-identical whatever the number.

    Returns:
        A DataFrame: float columns float64 (NaN = NULL), regime columns nullable Int8, `trade_date` as
        Arrow date32, strings as pandas strings, timestamps UTC.
    """
    with _memory.no_hugepage_advice():
        labels, computed, n, _ = _columns(bars, table, benchmark, source, updated_at, workers, metadata, since,
                                          labels_frame)
        return to_frame(labels, computed, n)


__all__ = ["FeatureInputError", "compute", "compute_table"]
