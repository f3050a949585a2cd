"""What the CSV and Parquet importers share: options and the chunk -> raw bars step."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import pandas as pd

from marketlake.errors import ConfigError
from marketlake.schema import TableSpec
from marketlake.sources.base import RawBatch
from marketlake.sources.files.parse import NUMERIC, parse_datetimes, raw_json, to_numbers
from marketlake.validate.grid import exchange_zone


@dataclass(frozen=True)
class FileOptions:
    """Options of a file import (see CsvSource / ParquetSource)."""

    path: Path
    symbol: str | None
    tz: str | None
    chunk_rows: int
    source: str


class FileSource:
    """What the file sources share: their options and the absence of metadata."""

    name: ClassVar[str]

    def __init__(self, *, path: str | Path, symbol: str | None = None, tz: str | None = None,
                 chunk_rows: int = 200_000) -> None:
        if tz is not None:
            check_zone(tz, path=Path(path))
        self.options = FileOptions(path=Path(path), symbol=symbol, tz=tz, chunk_rows=chunk_rows,
                                   source=self.name)

    def metadata(self, symbols: Sequence[str] | None = None) -> pd.DataFrame:
        """Files carry no metadata: an empty frame with a `symbol` column."""
        return pd.DataFrame({"symbol": pd.Series([], dtype="str")})


def check_zone(tz: str, *, path: Path) -> None:
    """Refuse a zone name the tz database does not know, before any row is read.

    Raises:
        ConfigError: `tz` is not an IANA zone name (names the file: the error is about its import).
    """
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        shown = repr(tz[:64]) if tz.isprintable() else "(with control characters)"
        raise ConfigError(f"{path}: --tz {shown} is not a known time zone; use an IANA name such as "
                          "America/New_York, Europe/London or UTC") from None


def _utc(value: datetime | None) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def finish_chunk(
    chunk: pd.DataFrame,
    mapping: dict[str, str],
    opts: FileOptions,
    table: TableSpec,
    symbols: Sequence[str] | None,
    start: datetime | None,
    end: datetime | None,
    *,
    location: Callable[[pd.Index], pd.Series | pd.Index],
) -> RawBatch | None:
    """Turn one chunk of the file (original headers, raw values) into a RawBatch of raw bars.

    Rows whose datetime cannot be parsed are kept whatever the window (they cannot be placed, and
    validation must see them); rows outside [start, end] or of other symbols are skipped.
    """
    canon = chunk.rename(columns=mapping)
    if "symbol" in mapping.values():
        sym = canon["symbol"].astype(object).where(canon["symbol"].notna(), "").astype(str).str.strip()
        if opts.symbol:
            sym = sym.where(sym != "", opts.symbol)
    else:
        sym = pd.Series([opts.symbol] * len(canon), index=canon.index, dtype=object)
    dt = parse_datetimes(canon["datetime"], table, tz=opts.tz or exchange_zone(table))
    keep = pd.Series(True, index=canon.index)
    if symbols is not None:
        keep &= sym.isin(list(symbols))
    lo, hi = _utc(start), _utc(end)
    if lo is not None:
        keep &= dt.isna() | (dt >= lo)
    if hi is not None:
        keep &= dt.isna() | (dt <= hi)
    if not keep.all():
        chunk, canon, sym, dt = chunk[keep], canon[keep], sym[keep], dt[keep]
    if chunk.empty:
        return None
    bars = pd.DataFrame({"symbol": sym.astype("str"), "datetime": dt})
    for c in NUMERIC:
        bars[c] = to_numbers(canon[c])
    bars["_location"] = pd.Series(location(chunk.index), index=chunk.index).astype(str)
    bars["_raw"] = raw_json(chunk)
    return RawBatch(bars=bars.reset_index(drop=True), metadata=None)


__all__ = ["FileOptions", "finish_chunk"]
