"""Wire series -> raw bars (pure): strings to floats, exchange-local times to UTC, forming bar dropped.

Why here and not in the client: conversion rules are the part most likely to be wrong (DST, date-only
daily bars, the still-forming last bar) and they are pure, so they are tested without a server.

Rules:
- `datetime` is the bar OPEN in the exchange zone (`meta.exchange_timezone`). Intraday bars are
  localized there and converted to UTC; DST gaps/overlaps are resolved by the bar order (ambiguous
  wall times are inferred from the sequence) and anything unresolvable becomes NaT, which validation
  quarantines.
- Stock daily bars (`YYYY-MM-DD`) are stamped at the session open (09:30 exchange time) in UTC, e.g.
  2024-07-03 -> 13:30Z in summer and 14:30Z in winter. Crypto daily bars are stamped 00:00 UTC.
- A bar whose end lies after `now` is still forming and is dropped.
- Prices that do not parse stay as raw strings (object column): validation decides, with the raw row.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd

from marketlake.schema import TableSpec
from marketlake.sources.base import empty_raw_bars
from marketlake.sources.twelvedata.wire import WireMeta, WireSeries

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
STOCK_SESSION_OPEN = time(9, 30)
STOCK_SESSION_CLOSE = time(16, 0)
DEFAULT_STOCK_TZ = "America/New_York"


def exchange_zone(meta: WireMeta, table: TableSpec) -> str:
    """The zone the vendor's wall times are in: meta's, else the asset's default."""
    if meta.exchange_timezone:
        return meta.exchange_timezone
    return "UTC" if table.asset == "crypto" else DEFAULT_STOCK_TZ


def series_to_bars(series: WireSeries, table: TableSpec, *, symbol: str, now: datetime) -> pd.DataFrame:
    """Raw bars (docs/internals.md contract) for one symbol, oldest first, forming bar removed."""
    if not series.values:
        return empty_raw_bars()
    frame = pd.DataFrame.from_records(series.values)
    tz = exchange_zone(series.meta, table)
    stamps = frame["datetime"].astype(object).where(frame["datetime"].notna(), None)
    open_utc, end_utc = _to_utc(stamps, table, tz)
    out = pd.DataFrame({"symbol": pd.Series([symbol] * len(frame), dtype=object), "datetime": open_utc})
    for col in PRICE_COLUMNS:
        out[col] = _numeric(frame[col]) if col in frame else np.nan
    out["_location"] = f"twelvedata /time_series {symbol} {table.vendor_interval}"
    out["_raw"] = [json.dumps(v, separators=(",", ":"), sort_keys=True) for v in series.values]
    now_utc = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now, tz="UTC")
    forming = end_utc > now_utc
    out = out.loc[~forming.to_numpy()]
    out = out.iloc[::-1].reset_index(drop=True)  # the vendor sends newest first
    return out


def _to_utc(stamps: pd.Series, table: TableSpec, tz: str) -> tuple[pd.Series, pd.Series]:
    """(open, end) in UTC for wall-time strings in zone `tz`."""
    parsed = pd.to_datetime(stamps, errors="coerce", format="mixed")
    if table.timeframe == "daily":
        if table.asset == "stocks":
            open_local = parsed.dt.normalize() + _delta(STOCK_SESSION_OPEN)
            end_local = parsed.dt.normalize() + _delta(STOCK_SESSION_CLOSE)
        else:
            open_local = parsed.dt.normalize()
            end_local = open_local + pd.Timedelta(days=1)
        open_utc = _localize(open_local, tz)
        end_utc = _localize(end_local, tz)
    else:
        open_utc = _localize(parsed, tz)
        end_utc = open_utc + pd.Timedelta(seconds=table.bar_seconds)
    return open_utc.astype("datetime64[us, UTC]"), end_utc.astype("datetime64[us, UTC]")


def _localize(local: pd.Series, tz: str) -> pd.Series:
    """Wall times (newest first) -> UTC; the DST overlap is inferred from the order of the bars."""
    if tz.upper() == "UTC":
        return local.dt.tz_localize("UTC")
    asc = local.iloc[::-1]
    try:
        utc = asc.dt.tz_localize(tz, ambiguous="infer", nonexistent="NaT")
    except (ValueError, TypeError):  # cannot infer (e.g. a lone ambiguous bar): leave those NaT
        utc = asc.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    return utc.dt.tz_convert("UTC").iloc[::-1]


def _delta(t: time) -> pd.Timedelta:
    return pd.Timedelta(hours=t.hour, minutes=t.minute)


def _numeric(col: pd.Series) -> pd.Series:
    """float64 when every present value parses; otherwise the raw strings for validation to judge."""
    values = col.astype(object)
    parsed = pd.to_numeric(values, errors="coerce")
    bad = parsed.isna() & values.notna()
    if bool(bad.any()):
        return values
    return parsed.astype("float64")


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
    open_utc, _ = _to_utc(pd.Series([stamp], dtype=object), table, tz)
    value = open_utc.iloc[0]
    return None if pd.isna(value) else pd.Timestamp(value)


def local_wall_time(ts: datetime, tz: str, *, date_only: bool) -> str:
    """A UTC instant as the vendor's wall-time parameter (`start_date`/`end_date` are exchange-local)."""
    local = pd.Timestamp(ts).tz_convert(tz)
    return local.strftime("%Y-%m-%d") if date_only else local.strftime("%Y-%m-%d %H:%M:%S")


def bars_span(table: TableSpec, n_bars: int) -> timedelta:
    """Calendar time covered by `n_bars` bars (stocks trade ~6.5 h on 252 of 365 days)."""
    per_day = table.bars_per_year / 365.0
    return timedelta(days=n_bars / per_day)


__all__ = ["bars_span", "earliest_to_utc", "exchange_zone", "local_wall_time", "series_metadata", "series_to_bars"]
