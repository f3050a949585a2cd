"""The six production tables and their contract (tables.md): partitioning, clustering, retention."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Literal

Asset = Literal["stocks", "crypto"]
Timeframe = Literal["daily", "hourly", "1min"]
Partitioning = Literal["month", "day"]

PARTITION_COLUMN = "partition_period"
"""The one storage-only column, and the only one other Delta readers see besides the 97 fields.

It holds the UTC calendar period of `datetime` that a row is filed under: `2024-07` (month) in daily
tables, `2024-07-03` (day) in intraday ones, hence "period". It lives only in the Delta log and in the
folder names (`partition_period=2024-07/`): it is never written into the data files, and our reads never
show it. It must not start with `_`: pyarrow's dataset discovery (and other tools) skip such folders as
hidden, so a plain `pyarrow.dataset` scan of a table found no rows under the old name `_partition`.
"""

LEGACY_PARTITION_COLUMNS: tuple[str, ...] = ("_partition",)
"""Partition column names of older layouts, renamed by `storage.migrate`."""

CLUSTER_COLUMNS: tuple[str, ...] = ("symbol", "sector", "exchange")


@dataclass(frozen=True)
class TableSpec:
    """One production table.

    Attributes:
        name: `{asset}_{timeframe}_clean`.
        asset: `stocks` (stocks and ETFs) or `crypto`.
        timeframe: `daily`, `hourly` or `1min`.
        partitioning: `month` for daily tables, `day` for intraday ones (by the UTC date of `datetime`).
        bar_seconds: length of one bar.
        bars_per_year: annualisation factor of hist_volatility_20 (fields.md).
        retention_days: default rolling window, None to keep everything.
        history_days: how far back a backfill reaches by default (tables.md coverage targets).
        calendar: exchange_calendars name for stock sessions, None for 24/7 crypto.
        default_benchmark: benchmark symbol for rs_benchmark_20 and beta_60.
        vendor_interval: TwelveData `interval` for this timeframe.
    """

    name: str
    asset: Asset
    timeframe: Timeframe
    partitioning: Partitioning
    bar_seconds: int
    bars_per_year: int
    retention_days: int | None
    history_days: int
    calendar: str | None
    default_benchmark: str
    vendor_interval: str

    @property
    def intraday(self) -> bool:
        return self.timeframe != "daily"

    @property
    def bar_interval(self) -> timedelta:
        return timedelta(seconds=self.bar_seconds)

    @property
    def partition_format(self) -> str:
        """strftime format of the partition value for a UTC datetime."""
        return "%Y-%m" if self.partitioning == "month" else "%Y-%m-%d"


_DAY = 86_400


def _spec(asset: Asset, timeframe: Timeframe) -> TableSpec:
    stocks = asset == "stocks"
    bar_seconds = {"daily": _DAY, "hourly": 3_600, "1min": 60}[timeframe]
    per_year = {
        ("stocks", "daily"): 252,
        ("stocks", "hourly"): 252 * 7,
        ("stocks", "1min"): 252 * 390,
        ("crypto", "daily"): 365,
        ("crypto", "hourly"): 365 * 24,
        ("crypto", "1min"): 365 * 1440,
    }[(asset, timeframe)]
    retention = {"daily": None, "hourly": 2 * 365, "1min": 183}[timeframe]
    history = {"daily": 3 * 365 + 7, "hourly": 366, "1min": 183}[timeframe]
    return TableSpec(
        name=f"{asset}_{timeframe}_clean",
        asset=asset,
        timeframe=timeframe,
        partitioning="month" if timeframe == "daily" else "day",
        bar_seconds=bar_seconds,
        bars_per_year=per_year,
        retention_days=retention,
        history_days=history,
        calendar="XNYS" if stocks else None,
        default_benchmark="SPY" if stocks else "BTC/USD",
        vendor_interval={"daily": "1day", "hourly": "1h", "1min": "1min"}[timeframe],
    )


TABLES: Mapping[str, TableSpec] = MappingProxyType(
    {s.name: s for s in (_spec(a, t) for a in ("stocks", "crypto") for t in ("daily", "hourly", "1min"))}
)
TABLE_NAMES: tuple[str, ...] = tuple(TABLES)


def get_table(name: str) -> TableSpec:
    """The spec of a production table, with an actionable error for a wrong name."""
    try:
        return TABLES[name]
    except KeyError:
        from marketlake.errors import ConfigError

        raise ConfigError(
            f"unknown table {name!r}; production tables are: {', '.join(TABLE_NAMES)}"
        ) from None


__all__ = [
    "CLUSTER_COLUMNS",
    "LEGACY_PARTITION_COLUMNS",
    "PARTITION_COLUMN",
    "TABLES",
    "TABLE_NAMES",
    "TableSpec",
    "get_table",
]
