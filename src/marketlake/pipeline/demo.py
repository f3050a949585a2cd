"""The demo warehouse: a synthetic market across all six tables, sized to build in a few minutes offline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from marketlake.pipeline.ingest import ingest_source
from marketlake.pipeline.report import LoadReport
from marketlake.schema import TABLES
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore


@dataclass(frozen=True)
class DemoTier:
    """How many symbols of each asset a table gets, and how many days of history."""

    stocks: int
    crypto: int
    days: int


DEFAULT_TIERS: dict[str, DemoTier] = {
    "daily": DemoTier(stocks=100, crypto=20, days=3 * 365),
    "hourly": DemoTier(stocks=25, crypto=8, days=182),
    "1min": DemoTier(stocks=10, crypto=4, days=28),
}


def demo_end(today: date | None = None) -> datetime:
    """End of the demo window: the start of today (UTC), so re-runs on one day load identical bars."""
    day = today or datetime.now(UTC).date()
    return datetime.combine(day, time(0), tzinfo=UTC)


def build_demo(
    root: str | Path,
    *,
    tiers: dict[str, DemoTier] | None = None,
    seed: int = 42,
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
    on_table: Callable[[LoadReport], None] | None = None,
) -> list[LoadReport]:
    """Build (or refresh) the demo warehouse; idempotent for a given day and seed.

    `progress` receives stage messages, `on_table` each table's report as soon as it is loaded.
    """
    tiers = tiers or DEFAULT_TIERS
    n_stocks = max(t.stocks for t in tiers.values())
    n_crypto = max(t.crypto for t in tiers.values())
    source = get_source("synthetic", stocks=n_stocks, crypto=n_crypto, seed=seed)
    meta = source.metadata()
    store = DeltaStore(root)
    end = demo_end(today)
    reports: list[LoadReport] = []
    with store.writer_lock():
        for spec in TABLES.values():
            tier = tiers[spec.timeframe]
            count = tier.stocks if spec.asset == "stocks" else tier.crypto
            if count <= 0:
                continue
            asset_types = ("crypto",) if spec.asset == "crypto" else ("stock", "etf")
            pool = meta.loc[meta["asset_type"].isin(asset_types), "symbol"].tolist()
            bench = spec.default_benchmark
            chosen = ([bench] if bench in pool else []) + [s for s in pool if s != bench]
            chosen = chosen[:count]
            if progress:
                progress(f"{spec.name}: {len(chosen)} symbols, {tier.days} days")
            done = ingest_source(
                store, source, [spec], symbols=chosen, start=end - timedelta(days=tier.days), end=end,
                progress=progress,
            )
            reports += done
            if on_table:
                for report in done:
                    on_table(report)
    return reports


__all__ = ["DEFAULT_TIERS", "DemoTier", "build_demo", "demo_end"]
