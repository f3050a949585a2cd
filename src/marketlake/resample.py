"""Coarser bars from stored ones, aligned to sessions: what `Warehouse.read(..., resample=...)` returns.

Buckets start at the session open, not at the epoch: a stock's 1-hour bars from 1-minute ones start at
09:30, 10:30, ... New York time like the stored hourly table, and its "1d" bar is the session, stamped at
the open like the stored daily table; crypto sessions are UTC days. A bucket's bar is
open = first open, high = max, low = min, close = last close, volume = sum, over the stored bars in it
(a bucket cut short by the close, an early close or missing bars covers what is there, as every peer does).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from marketlake.errors import ConfigError
from marketlake.schema import TableSpec
from marketlake.validate.grid import sessions

RESAMPLE_COLUMNS = ("symbol", "datetime", "open", "high", "low", "close", "volume")
_NS = 1_000_000_000
_DAY_NS = 86_400 * _NS
_UNITS = {"min": 60 * _NS, "m": 60 * _NS, "h": 3_600 * _NS, "d": _DAY_NS}
_RULE = re.compile(r"^\s*(\d*)\s*(min|m|h|d)\s*$", re.IGNORECASE)


def rule_ns(rule: str, spec: TableSpec) -> int:
    """The bucket length of `rule` (`5min`, `15min`, `1h`, `1d`, ...) in ns, checked against `spec`'s bars."""
    match = _RULE.match(rule)
    if match is None:
        raise ConfigError(f"resample rule {rule!r} is not understood; use e.g. '5min', '15min', '1h' or '1d'")
    count = int(match.group(1) or 1)
    step = count * _UNITS[match.group(2).lower()]
    base = int(spec.bar_seconds) * _NS
    if step > _DAY_NS:
        raise ConfigError(f"resample rule {rule!r} is longer than a day; the coarsest bar is '1d'")
    if step <= base or step % base:
        raise ConfigError(
            f"resample rule {rule!r} must be a multiple of {spec.name}'s {spec.timeframe} bars and coarser "
            f"than them"
        )
    return step


def bucket_starts(ts_ns: np.ndarray, spec: TableSpec, step: int) -> np.ndarray:
    """The start (UTC epoch ns) of the bucket holding each bar: session open + whole steps."""
    if spec.calendar is None:
        opens = ts_ns - ts_ns % _DAY_NS
    else:
        s = sessions(spec.calendar)
        idx = np.maximum(np.searchsorted(s.open_ns, ts_ns, side="right") - 1, 0)
        opens = s.open_ns[idx]
    if step >= _DAY_NS:
        return opens
    return opens + (ts_ns - opens) // step * step


def resample_bars(rows: pa.Table, spec: TableSpec, rule: str) -> pa.Table:
    """Aggregate `rows` (stored bars sorted by symbol, datetime) into session-aligned `rule` bars."""
    step = rule_ns(rule, spec)
    missing = [c for c in RESAMPLE_COLUMNS if c not in rows.column_names]
    if missing:
        raise ConfigError(f"resampling needs the columns {missing}")
    dt_type = rows.schema.field("datetime").type
    if rows.num_rows == 0:
        return rows.select(list(RESAMPLE_COLUMNS))
    micros = rows.column("datetime").combine_chunks().cast(pa.int64()).to_numpy(zero_copy_only=False)
    unit = {"s": _NS, "ms": 1_000_000, "us": 1_000, "ns": 1}[dt_type.unit]
    buckets = bucket_starts(micros * unit, spec, step) // unit
    keyed = rows.select(list(RESAMPLE_COLUMNS[2:])).append_column("symbol", rows.column("symbol"))
    keyed = keyed.append_column("bucket", pa.array(buckets, pa.int64()))
    grouped = keyed.group_by(["symbol", "bucket"], use_threads=False).aggregate(
        [("open", "first"), ("high", "max"), ("low", "min"), ("close", "last"), ("volume", "sum")]
    )
    out = pa.table({
        "symbol": grouped.column("symbol"),
        "datetime": grouped.column("bucket").cast(pa.int64()).cast(dt_type),
        "open": grouped.column("open_first"),
        "high": grouped.column("high_max"),
        "low": grouped.column("low_min"),
        "close": grouped.column("close_last"),
        "volume": grouped.column("volume_sum").cast(rows.schema.field("volume").type),
    })
    return out.sort_by([("symbol", "ascending"), ("datetime", "ascending")])


__all__ = ["RESAMPLE_COLUMNS", "bucket_starts", "resample_bars", "rule_ns"]
