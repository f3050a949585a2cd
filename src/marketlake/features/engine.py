"""compute / compute_table: bars in, the 97 catalogue columns out. Pure (no I/O), deterministic.

Flow: normalise and sort the bars by (symbol, datetime) into one contiguous array per input column; run the
symbol-stage producers (TA-Lib per symbol slice, compiled per-symbol loops, NumPy elementwise) block by
block of whole symbols, on a thread pool; run the cross-sectional producers (benchmark, sector) over
the whole batch; assemble the columns in catalogue order, typed as `bar_schema()`.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from marketlake.errors import MarketlakeError
from marketlake.features import _kernels, _memory
from marketlake.features._segments import Segments
from marketlake.features.registry import PRODUCERS, Context, Producer
from marketlake.schema.arrow import bar_schema
from marketlake.schema.fields import FIELDS, METADATA_COLUMNS, FieldSpec
from marketlake.schema.tables import TableSpec, get_table

_OHLCV = ("open", "high", "low", "close", "volume")
_POOL_MIN_ROWS = 200_000  # below this a second thread costs more than it saves
_BLOCK_ROWS = 32_768  # rows per block of whole symbols: ~100 working columns stay in cache
_STR = pd.StringDtype(storage="pyarrow", na_value=np.nan)  # pandas 3's default "str" dtype
_T = TypeVar("_T")


class FeatureInputError(MarketlakeError):
    """The bars handed to `compute` cannot be computed; the message says which column or key is wrong."""


@dataclass
class _Batch:
    """Sorted, normalised input: one contiguous segment per symbol."""

    symbols: np.ndarray  # per segment (object str)
    seg: Segments
    dt_ns: np.ndarray  # int64 UTC nanoseconds per row
    ohlcv: dict[str, np.ndarray]
    strings: dict[str, pa.DictionaryArray]  # metadata + source, per row
    trade_days: np.ndarray  # int32 days since epoch in the exchange time zone
    session_id: np.ndarray | None


def _resolve_table(table: str | TableSpec) -> TableSpec:
    return table if isinstance(table, TableSpec) else get_table(table)


def _prepare(bars: pd.DataFrame, spec: TableSpec, source: str | None, metadata: pd.DataFrame | None = None) -> _Batch:
    missing = [c for c in ("symbol", "datetime", *_OHLCV) if c not in bars.columns]
    if missing:
        raise FeatureInputError(f"bars lack required column(s) {missing}; expected symbol, datetime, OHLCV")
    sym_codes, sym_uniques = pd.factorize(bars["symbol"], sort=True, use_na_sentinel=True)
    if (sym_codes < 0).any():
        raise FeatureInputError("bars hold rows without a symbol; validate them before computing features")
    dt = pd.DatetimeIndex(pd.to_datetime(bars["datetime"]))
    dt = dt.tz_localize("UTC") if dt.tz is None else dt.tz_convert("UTC")
    if dt.hasnans:
        raise FeatureInputError("bars hold rows without a datetime (NaT); validate them before computing features")
    dt_ns = dt.as_unit("ns").asi8
    codes = sym_codes.astype(np.int64)
    order: np.ndarray | None = None
    if len(codes) > 1:
        status, order = _kernels.symbol_order(codes, dt_ns, len(sym_uniques))
        if status == 0:
            order = None
        else:
            if status == 2:
                order = np.lexsort((dt_ns, codes))
            codes, dt_ns = codes[order], dt_ns[order]
        i = int(_kernels.first_duplicate(codes, dt_ns))
        if i >= 0:
            raise FeatureInputError(
                f"duplicate bar for {sym_uniques[codes[i]]!r} at {pd.Timestamp(dt_ns[i], tz='UTC')}; "
                "keys (symbol, datetime) must be unique"
            )

    def take(values: np.ndarray) -> np.ndarray:
        return values if order is None else values[order]

    ohlcv = {c: np.ascontiguousarray(take(pd.to_numeric(bars[c]).to_numpy(np.float64, na_value=np.nan)))
             for c in _OHLCV}
    lengths = np.bincount(codes, minlength=len(sym_uniques))
    seg = Segments.from_lengths(lengths[lengths > 0])
    symbols = np.asarray(sym_uniques, dtype=object)[lengths > 0]

    n = len(codes)
    strings: dict[str, pa.Array] = {}
    meta_rows = _metadata_rows(metadata, symbols, lengths[lengths > 0])
    for col in (*METADATA_COLUMNS, "source"):
        if col in bars.columns:
            strings[col] = _string_array(bars[col], order)
        elif meta_rows is not None and col in metadata.columns:  # type: ignore[union-attr]
            strings[col] = _broadcast(metadata[col], *meta_rows)  # type: ignore[index]
        else:
            strings[col] = _dictionary(np.full(n, -1, np.int32), [])
    if "source" not in bars.columns and source is not None:
        strings["source"] = _constant_string(source, n)
    default_tz = "America/New_York" if spec.asset == "stocks" else "UTC"
    strings["exchange_timezone"] = _fill_null(strings["exchange_timezone"], default_tz)
    trade_days = _trade_days(dt_ns, strings["exchange_timezone"])
    session_id = None
    if spec.intraday:
        new = np.ones(n, dtype=bool)
        new[1:] = (codes[1:] != codes[:-1]) | (trade_days[1:] != trade_days[:-1])
        session_id = np.cumsum(new) - 1
    return _Batch(symbols, seg, dt_ns, ohlcv, strings, trade_days, session_id)


def _metadata_rows(
    metadata: pd.DataFrame | None, symbols: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """(row of `metadata` for each segment, -1 = none; segment lengths), or None without metadata."""
    if metadata is None or metadata.empty:
        return None
    if "symbol" not in metadata.columns:
        raise FeatureInputError("metadata needs a `symbol` column (one row per symbol)")
    keys = pd.Index(metadata["symbol"].astype(object))
    if keys.has_duplicates:
        dup = keys[keys.duplicated()][0]
        raise FeatureInputError(f"metadata holds more than one row for {dup!r}; pass one row per symbol")
    return keys.get_indexer(pd.Index(symbols, dtype=object)), lengths


def _dictionary(codes: np.ndarray, values: list[str]) -> pa.DictionaryArray:
    """Strings as (int32 codes, distinct values); code -1 = NULL. Cast to plain strings only on output."""
    codes = np.asarray(codes, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), pa.array(values, type=pa.string()))


def _broadcast(values: pd.Series, rows: np.ndarray, lengths: np.ndarray) -> pa.DictionaryArray:
    """A per-symbol metadata column repeated over each symbol's bars (codes only, no string copies)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    seg_codes = np.where(rows >= 0, codes[np.maximum(rows, 0)], -1)
    return _dictionary(np.repeat(seg_codes, lengths), [str(u) for u in uniques])


def _string_array(values: pd.Series, order: np.ndarray | None) -> pa.DictionaryArray:
    """A string column via its distinct values (metadata repeats per symbol: cheap)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if order is not None:
        codes = codes[order]
    return _dictionary(codes, [str(u) for u in uniques])


def _constant_string(value: str, n: int) -> pa.DictionaryArray:
    return _dictionary(np.zeros(n, np.int32), [value])


def _fill_null(values: pa.DictionaryArray, fill: str) -> pa.DictionaryArray:
    """NULLs replaced by `fill` (added to the distinct values if absent)."""
    if values.null_count == 0:
        return values
    uniques = values.dictionary.to_pylist()
    if fill not in uniques:
        uniques.append(fill)
    codes = _codes(values)
    return _dictionary(np.where(codes < 0, uniques.index(fill), codes), uniques)


def _codes(values: pa.DictionaryArray) -> np.ndarray:
    """The integer code of every row, -1 for NULL (for grouping without Python string objects)."""
    return pa.compute.fill_null(values.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _trade_days(dt_ns: np.ndarray, tz: pa.DictionaryArray) -> np.ndarray:
    """Calendar date (days since epoch) of each bar in its exchange time zone.

    Converted once per distinct (instant, zone): bars of many symbols share their datetimes.
    """
    out = np.empty(len(dt_ns), dtype=np.int32)
    tz_codes = _codes(tz)  # no NULLs here: missing zones were filled with the table default
    tz_names = tz.dictionary.to_pylist()
    for k, name in enumerate(tz_names):
        mask = tz_codes == k
        sub = dt_ns if mask.all() else dt_ns[mask]
        codes, uniques = pd.factorize(sub)
        local = pd.DatetimeIndex(np.asarray(uniques, dtype=np.int64), tz="UTC").tz_convert(str(name)).tz_localize(None)
        days = (local.as_unit("ns").asi8 // 86_400_000_000_000).astype(np.int32)
        out[mask] = days[codes]
    return out


def _symbol_stage(
    ohlcv: dict[str, np.ndarray], lengths: np.ndarray, spec: TableSpec, session_id: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Every per-symbol column for a run of whole symbols (the unit of parallel or distributed work)."""
    ctx = Context(cols=dict(ohlcv), seg=Segments.from_lengths(lengths), table=spec, session_id=session_id)
    _run(ctx, "symbol")
    return {k: v for k, v in ctx.cols.items() if k not in ohlcv}


def _run(ctx: Context, stage: str) -> None:
    """The producers of `stage` in list order (a producer may read the columns of earlier ones)."""
    for producer in PRODUCERS:
        if producer.stage == stage:
            _store(ctx, producer, producer.run(ctx))


def _run_cross(ctx: Context) -> None:
    """The cross-stage producers side by side: each reads only symbol-stage columns, from its own copy of
    the column dict, so one reading another's output fails at once instead of racing it."""
    producers = [p for p in PRODUCERS if p.stage == "cross"]

    def run(producer: Producer) -> list[np.ndarray] | tuple[np.ndarray, ...]:
        return producer.run(dataclasses.replace(ctx, cols=dict(ctx.cols)))

    if ctx.workers <= 1:
        results = [run(p) for p in producers]
    else:
        with ThreadPoolExecutor(max_workers=len(producers), thread_name_prefix="marketlake-cross") as pool:
            results = list(pool.map(run, producers))
    for producer, outs in zip(producers, results):
        _store(ctx, producer, outs)


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
class _Computed:
    """Every computed column, plus what output assembly needs to know about the block-computed ones."""

    cols: dict[str, np.ndarray]
    finite: dict[str, np.ndarray]  # per row, filled while each block was still in cache
    with_inf: set[str]  # block-computed columns holding an inf somewhere
    workers: int = 1  # threads the batch may use

    def finite_of(self, name: str) -> np.ndarray:
        known = self.finite.get(name)
        return np.isfinite(self.cols[name]) if known is None else known

    def has_inf(self, name: str) -> bool:
        return name in self.with_inf if name in self.finite else bool(np.isinf(self.cols[name]).any())


def _threads(n_rows: int, workers: int | None) -> int:
    """Threads to use: `workers` if given, else up to 2 for batches big enough to pay for a second one."""
    if workers is None:
        return min(2, os.cpu_count() or 1) if n_rows >= _POOL_MIN_ROWS else 1
    return max(1, int(workers))


_SYMBOL_OUTPUTS = tuple(o for p in PRODUCERS if p.stage == "symbol" for o in p.outputs)


def _allocate(n: int) -> _Computed:
    """Uninitialised symbol-stage columns (and finiteness flags) for n rows; big ones start faulting in."""
    out = _Computed({name: np.empty(n) for name in _SYMBOL_OUTPUTS},
                    {name: np.empty(n, dtype=bool) for name in _SYMBOL_OUTPUTS}, set())
    if n >= _POOL_MIN_ROWS:
        _memory.prefault([*out.cols.values(), *out.finite.values()])
    return out


def _symbol_columns(batch: _Batch, spec: TableSpec, workers: int, out: _Computed) -> None:
    """Per-symbol columns, computed block by block (runs of whole symbols) on a thread pool.

    A block of ~32k rows keeps its ~100 working columns in the CPU cache instead of streaming 2M-row
    temporaries through memory, and TA-Lib, the compiled kernels and NumPy's loops release the GIL, so
    threads share the work without copying inputs into worker processes. Each symbol is computed by the
    same code whatever the blocking or the thread count, so the output is bit-identical. Which values are
    finite (NULL in storage otherwise) is noted while a block is in cache, not by re-reading 1.5 GB later.
    """
    lengths = batch.seg.stops - batch.seg.starts
    names, finite, with_inf = _SYMBOL_OUTPUTS, out.finite, out.with_inf

    def run_block(bounds: tuple[int, int]) -> None:
        a, b = bounds
        r0, r1 = int(batch.seg.starts[a]), int(batch.seg.stops[b - 1])
        sid = None if batch.session_id is None else batch.session_id[r0:r1]
        cols = _symbol_stage({k: v[r0:r1] for k, v in batch.ohlcv.items()}, lengths[a:b], spec, sid)
        for name in names:
            if _kernels.emit(cols[name], out.cols[name][r0:r1], finite[name][r0:r1]):
                with_inf.add(name)

    blocks = _blocks(batch.seg.stops, _BLOCK_ROWS)
    if workers <= 1 or len(blocks) < 2:
        for bounds in blocks:
            run_block(bounds)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="marketlake-features") as pool:
            list(pool.map(run_block, blocks))  # list(): re-raises a block's exception here


def _columns(
    bars: pd.DataFrame, table: str | TableSpec, benchmark: str | None, source: str | None,
    updated_at: datetime | None, workers: int | None, metadata: pd.DataFrame | None = None,
) -> tuple[_Batch, _Computed, datetime]:
    spec = _resolve_table(table)
    computed = _allocate(len(bars))  # faulted in on a spare core while the input is prepared
    batch = _prepare(bars, spec, source, metadata)
    cols = computed.cols
    cols.update(batch.ohlcv)
    if batch.seg.n:
        threads = computed.workers = _threads(batch.seg.n, workers)
        _symbol_columns(batch, spec, threads, computed)
        ctx = Context(cols=cols, seg=batch.seg, table=spec, dt_ns=batch.dt_ns, symbols=batch.symbols,
                      sector=_codes(batch.strings["sector"]),
                      benchmark=benchmark if benchmark is not None else spec.default_benchmark, workers=threads)
        _run_cross(ctx)
    else:
        cols.update({name: np.empty(0) for p in PRODUCERS for name in p.outputs})
    stamp = updated_at if updated_at is not None else datetime.now(timezone.utc)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return batch, computed, stamp


def _selection(batch: _Batch, since: datetime | None) -> np.ndarray | None:
    """Rows at or after `since` (None: every row)."""
    if since is None:
        return None
    ts = pd.Timestamp(since)
    cut = (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).as_unit("ns").value
    keep = batch.dt_ns >= cut
    return None if keep.all() else np.flatnonzero(keep)


def _symbol_codes(batch: _Batch, sel: np.ndarray | None) -> np.ndarray:
    lengths = batch.seg.stops - batch.seg.starts
    codes = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    return codes if sel is None else codes[sel]


def _strings(batch: _Batch, name: str, sel: np.ndarray | None) -> pa.Array:
    values = batch.strings[name]
    return (values if sel is None else values.take(pa.array(sel))).cast(pa.string())


def _per_field(build: Callable[[FieldSpec], _T], n_rows: int, workers: int) -> list[_T]:
    """`build` for every catalogue field, in order; on `workers` threads for big batches (the column
    conversions are NumPy and Arrow kernels that release the GIL)."""
    if workers <= 1 or n_rows < _POOL_MIN_ROWS:
        return [build(f) for f in FIELDS]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="marketlake-assemble") as pool:
        return list(pool.map(build, FIELDS))


def _arrow(batch: _Batch, computed: _Computed, stamp: datetime, sel: np.ndarray | None = None) -> pa.Table:
    pick = (lambda x: x) if sel is None else (lambda x: x[sel])
    n = batch.seg.n if sel is None else len(sel)

    def column(f: FieldSpec) -> pa.Array:
        if f.name == "symbol":
            names = [str(s) for s in batch.symbols]
            return _dictionary(_symbol_codes(batch, sel), names).cast(pa.string())
        if f.name == "datetime":
            return pa.array(pick(batch.dt_ns) // 1000, type=pa.timestamp("us", tz="UTC"))
        if f.name == "trade_date":
            return pa.array(pick(batch.trade_days), type=pa.date32())
        if f.name == "updated_at":
            us = int(pd.Timestamp(stamp).tz_convert("UTC").value // 1000)
            return pa.array(np.full(n, us, dtype=np.int64), type=pa.timestamp("us", tz="UTC"))
        if f.dtype == "string":
            return _strings(batch, f.name, sel)
        if f.dtype == "int8":
            x, bad = pick(computed.cols[f.name]), ~pick(computed.finite_of(f.name))
            return pa.array(np.where(bad, 0, x).astype(np.int8), mask=bad)
        return _float_array(pick(computed.cols[f.name]), pick(computed.finite_of(f.name)))

    return pa.Table.from_arrays(_per_field(column, n, computed.workers), schema=bar_schema())


def _float_array(x: np.ndarray, finite: np.ndarray) -> pa.Array:
    """float64 Arrow array over the same memory, NULL where x is NaN or inf (validity bits packed by NumPy)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    nulls = len(x) - int(np.count_nonzero(finite))
    validity = pa.py_buffer(np.packbits(finite, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(pa.float64(), len(x), [validity, pa.py_buffer(x)], null_count=int(nulls))


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
) -> pa.Table:
    """The 97 columns as an Arrow table typed exactly as `bar_schema()`; NaN/inf are stored as NULL.

    Same arguments as `compute`. This is what the pipeline writes and what live serving returns.
    """
    with _memory.no_hugepage_advice():
        batch, computed, stamp = _columns(bars, table, benchmark, source, updated_at, workers, metadata)
        return _arrow(batch, computed, stamp, _selection(batch, since))


def _frame(batch: _Batch, computed: _Computed, stamp: datetime, sel: np.ndarray | None = None) -> pd.DataFrame:
    """The same columns as `_arrow`, as pandas (built column by column: no 2 GB block consolidation)."""
    pick = (lambda x: x) if sel is None else (lambda x: x[sel])
    n = batch.seg.n if sel is None else len(sel)

    def column(f: FieldSpec) -> object:
        if f.name == "symbol":
            names = [str(s) for s in batch.symbols]
            return _STR.__from_arrow__(_dictionary(_symbol_codes(batch, sel), names).cast(pa.string()))
        if f.name == "datetime":
            return pd.DatetimeIndex(pick(batch.dt_ns), tz="UTC").as_unit("us")
        if f.name == "trade_date":
            return pd.array(pa.array(pick(batch.trade_days), type=pa.date32()), dtype=pd.ArrowDtype(pa.date32()))
        if f.name == "updated_at":
            return pd.DatetimeIndex(np.full(n, pd.Timestamp(stamp).tz_convert("UTC").value), tz="UTC").as_unit("us")
        if f.dtype == "string":
            return _STR.__from_arrow__(_strings(batch, f.name, sel))  # pandas "str" over Arrow memory
        if f.dtype == "int8":
            x, bad = pick(computed.cols[f.name]), ~pick(computed.finite_of(f.name))
            return pd.arrays.IntegerArray(np.where(bad, 0, x).astype(np.int8), bad)
        x = pick(computed.cols[f.name])
        if computed.has_inf(f.name):  # NaN already means NULL; only inf needs replacing
            x = np.where(np.isinf(x), np.nan, x)
        return x

    values = _per_field(column, n, computed.workers)
    return pd.DataFrame({f.name: v for f, v in zip(FIELDS, values)}, copy=False)


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
        batch, computed, stamp = _columns(bars, table, benchmark, source, updated_at, workers, metadata)
        return _frame(batch, computed, stamp, _selection(batch, since))


__all__ = ["FeatureInputError", "compute", "compute_table"]
