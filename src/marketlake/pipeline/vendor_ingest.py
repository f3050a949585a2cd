"""Deprecated entry points kept for existing callers: `ingest_twelvedata` and `ingest_binance` over a given client.

Both run the one vendor-agnostic algorithm of `pipeline.ingestion` (`ingest_with`) through the fetch
interface the registry gives for the vendor; nothing here knows a vendor's paging, limits or wire
format. New code calls `pipeline.ingestion.ingest(store, source, table, symbols, ...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from marketlake.pipeline.ingestion import (
    PEERS_MARKER,
    RECHECK_INACTIVE_DAYS,
    FetchPlan,
    IngestResult,
    StoreUsage,
    ingest_with,
    mark_active,
    mark_inactive,
    plan_symbols,
    stored_extents,
)
from marketlake.pipeline.window import Window
from marketlake.schema import TableSpec
from marketlake.sources import registry
from marketlake.storage import DeltaStore

PREFETCH = 1
"""Backfill pages fetched ahead of the one being loaded (see `sources.ahead`)."""
Progress = Callable[[str], None]
IngestReport = VendorIngestReport = BinanceIngestReport = IngestResult


def ingest_twelvedata(
    store: DeltaStore,
    table: str | TableSpec,
    symbols: Sequence[str],
    *,
    client: Any,
    now: Callable[[], datetime] | None = None,
    overlap_bars: int = 3,
    batch_size: int | None = None,
    outputsize: int | None = None,
    lock_wait: bool | float | None = None,
    progress: Progress | None = None,
    prefetch: int = PREFETCH,
    recheck_inactive_days: float = RECHECK_INACTIVE_DAYS,
) -> IngestResult:
    """Backfill and update `symbols` in `table` from TwelveData over `client`; safe to kill and re-run."""
    vendor = registry.vendor("twelvedata")
    fetcher = vendor.fetcher(client, {"batch_size": batch_size, "outputsize": outputsize, "prefetch": prefetch})
    return ingest_with(store, fetcher, table, symbols, now=now, overlap_bars=overlap_bars, lock_wait=lock_wait,
                       progress=progress, recheck_inactive_days=recheck_inactive_days, unit=vendor.cost_unit)


def ingest_binance(
    store: DeltaStore,
    table: str | TableSpec,
    symbols: Sequence[str],
    *,
    source: Any,
    start: datetime | None = None,
    end: datetime | None = None,
    overlap_bars: int = 3,
    lock_wait: bool | float | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Load Binance klines over `source.client` (a `BinanceSource`): `start` given loads [start, end],
    else each symbol resumes from its watermark like every vendor."""
    vendor = registry.vendor("binance")
    vendor.check_table(registry_table(table))
    fetcher = vendor.fetcher(source.client, {"keep_vendor_symbols": source.keep_vendor_symbols})
    window = Window(start=start, end=end)
    return ingest_with(store, fetcher, table, symbols, window=window, now=source.now, overlap_bars=overlap_bars,
                       lock_wait=lock_wait, progress=progress, unit=vendor.cost_unit)


def registry_table(table: str | TableSpec) -> TableSpec:
    from marketlake.schema import get_table

    return get_table(table) if isinstance(table, str) else table


__all__ = ["PEERS_MARKER", "PREFETCH", "BinanceIngestReport", "FetchPlan", "IngestReport", "StoreUsage",
           "VendorIngestReport", "ingest_binance", "ingest_twelvedata", "mark_active", "mark_inactive", "plan_symbols",
           "stored_extents"]
