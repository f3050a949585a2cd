"""compute / compute_table: bars in, the 97 catalogue columns out. Pure (no I/O), deterministic.

Flow: normalise and sort the bars by (symbol, datetime) into one contiguous array per input column; run the
symbol-stage producers (TA-Lib per symbol slice, NumPy vectorised over all symbols with boundary masks),
optionally in a process pool over symbol chunks; run the cross-sectional producers (benchmark, sector) over
the whole batch; assemble the columns in catalogue order, typed as `bar_schema()`.
"""

from __future__ import annotations

import os
import mmap
import multiprocessing as mp
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa

from marketlake.errors import MarketlakeError
from marketlake.features._segments import Segments
from marketlake.features.registry import PRODUCERS, Context
from marketlake.schema.arrow import bar_schema
from marketlake.schema.fields import FIELDS, METADATA_COLUMNS
from marketlake.schema.tables import TableSpec, get_table

_OHLCV = ("open", "high", "low", "close", "volume")
_POOL_MIN_ROWS = 200_000
_STR = pd.StringDtype(storage="pyarrow", na_value=np.nan)  # pandas 3's default "str" dtype  # below this a process pool costs more than it saves


class FeatureInputError(MarketlakeError):
    """The bars handed to `compute` cannot be computed; the message says which column or key is wrong."""


@dataclass
class _Batch:
    """Sorted, normalised input: one contiguous segment per symbol."""

    symbols: np.ndarray  # per segment (object str)
    seg: Segments
    dt_ns: np.ndarray  # int64 UTC nanoseconds per row
    ohlcv: dict[str, np.ndarray]
    strings: dict[str, pa.Array]  # metadata + source, per row
    trade_days: np.ndarray  # int32 days since epoch in the exchange time zone
    session_id: np.ndarray | None


def _resolve_table(table: str | TableSpec) -> TableSpec:
    return table if isinstance(table, TableSpec) else get_table(table)


def _prepare(bars: pd.DataFrame, spec: TableSpec, source: str | None) -> _Batch:
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
        sorted_ = bool(np.all((np.diff(codes) > 0) | ((np.diff(codes) == 0) & (np.diff(dt_ns) >= 0))))
        if not sorted_:
            order = np.lexsort((dt_ns, codes))
            codes, dt_ns = codes[order], dt_ns[order]
        dup = (np.diff(codes) == 0) & (np.diff(dt_ns) == 0)
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
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
    for col in (*METADATA_COLUMNS, "source"):
        if col in bars.columns:
            strings[col] = _string_array(bars[col], order)
        else:
            strings[col] = pa.nulls(n, pa.string())
    if "source" not in bars.columns and source is not None:
        strings["source"] = _constant_string(source, n)
    default_tz = "America/New_York" if spec.asset == "stocks" else "UTC"
    strings["exchange_timezone"] = pa.compute.fill_null(strings["exchange_timezone"], default_tz)
    trade_days = _trade_days(dt_ns, strings["exchange_timezone"])
    session_id = None
    if spec.intraday:
        new = np.ones(n, dtype=bool)
        new[1:] = (codes[1:] != codes[:-1]) | (trade_days[1:] != trade_days[:-1])
        session_id = np.cumsum(new) - 1
    return _Batch(symbols, seg, dt_ns, ohlcv, strings, trade_days, session_id)


def _string_array(values: pd.Series, order: np.ndarray | None) -> pa.Array:
    """A string column as Arrow, via its distinct values (metadata repeats per symbol: cheap)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if order is not None:
        codes = codes[order]
    dictionary = pa.array([str(u) for u in uniques], type=pa.string())
    idx = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(idx, dictionary).cast(pa.string())


def _constant_string(value: str, n: int) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value])).cast(pa.string())


def _trade_days(dt_ns: np.ndarray, tz: pa.Array) -> np.ndarray:
    """Calendar date (days since epoch) of each bar in its exchange time zone.

    Converted once per distinct (instant, zone): bars of many symbols share their datetimes.
    """
    out = np.empty(len(dt_ns), dtype=np.int32)
    encoded = tz.dictionary_encode()  # no NULLs here: missing zones were filled with the table default
    tz_codes = encoded.indices.to_numpy(zero_copy_only=False)
    tz_names = encoded.dictionary.to_pylist()
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
    """Every per-symbol column for a run of whole symbols (picklable: the unit of parallel work)."""
    ctx = Context(cols=dict(ohlcv), seg=Segments.from_lengths(lengths), table=spec, session_id=session_id)
    _run(ctx, "symbol")
    return {k: v for k, v in ctx.cols.items() if k not in ohlcv}


def _run(ctx: Context, stage: str) -> None:
    for producer in PRODUCERS:
        if producer.stage != stage:
            continue
        outs = producer.run(ctx)
        if len(outs) != len(producer.outputs):  # pragma: no cover - registry bug guard
            raise RuntimeError(f"producer of {producer.outputs} returned {len(outs)} arrays")
        for name, arr in zip(producer.outputs, outs):
            ctx.cols[name] = np.asarray(arr, dtype=np.float64)


def _symbol_columns(batch: _Batch, spec: TableSpec, workers: int | None) -> dict[str, np.ndarray]:
    """Per-symbol columns, in process or in forked workers over runs of whole symbols.

    Workers are forked (they inherit the input arrays for free) and write straight into one anonymous
    shared mapping, so nothing is pickled. Each symbol is computed by the same code either way, so the
    output is bit-identical to the in-process path.
    """
    n = batch.seg.n
    lengths = batch.seg.stops - batch.seg.starts
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if n >= _POOL_MIN_ROWS else 1
    n_workers = max(1, int(workers))
    if n_workers <= 1 or len(lengths) < 2 or "fork" not in mp.get_all_start_methods():
        return _symbol_stage(batch.ohlcv, lengths, spec, batch.session_id)
    # split whole symbols into `n_workers` runs of about equal rows
    cut_rows = np.linspace(0, n, n_workers + 1)[1:-1]
    cuts = np.unique(np.searchsorted(batch.seg.stops, cut_rows, side="left") + 1)
    cuts = cuts[(cuts > 0) & (cuts < len(lengths))]
    bounds = [0, *cuts.tolist(), len(lengths)]
    names = [o for p in PRODUCERS if p.stage == "symbol" for o in p.outputs]
    shared = mmap.mmap(-1, max(1, len(names) * n * 8), flags=mmap.MAP_SHARED)
    out = np.frombuffer(shared, dtype=np.float64, count=len(names) * n).reshape(len(names), n)
    ctx = mp.get_context("fork")
    procs = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        r0, r1 = int(batch.seg.starts[a]), int(batch.seg.stops[b - 1])
        sid = None if batch.session_id is None else batch.session_id[r0:r1]
        job = ({k: v[r0:r1] for k, v in batch.ohlcv.items()}, lengths[a:b], spec, sid)
        proc = ctx.Process(target=_fork_worker, args=(job, out, names, r0, r1), daemon=True)
        proc.start()
        procs.append(proc)
    for proc in procs:
        proc.join()
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"feature worker(s) failed with exit code(s) {failed}; retry with workers=1 to see why")
    return {name: out[i] for i, name in enumerate(names)}


def _fork_worker(job: tuple, out: np.ndarray, names: list[str], r0: int, r1: int) -> None:  # type: ignore[type-arg]
    cols = _symbol_stage(*job)
    for i, name in enumerate(names):
        out[i, r0:r1] = cols[name]


def _columns(
    bars: pd.DataFrame, table: str | TableSpec, benchmark: str | None, source: str | None,
    updated_at: datetime | None, workers: int | None,
) -> tuple[_Batch, dict[str, np.ndarray], datetime]:
    spec = _resolve_table(table)
    batch = _prepare(bars, spec, source)
    cols = dict(batch.ohlcv)
    if batch.seg.n:
        cols.update(_symbol_columns(batch, spec, workers))
        ctx = Context(cols=cols, seg=batch.seg, table=spec, dt_ns=batch.dt_ns, symbols=batch.symbols,
                      sector=np.asarray(batch.strings["sector"].to_numpy(zero_copy_only=False), dtype=object),
                      benchmark=benchmark if benchmark is not None else spec.default_benchmark)
        _run(ctx, "cross")
    else:
        cols.update({name: np.empty(0) for p in PRODUCERS for name in p.outputs})
    stamp = updated_at if updated_at is not None else datetime.now(timezone.utc)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return batch, cols, stamp


def _arrow(batch: _Batch, cols: dict[str, np.ndarray], stamp: datetime) -> pa.Table:
    schema = bar_schema()
    n = batch.seg.n
    arrays: list[pa.Array] = []
    for f in FIELDS:
        if f.name == "symbol":
            lengths = batch.seg.stops - batch.seg.starts
            idx = pa.array(np.repeat(np.arange(len(lengths), dtype=np.int32), lengths))
            arr = pa.DictionaryArray.from_arrays(idx, pa.array([str(s) for s in batch.symbols], pa.string()))
            arrays.append(arr.cast(pa.string()))
        elif f.name == "datetime":
            arrays.append(pa.array(batch.dt_ns // 1000, type=pa.timestamp("us", tz="UTC")))
        elif f.name == "trade_date":
            arrays.append(pa.array(batch.trade_days, type=pa.date32()))
        elif f.name == "updated_at":
            us = int(pd.Timestamp(stamp).tz_convert("UTC").value // 1000)
            arrays.append(pa.array(np.full(n, us, dtype=np.int64), type=pa.timestamp("us", tz="UTC")))
        elif f.dtype == "string":
            arrays.append(batch.strings[f.name])
        elif f.dtype == "int8":
            x = cols[f.name]
            bad = ~np.isfinite(x)
            arrays.append(pa.array(np.where(bad, 0, x).astype(np.int8), mask=bad))
        else:
            x = cols[f.name]
            bad = ~np.isfinite(x)
            arrays.append(pa.array(x, type=pa.float64(), mask=bad if bad.any() else None))
    return pa.Table.from_arrays(arrays, schema=schema)


def compute_table(
    bars: pd.DataFrame,
    table: str | TableSpec = "stocks_daily_clean",
    *,
    benchmark: str | None = None,
    source: str | None = None,
    updated_at: datetime | None = None,
    workers: int | None = None,
) -> pa.Table:
    """The 97 columns as an Arrow table typed exactly as `bar_schema()`; NaN/inf are stored as NULL.

    Same arguments as `compute`. This is what the pipeline writes and what live serving returns.
    """
    batch, cols, stamp = _columns(bars, table, benchmark, source, updated_at, workers)
    return _arrow(batch, cols, stamp)


def _frame(batch: _Batch, cols: dict[str, np.ndarray], stamp: datetime) -> pd.DataFrame:
    """The same columns as `_arrow`, as pandas (built column by column: no 2 GB block consolidation)."""
    out: dict[str, object] = {}
    n = batch.seg.n
    lengths = batch.seg.stops - batch.seg.starts
    for f in FIELDS:
        if f.name == "symbol":
            idx = pa.array(np.repeat(np.arange(len(lengths), dtype=np.int32), lengths))
            dic = pa.array([str(s) for s in batch.symbols], pa.string())
            out[f.name] = _STR.__from_arrow__(pa.DictionaryArray.from_arrays(idx, dic).cast(pa.string()))
        elif f.name == "datetime":
            out[f.name] = pd.DatetimeIndex(batch.dt_ns, tz="UTC").as_unit("us")
        elif f.name == "trade_date":
            out[f.name] = pd.array(pa.array(batch.trade_days, type=pa.date32()), dtype=pd.ArrowDtype(pa.date32()))
        elif f.name == "updated_at":
            out[f.name] = pd.DatetimeIndex(np.full(n, pd.Timestamp(stamp).tz_convert("UTC").value), tz="UTC").as_unit("us")
        elif f.dtype == "string":
            out[f.name] = _STR.__from_arrow__(batch.strings[f.name])  # pandas "str", zero-copy
        elif f.dtype == "int8":
            x = cols[f.name]
            bad = ~np.isfinite(x)
            out[f.name] = pd.arrays.IntegerArray(np.where(bad, 0, x).astype(np.int8), bad)
        else:
            x = cols[f.name]
            inf = np.isinf(x)
            if inf.any():  # NaN already means NULL; only inf needs replacing
                x = np.where(inf, np.nan, x)
            out[f.name] = x
    frame = pd.DataFrame(
        {k: (v.to_numpy() if isinstance(v, pd.Series) else v) for k, v in out.items()}, copy=False
    )
    return frame


def compute(
    bars: pd.DataFrame,
    table: str | TableSpec = "stocks_daily_clean",
    *,
    benchmark: str | None = None,
    source: str | None = None,
    updated_at: datetime | None = None,
    workers: int | None = None,
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
        workers: processes for the per-symbol stage; None = 2 when the batch has >= 200k rows (forked,\n            Linux), 1 = in process. Results are bit-identical whatever the number.

    Returns:
        A DataFrame: float columns float64 (NaN = NULL), regime columns nullable Int8, `trade_date` as
        Arrow date32, strings as pandas strings, timestamps UTC.
    """
    batch, cols, stamp = _columns(bars, table, benchmark, source, updated_at, workers)
    return _frame(batch, cols, stamp)


__all__ = ["FeatureInputError", "compute", "compute_table"]
