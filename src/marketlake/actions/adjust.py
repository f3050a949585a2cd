"""Factors between the stored convention and the other two price views, and incoming bars' convention.

Stored bars are split-adjusted as of the latest applied split (prices x `from/to` before its date,
volume inversely); dividends are not in stored prices. A bar belongs to the date of its UTC datetime:
a split effective on D rescales every bar whose UTC date is before D (US sessions lie within one UTC
date, so this is the exchange date too). From the stored rows:
- `none` (as traded): prices / F(t), volume * F(t), F(t) = product of the price factors of the applied
  splits after t;
- `total_return`: prices * product over ex-dates d after t of close_d / (close_d + dividend_d), with
  close_d the close of the first bar on or after d and the dividend brought to stored units (x F at
  that bar): the dividend reinvested at that close, so the return into the ex-date bar is
  (close_d + dividend) / previous close (CRSP's holding-period return) and the latest close equals
  the stored one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.actions.records import Action, read_actions
from marketlake.errors import ConfigError
from marketlake.schema import TableSpec
from marketlake.storage import DeltaStore

Adjust = Literal["splits", "none", "total_return"]
ADJUST_MODES: tuple[str, ...] = ("splits", "none", "total_return")
PRICE_COLUMNS = ("open", "high", "low", "close")

RAW_SOURCES: dict[str, tuple[str, ...]] = {"twelvedata": ("daily", "hourly", "1min")}
"""Sources whose bars arrive as traded (unadjusted), per timeframe: the TwelveData client asks every
interval with `adjust=none` (the vendor's default `splits` adjusts daily bars as of the fetch, which no
stored field can tell later: `updated_at` is when a row was last written, not fetched). Every other
source (files, Warehouse.ingest, synthetic, Binance) is taken to be in the stored convention already."""


def applied_splits(actions: Iterable[Action], table: str) -> list[Action]:
    """Confirmed splits whose rescaling is in `table`'s stored bars."""
    return [a for a in actions if a.kind == "split" and a.status == "confirmed"
            and (a.applied_at is not None or a.applied.get(table, {}).get("state") == "done")]


def _days(datetimes: pa.ChunkedArray | pa.Array) -> np.ndarray:
    utc = pc.cast(datetimes, pa.timestamp("us", tz="UTC"))
    return np.asarray(pc.cast(utc, pa.int64()).to_numpy(zero_copy_only=False) // 86_400_000_000, dtype=np.int64)


def _day(value: object) -> int:
    return int((pd.Timestamp(value) - pd.Timestamp("1970-01-01")).days)


def split_factor(symbols: pa.ChunkedArray | pa.Array, datetimes: pa.ChunkedArray | pa.Array,
                 splits: Iterable[Action]) -> np.ndarray:
    """Per row: product of the price factors of `splits` of its symbol effective after its date."""
    days = _days(datetimes)
    out = np.ones(len(days))
    for s in splits:
        mine = np.asarray(pc.equal(symbols, pa.scalar(s.symbol, pa.string())).to_numpy(zero_copy_only=False),
                          dtype=bool)
        out[mine & (days < _day(s.date))] *= s.price_factor
    return out


def _scale(rows: pa.Table, price: np.ndarray, volume: np.ndarray | None) -> pa.Table:
    for name in PRICE_COLUMNS:
        if name in rows.column_names:
            values = rows.column(name).to_numpy(zero_copy_only=False).astype(np.float64) * price
            rows = rows.set_column(rows.column_names.index(name), name,
                                   pa.array(values, rows.schema.field(name).type, from_pandas=True))
    if volume is not None and "volume" in rows.column_names:
        values = rows.column("volume").to_numpy(zero_copy_only=False).astype(np.float64) * volume
        rows = rows.set_column(rows.column_names.index("volume"), "volume",
                               pa.array(values, rows.schema.field("volume").type, from_pandas=True))
    return rows


def dividend_factor(store: DeltaStore, table: str, rows: pa.Table, actions: list[Action]) -> np.ndarray:
    """Per row of `rows`: the total-return factor (1 at and after the last ex-date)."""
    out = np.ones(rows.num_rows)
    dividends = [a for a in actions if a.kind == "dividend" and a.status == "confirmed" and a.amount]
    wanted = sorted({a.symbol for a in dividends} & set(pc.unique(rows.column("symbol")).to_pylist()))
    if not wanted or rows.num_rows == 0:
        return out
    splits = applied_splits(actions, table)
    history = store.read(table, symbols=wanted, columns=["symbol", "datetime", "close"])  # the previous closes
    h_sym = history.column("symbol").to_numpy(zero_copy_only=False)
    h_days = _days(history.column("datetime"))
    h_close = history.column("close").to_numpy(zero_copy_only=False).astype(np.float64)
    h_pf = split_factor(history.column("symbol"), history.column("datetime"), splits)
    r_days = _days(rows.column("datetime"))
    r_sym = rows.column("symbol").to_numpy(zero_copy_only=False)
    for d in dividends:
        if d.symbol not in wanted:
            continue
        ex = _day(d.date)
        mine = (h_sym == d.symbol) & np.isfinite(h_close) & (h_close > 0)
        after = np.flatnonzero(mine & (h_days >= ex))
        if after.size == 0 or not (mine & (h_days < ex)).any():
            continue  # no bar on both sides of the ex-date: nothing to reinvest
        at = after[0]  # history is sorted by (symbol, datetime)
        out[(r_sym == d.symbol) & (r_days < ex)] *= h_close[at] / (h_close[at] + d.amount * h_pf[at])
    return out


def adjust_rows(store: DeltaStore, table: str, rows: pa.Table, adjust: str) -> pa.Table:
    """`rows` (stored convention) in the `adjust` view; only open/high/low/close (and volume for `none`)
    change: the 90 computed fields stay those of the stored, split-adjusted series."""
    if adjust not in ADJUST_MODES:
        raise ConfigError(f"adjust must be one of {', '.join(ADJUST_MODES)}, not {adjust!r}")
    if adjust == "splits" or rows.num_rows == 0 or not store.exists("corporate_actions"):
        return rows
    actions = read_actions(store)
    if adjust == "none":
        f = split_factor(rows.column("symbol"), rows.column("datetime"), applied_splits(actions, table))
        return rows if np.all(f == 1.0) else _scale(rows, 1.0 / f, f)
    f = dividend_factor(store, table, rows, actions)
    return rows if np.all(f == 1.0) else _scale(rows, f, None)


def to_stored_convention(store: DeltaStore, spec: TableSpec, raw: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Incoming raw bars in the stored convention: as-traded bars of a `RAW_SOURCES` source before an
    applied split are rescaled like the stored ones, so they are compared and stored alike."""
    if spec.timeframe not in RAW_SOURCES.get(source, ()) or raw.empty or not store.exists("corporate_actions"):
        return raw
    splits = applied_splits(read_actions(store, kinds=("split",)), spec.name)
    if not splits:
        return raw
    ts = pd.to_datetime(raw["datetime"], utc=True)
    f = split_factor(pa.array(raw["symbol"].astype(str), pa.string()), pa.array(ts), splits)
    if np.all(f == 1.0):
        return raw
    out = raw.copy()
    hit = f != 1.0  # only those rows: a bad value elsewhere still reaches validation (and quarantine) as sent
    for c, k in [*((c, f) for c in PRICE_COLUMNS), ("volume", 1.0 / f)]:
        if pd.api.types.is_numeric_dtype(raw[c]):
            out[c] = raw[c].astype(np.float64) * k
        else:
            out[c] = raw[c].astype(object)
            out.loc[hit, c] = pd.to_numeric(raw.loc[hit, c], errors="coerce") * k[hit]
    return out


__all__ = ["ADJUST_MODES", "Adjust", "RAW_SOURCES", "adjust_rows", "applied_splits", "dividend_factor",
           "split_factor", "to_stored_convention"]
