"""Input normalisation for the feature engine: bars (any order, any dtypes) -> one sorted `Batch`.

Rows are sorted by (symbol, datetime) into one contiguous segment per symbol; strings (metadata, source)
stay dictionary-coded until output; each bar gets its trade date in the exchange time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from marketlake.errors import MarketlakeError
from marketlake.features import _kernels
from marketlake.features._segments import Segments
from marketlake.schema.fields import METADATA_COLUMNS
from marketlake.schema.tables import TableSpec, get_table

_OHLCV = ("open", "high", "low", "close", "volume")


class FeatureInputError(MarketlakeError):
    """The bars handed to `compute` cannot be computed; the message says which column or key is wrong."""


@dataclass
class Rows:
    """The bars sorted into one contiguous segment per symbol: all the per-symbol stage needs.

    `ohlcv` is allocated here and filled by `gather`, block by block, by the per-symbol stage (which runs
    over every row): each block copies its rows on its own thread, right before its producers read them.
    """

    symbols: np.ndarray  # per segment (object str)
    seg: Segments
    dt_ns: np.ndarray  # int64 UTC nanoseconds per row
    ohlcv: dict[str, np.ndarray]  # sorted float64 columns, complete once `gather` has covered every row
    order: np.ndarray | None  # input row of each sorted row (None: the input was already sorted)
    sources: dict[str, np.ndarray]  # OHLCV as float64 in input order (views of the input where possible)

    def gather(self, r0: int, r1: int) -> dict[str, np.ndarray]:
        """The sorted rows r0:r1 of OHLCV, copied from the input into `ohlcv` (views of it)."""
        out = {c: self.ohlcv[c][r0:r1] for c in _OHLCV}
        for c, dest in out.items():
            if self.order is None:
                np.copyto(dest, self.sources[c][r0:r1])
            else:
                np.take(self.sources[c], self.order[r0:r1], out=dest)
        return out


@dataclass
class Batch(Rows):
    """Rows plus their labels: strings (metadata, source) and trade dates, for the cross stage and output."""

    strings: dict[str, pa.DictionaryArray]  # metadata + source, per row
    trade_days: np.ndarray  # int32 days since epoch in the exchange time zone
    session_id: np.ndarray | None  # (symbol, trade_date) runs, intraday tables only
    time_codes: np.ndarray  # int32 per row: which distinct datetime (the sector medians' buckets)
    n_times: int  # distinct datetimes


def resolve_table(table: str | TableSpec) -> TableSpec:
    return table if isinstance(table, TableSpec) else get_table(table)


@dataclass
class Keys:
    """Where each input row goes: what `sort_rows` needs besides the OHLCV values."""

    uniques: np.ndarray  # distinct symbols, sorted (object str)
    codes: np.ndarray  # int64 symbol code of each input row
    dt_ns: np.ndarray  # int64 UTC nanoseconds per row, sorted by (symbol, datetime)
    order: np.ndarray | None  # input row of each sorted row (None: the input was already sorted)


def sort_keys(bars: pd.DataFrame) -> Keys:
    """Validate the keys (present, non-NULL, unique) and order the rows by (symbol, datetime)."""
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
    codes = sym_codes.astype(np.int64, copy=False)  # input order throughout: only counted per symbol later
    order: np.ndarray | None = None
    if len(codes) > 1:
        status, order, duplicate = _kernels.symbol_order(codes, dt_ns, len(sym_uniques))
        if status == 2:
            order = np.lexsort((dt_ns, codes))
            i = int(_kernels.first_duplicate(codes[order], dt_ns[order]))
            duplicate = int(order[i]) if i >= 0 else -1
        if duplicate >= 0:
            raise FeatureInputError(
                f"duplicate bar for {sym_uniques[sym_codes[duplicate]]!r} at "
                f"{pd.Timestamp(dt_ns[duplicate], tz='UTC')}; keys (symbol, datetime) must be unique"
            )
        if status == 0:
            order = None
        else:
            dt_ns = dt_ns[order]
    return Keys(np.asarray(sym_uniques, dtype=object), codes, dt_ns, order)


def sort_rows(bars: pd.DataFrame) -> Rows:
    """The bars sorted by (symbol, datetime) (`sort_keys`); OHLCV is allocated here and gathered later, block
    by block, by `Rows.gather`."""
    keys = sort_keys(bars)
    sources = {c: _float_source(bars[c]) for c in _OHLCV}
    n = len(keys.codes)
    lengths = np.bincount(keys.codes, minlength=len(keys.uniques))
    seg = Segments.from_lengths(lengths[lengths > 0])
    return Rows(keys.uniques[lengths > 0], seg, keys.dt_ns, {c: np.empty(n) for c in _OHLCV}, keys.order, sources)


def _float_source(values: pd.Series) -> np.ndarray:
    """A column as float64 (NULL -> NaN) in input order, without a copy where it already is one."""
    numeric = pd.to_numeric(values)
    if isinstance(numeric.dtype, np.dtype):  # NumPy-backed: NaN already means missing
        return np.ascontiguousarray(numeric.to_numpy(np.float64))
    return np.ascontiguousarray(numeric.to_numpy(np.float64, na_value=np.nan))  # nullable / Arrow dtypes


def label(
    bars: pd.DataFrame, rows: Rows, spec: TableSpec, source: str | None, metadata: pd.DataFrame | None = None
) -> Batch:
    """The string columns (dictionary-coded), trade dates and intraday sessions of the sorted rows.

    Independent of the per-symbol stage on daily tables, so the engine runs it beside that stage."""
    n = rows.seg.n
    lengths = rows.seg.stops - rows.seg.starts
    strings: dict[str, pa.DictionaryArray] = {}
    meta_rows = _metadata_rows(metadata, rows.symbols, lengths)
    absent: pa.DictionaryArray | None = None
    for col in (*METADATA_COLUMNS, "source"):
        if col in bars.columns:
            codes, uniques = pd.factorize(bars[col], use_na_sentinel=True)  # repeats per symbol: few values
            in_order = codes if rows.order is None else codes[rows.order]
            strings[col] = dictionary(in_order, [str(u) for u in uniques])
        elif meta_rows is not None and col in metadata.columns:  # type: ignore[union-attr]
            strings[col] = _broadcast(metadata[col], *meta_rows)  # type: ignore[index]
        else:
            strings[col] = absent = _absent(n) if absent is None else absent  # immutable: one for all
    if "source" not in bars.columns and source is not None:
        strings["source"] = _constant_string(source, n)
    default_tz = "America/New_York" if spec.asset == "stocks" else "UTC"
    strings["exchange_timezone"] = _fill_null(strings["exchange_timezone"], default_tz)
    time_codes, times = pd.factorize(rows.dt_ns)  # bars of many symbols share their datetimes
    trade_days = _trade_days(time_codes, np.asarray(times, dtype=np.int64), strings["exchange_timezone"])
    session_id = None
    if spec.intraday:
        new = np.ones(n, dtype=bool)
        codes = np.repeat(np.arange(len(lengths)), lengths)
        new[1:] = (codes[1:] != codes[:-1]) | (trade_days[1:] != trade_days[:-1])
        session_id = np.cumsum(new) - 1
    return Batch(rows.symbols, rows.seg, rows.dt_ns, rows.ohlcv, rows.order, rows.sources, strings, trade_days,
                 session_id, time_codes.astype(np.int32), len(times))


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


def dictionary(codes: np.ndarray, values: list[str]) -> pa.DictionaryArray:
    """Strings as (int32 codes, distinct values); code -1 = NULL. Cast to plain strings only on output."""
    codes = np.asarray(codes, dtype=np.int32)
    null = codes < 0
    indices = pa.array(codes, mask=null) if null.any() else pa.array(codes)  # no validity bitmap if no NULL
    return pa.DictionaryArray.from_arrays(indices, pa.array(values, type=pa.string()))


def _broadcast(values: pd.Series, rows: np.ndarray, lengths: np.ndarray) -> pa.DictionaryArray:
    """A per-symbol metadata column repeated over each symbol's bars (codes only, no string copies)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    seg_codes = np.where(rows >= 0, codes[np.maximum(rows, 0)], -1)
    return dictionary(np.repeat(seg_codes, lengths), [str(u) for u in uniques])


def _absent(n: int) -> pa.DictionaryArray:
    """n NULLs (a column neither the bars nor the metadata carry)."""
    return pa.DictionaryArray.from_arrays(pa.nulls(n, pa.int32()), pa.array([], type=pa.string()))


def _constant_string(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value], type=pa.string()))


def _fill_null(values: pa.DictionaryArray, fill: str) -> pa.DictionaryArray:
    """NULLs replaced by `fill` (added to the distinct values if absent)."""
    if values.null_count == 0:
        return values
    if values.null_count == len(values):  # no zone given at all: the usual case
        return _constant_string(fill, len(values))
    uniques = values.dictionary.to_pylist()
    if fill not in uniques:
        uniques.append(fill)
    codes = string_codes(values)
    return dictionary(np.where(codes < 0, uniques.index(fill), codes), uniques)


def string_codes(values: pa.DictionaryArray) -> np.ndarray:
    """The integer code of every row, -1 for NULL (for grouping without Python string objects)."""
    return pa.compute.fill_null(values.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def _trade_days(time_codes: np.ndarray, times: np.ndarray, tz: pa.DictionaryArray) -> np.ndarray:
    """Calendar date (days since epoch) of each bar in its exchange time zone, converted once per distinct
    (datetime, zone): `times` are the distinct datetimes (UTC ns), `time_codes` each row's among them."""
    tz_codes = string_codes(tz)  # no NULLs here: missing zones were filled with the table default
    tz_names = tz.dictionary.to_pylist()
    if len(tz_names) == 1:
        return _local_days(times, str(tz_names[0]))[time_codes]
    out = np.empty(len(time_codes), dtype=np.int32)
    for k, name in enumerate(tz_names):
        mask = tz_codes == k
        out[mask] = _local_days(times, str(name))[time_codes[mask]]
    return out


def _local_days(times: np.ndarray, zone: str) -> np.ndarray:
    local = pd.DatetimeIndex(times, tz="UTC").tz_convert(zone).tz_localize(None)
    return (local.as_unit("ns").asi8 // 86_400_000_000_000).astype(np.int32)


def selection(rows: Rows, since: datetime | None) -> np.ndarray | None:
    """Rows at or after `since` (None: every row)."""
    if since is None:
        return None
    ts = pd.Timestamp(since)
    cut = (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).as_unit("ns").value
    keep = rows.dt_ns >= cut
    return None if keep.all() else np.flatnonzero(keep)


def symbol_codes(batch: Batch, sel: np.ndarray | None) -> np.ndarray:
    lengths = batch.seg.stops - batch.seg.starts
    codes = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    return codes if sel is None else codes[sel]


def string_column(batch: Batch, name: str, sel: np.ndarray | None, nulls: pa.Array | None = None) -> pa.Array:
    """A string column as plain Arrow strings; all-NULL and single-valued ones (the usual metadata of one
    load) are built directly instead of through a per-row dictionary lookup. `nulls`: an all-NULL string
    array of the output's length to share between absent columns (Arrow arrays are immutable)."""
    values = batch.strings[name]
    n = len(values) if sel is None else len(sel)
    if values.null_count == len(values):
        return nulls if nulls is not None and len(nulls) == n else pa.nulls(n, pa.string())
    if values.null_count == 0 and len(values.dictionary) == 1:
        return pa.repeat(values.dictionary[0], n)
    return (values if sel is None else values.take(pa.array(sel))).cast(pa.string())


__all__ = ["Batch", "FeatureInputError", "Keys", "Rows", "dictionary", "label", "resolve_table", "selection",
           "sort_keys", "sort_rows", "string_codes", "string_column", "symbol_codes"]
