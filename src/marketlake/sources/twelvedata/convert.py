"""Wire series -> raw bars (pure): strings to floats, exchange-local times to UTC, forming bar dropped.

Why here and not in the client: conversion rules are the part most likely to be wrong (DST, date-only
daily bars, the still-forming last bar) and they are pure, so they are tested without a server.

Rules:
- `datetime` is the bar OPEN in the exchange zone (`meta.exchange_timezone`). Intraday bars are
  localized there and converted to UTC; DST gaps/overlaps are resolved by the bar order (ambiguous
  wall times are inferred from each symbol's sequence) and anything unresolvable becomes NaT, which
  validation quarantines.
- Stock daily bars (`YYYY-MM-DD`) are stamped at the session open (09:30 exchange time) in UTC, e.g.
  2024-07-03 -> 13:30Z in summer and 14:30Z in winter. Crypto daily bars are stamped 00:00 UTC.
- A bar whose end lies after `now` is still forming and is dropped.
- Prices that do not parse stay as raw strings (object column): validation decides, with the raw row.

Speed matters here: a full 120-symbol daily page is ~94,000 bars, and at the higher plans the credit
budget lets the next request go out ~1 s (compressed benchmark minute) to ~4.5 s (real minute) later.
A whole batch answer is therefore converted in one pass (`batch_to_bars`): Arrow parses the strings
and formats `_raw` column-wise, and the per-row Python paths (pandas' mixed-format parser, per-symbol
DST inference, `json.dumps`) run only for the rows that need them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.schema import TableSpec
from marketlake.sources.base import empty_raw_bars
from marketlake.sources.twelvedata.wire import WireMeta, WireSeries

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
STOCK_SESSION_OPEN = time(9, 30)
STOCK_SESSION_CLOSE = time(16, 0)
DEFAULT_STOCK_TZ = "America/New_York"
_WIRE_KEYS = ("close", "datetime", "high", "low", "open", "volume")  # sorted, as `json.dumps(sort_keys=True)`
_JSON_PLAIN = r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$"  # printable ASCII but `"` and `\`: JSON writes it verbatim
_WALL_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S")


def exchange_zone(meta: WireMeta, table: TableSpec) -> str:
    """The zone the vendor's wall times are in: meta's, else the asset's default."""
    if meta.exchange_timezone:
        return meta.exchange_timezone
    return "UTC" if table.asset == "crypto" else DEFAULT_STOCK_TZ


def series_to_bars(series: WireSeries, table: TableSpec, *, symbol: str, now: datetime) -> pd.DataFrame:
    """Raw bars (docs/internals.md contract) for one symbol, oldest first, forming bar removed."""
    return batch_to_bars([(symbol, series)], table, now=now)


def batch_to_bars(answers: Sequence[tuple[str, WireSeries]], table: TableSpec, *, now: datetime) -> pd.DataFrame:
    """Raw bars of many symbols' series at once: symbols in the given order, each oldest first.

    The same frame as converting each series on its own and concatenating, in one pass over the batch.
    """
    parts = [(symbol, series) for symbol, series in answers if series.values]
    if not parts:
        return empty_raw_bars()
    rows: list[Mapping[str, Any]] = []
    for _, series in parts:
        rows.extend(reversed(series.values))  # the vendor sends newest first
    lengths = np.array([len(series.values) for _, series in parts], dtype=np.int64)
    values = {key: [r.get(key) for r in rows] for key in _WIRE_KEYS}
    strings = {key: _strings(v) for key, v in values.items()}
    zones = [exchange_zone(series.meta, table) for _, series in parts]
    open_utc, end_utc = _batch_times(values["datetime"], zones, lengths, table)
    now_ts = pd.Timestamp(now)
    now_utc = (now_ts.tz_convert("UTC") if now_ts.tzinfo else now_ts).tz_localize(None).as_unit("us")
    keep = ~(end_utc > now_utc.to_datetime64())  # NaT compares False: such rows go on to validation
    if not keep.any():
        return empty_raw_bars()
    names = np.array([s for s, _ in parts], dtype=object)
    where = np.array([f"twelvedata /time_series {s} {table.vendor_interval}" for s, _ in parts], dtype=object)
    out: dict[str, Any] = {
        "symbol": np.repeat(names, lengths)[keep],
        "datetime": pd.DatetimeIndex(open_utc[keep]).tz_localize("UTC"),
    }
    for col in PRICE_COLUMNS:
        out[col] = _numbers(strings[col], values[col])[keep]
    out["_location"] = np.repeat(where, lengths)[keep]
    out["_raw"] = _raw_json(rows, strings, keep)
    return pd.DataFrame(out)


def _strings(values: list[Any]) -> pa.Array | None:
    """The wire strings as an Arrow array, or None when some value is not a string (or null)."""
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return None


def _numbers(strings: pa.Array | None, values: list[Any]) -> np.ndarray:
    """float64 when every value parses; otherwise the raw values (object) for validation to judge.

    Fast path: all present and finite, parsed by Arrow. Anything else keeps the rule of pandas'
    parser: floats (NaN for nulls) when every present value parses, else the raw values.
    """
    if strings is not None and strings.null_count == 0:
        try:
            parsed = pc.cast(strings, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            parsed = None
        if parsed is not None and bool(np.isfinite(parsed).all()):
            return parsed
    raw = pd.Series(values, dtype=object)
    num = pd.to_numeric(raw, errors="coerce")
    if bool((num.isna() & raw.notna()).any()):
        return raw.to_numpy(dtype=object)
    return num.to_numpy(dtype=np.float64, na_value=np.nan)


def _raw_json(rows: list[Mapping[str, Any]], strings: dict[str, pa.Array | None], keep: np.ndarray) -> Any:
    """`_raw` of the kept rows: each wire row as `json.dumps(row, sort_keys=True, separators=(",", ":"))`.

    Rows of the usual shape (the six keys, plain ASCII strings) are formatted by Arrow, column-wise;
    any other row goes through `json.dumps`. The text is the same either way, so quarantine row ids
    (a hash of it) do not depend on the path taken.
    """
    arrays = [strings[key] for key in _WIRE_KEYS]
    if any(a is None for a in arrays):  # a value that is not a string: every row through json.dumps
        return np.array([_dumps(r) for r, k in zip(rows, keep) if k], dtype=object)
    pieces: list[Any] = []
    for i, (key, a) in enumerate(zip(_WIRE_KEYS, arrays)):
        pieces += [('{"' if i == 0 else '","') + key + '":"', a]
    text = pc.binary_join_element_wise(*pieces, '"}', "")
    odd = np.zeros(len(rows), dtype=bool)
    for a in arrays:  # nulls, quotes, backslashes, control or non-ASCII characters need json.dumps
        odd |= ~pc.fill_null(pc.match_substring_regex(a, _JSON_PLAIN), False).to_numpy(zero_copy_only=False)
    if odd.any() or sum(map(len, rows)) != len(_WIRE_KEYS) * len(rows):  # keys missing or extra somewhere
        odd |= np.fromiter((len(r) != len(_WIRE_KEYS) for r in rows), dtype=bool, count=len(rows))
    if not odd.any():
        return pd.Series(pd.arrays.ArrowExtensionArray(text.filter(pa.array(keep))))
    out = np.array(text.to_pylist(), dtype=object)
    for i in np.flatnonzero(odd).tolist():
        out[i] = _dumps(rows[i])
    return out[keep]


def _dumps(row: Mapping[str, Any]) -> str:
    return json.dumps(row, separators=(",", ":"), sort_keys=True)


def _batch_times(stamps: list[Any], zones: list[str], lengths: np.ndarray,
                 table: TableSpec) -> tuple[np.ndarray, np.ndarray]:
    """(open, end) UTC of every row, one call per exchange zone (symbol `i` has `lengths[i]` rows)."""
    if len(set(zones)) == 1:
        return _to_utc(stamps, table, zones[0], lengths=lengths)
    open_utc = np.full(len(stamps), np.datetime64("NaT"), dtype="datetime64[us]")
    end_utc = open_utc.copy()
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for tz in dict.fromkeys(zones):
        segs = [i for i, z in enumerate(zones) if z == tz]
        pos = np.concatenate([np.arange(starts[i], starts[i] + lengths[i]) for i in segs])
        open_utc[pos], end_utc[pos] = _to_utc([stamps[j] for j in pos], table, tz, lengths=lengths[segs])
    return open_utc, end_utc


def _to_utc(stamps: list[Any], table: TableSpec, tz: str, *,
            lengths: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(open, end) in UTC (naive datetime64[us], NaT where unknown) for wall-time strings in zone `tz`.

    `stamps` hold one or more symbols' bars, each oldest first; `lengths` says where each symbol's
    run ends (DST overlaps are inferred within a symbol's sequence, never across symbols).
    """
    parsed = _parse_wall(stamps, tz)
    runs = lengths if lengths is not None else np.array([len(stamps)])
    if table.timeframe == "daily":
        day = parsed.astype("datetime64[D]").astype("datetime64[us]")
        if table.asset == "stocks":
            open_local, end_local = day + _delta(STOCK_SESSION_OPEN), day + _delta(STOCK_SESSION_CLOSE)
        else:
            open_local, end_local = day, day + np.timedelta64(1, "D")
        return _localize(open_local, tz, runs), _localize(end_local, tz, runs)
    open_utc = _localize(parsed, tz, runs)
    return open_utc, open_utc + np.timedelta64(int(table.bar_seconds), "s")


def _parse_wall(stamps: list[Any], tz: str) -> np.ndarray:
    """Wall-time strings -> naive datetime64[us] (NaT where they do not parse)."""
    strings = _strings(stamps)
    if strings is not None:
        for fmt in _WALL_FORMATS:  # the vendor's two formats, parsed by Arrow
            parsed = pc.strptime(strings, format=fmt, unit="us", error_is_null=True)
            if parsed.null_count == strings.null_count:
                return parsed.to_numpy(zero_copy_only=False).astype("datetime64[us]")
    # anything else (mixed formats, garbage): pandas' forgiving parser, unparseable -> NaT
    text = pd.Series(stamps, dtype=object)
    try:
        values = pd.to_datetime(text, errors="coerce", format="mixed")
    except ValueError:  # stamps with different UTC offsets
        values = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
    if isinstance(values.dtype, pd.DatetimeTZDtype):  # a stamp with an offset names an instant
        values = values.dt.tz_convert(tz).dt.tz_localize(None)
    return values.to_numpy(dtype="datetime64[us]")


def _localize(local: np.ndarray, tz: str, lengths: np.ndarray) -> np.ndarray:
    """Wall times in `tz` (runs of one symbol each, oldest first) -> naive UTC datetime64[us]."""
    if tz.upper() == "UTC":
        return local.astype("datetime64[us]")
    try:  # one call for the whole batch when no wall time falls in a DST gap or overlap
        utc = pd.DatetimeIndex(local).tz_localize(tz, ambiguous="raise", nonexistent="raise")
    except ValueError:  # some do: resolve them per symbol, from the order of its bars
        bounds = np.cumsum(lengths)[:-1]
        utc = pd.DatetimeIndex(np.concatenate(
            [_localize_run(run, tz) for run in np.split(local, bounds)])).tz_localize("UTC")
    return utc.tz_convert("UTC").tz_localize(None).as_unit("us").to_numpy()


def _localize_run(local: np.ndarray, tz: str) -> np.ndarray:
    """One symbol's wall times (oldest first) -> naive UTC; the DST overlap inferred from the order."""
    asc = pd.Series(pd.DatetimeIndex(local))
    try:
        utc = asc.dt.tz_localize(tz, ambiguous="infer", nonexistent="NaT")
    except (ValueError, TypeError):  # cannot infer (e.g. a lone ambiguous bar): leave those NaT
        utc = asc.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    return utc.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")


def _delta(t: time) -> np.timedelta64:
    return np.timedelta64(t.hour * 60 + t.minute, "m")


def series_metadata(series: WireSeries, table: TableSpec, *, symbol: str) -> dict[str, Any]:
    """Metadata columns the time-series `meta` knows."""
    m = series.meta
    kind = (m.type or "").lower()
    asset_type = "crypto" if table.asset == "crypto" or "digital" in kind else (
        "etf" if "etf" in kind or "fund" in kind else "stock"
    )
    return {
        "symbol": symbol,
        "asset_type": asset_type,
        "exchange": m.exchange,
        "mic_code": m.mic_code,
        "currency": m.currency or m.currency_quote,
        "exchange_timezone": exchange_zone(m, table),
    }


def earliest_to_utc(stamp: str, table: TableSpec, tz: str) -> pd.Timestamp | None:
    """`/earliest_timestamp`'s `datetime` (wall time in `tz`) as the UTC open of that bar, like the bars."""
    open_utc, _ = _to_utc([stamp], table, tz)
    value = open_utc[0]
    return None if np.isnat(value) else pd.Timestamp(value).tz_localize("UTC")


def local_wall_time(ts: datetime, tz: str, *, date_only: bool) -> str:
    """A UTC instant as the vendor's wall-time parameter (`start_date`/`end_date` are exchange-local)."""
    local = pd.Timestamp(ts).tz_convert(tz)
    return local.strftime("%Y-%m-%d") if date_only else local.strftime("%Y-%m-%d %H:%M:%S")


def bars_span(table: TableSpec, n_bars: int) -> timedelta:
    """Calendar time covered by `n_bars` bars (stocks trade ~6.5 h on 252 of 365 days)."""
    per_day = table.bars_per_year / 365.0
    return timedelta(days=n_bars / per_day)


__all__ = ["bars_span", "batch_to_bars", "earliest_to_utc", "exchange_zone", "local_wall_time", "series_metadata", "series_to_bars"]
