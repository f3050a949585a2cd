"""TwelveData as a `BarSource` (registered as the bar source `twelvedata`), and `make_client`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pandas as pd

from marketlake.config import MarketlakeConfig, load_config
from marketlake.schema import TableSpec
from marketlake.sources.base import RawBatch
from marketlake.sources.budget import Clock, CreditBudget, UsageStore, plan_limits
from marketlake.sources.http import RetryPolicy
from marketlake.sources.registry import register
from marketlake.sources.twelvedata.client import MAX_BATCH, TwelveDataClient
from marketlake.sources.twelvedata.config import TwelveDataConfig
from marketlake.sources.twelvedata.fetcher import EarliestBars, fetch_window
from marketlake.sources.twelvedata.wire import WireError


def make_client(
    config: MarketlakeConfig | None = None,
    *,
    plan: str | None = None,
    clock: Clock | None = None,
    usage: UsageStore | None = None,
    retry: RetryPolicy | None = None,
    timeout_s: float = 30.0,
) -> TwelveDataClient:
    """A client wired from the configuration (key, base URL, plan, vendor-minute length, deadline)."""
    cfg = config or load_config()
    td: TwelveDataConfig = cfg.source_config("twelvedata")
    limits = plan_limits(plan or td.plan, credits_per_minute=td.credits_per_minute,
                         credits_per_day=td.credits_per_day)
    budget = CreditBudget("twelvedata", limits=limits, minute_seconds=cfg.minute_seconds, clock=clock,
                          usage=usage, burst=min(MAX_BATCH, limits.credits_per_minute))
    return TwelveDataClient(api_key=td.api_key, budget=budget, base_url=td.base_url, retry=retry,
                            timeout_s=timeout_s, deadline_s=cfg.request_deadline_s)


@register("twelvedata")
class TwelveDataSource:
    """`BarSource` over TwelveData. Symbols the vendor does not know land in `not_found`.

    Backward paging stops at each symbol's earliest bar (`/earliest_timestamp`, asked only for symbols
    needing more than one page, once per source and table), the same pager `ingest twelvedata` uses.
    """

    name: ClassVar[str] = "twelvedata"

    def __init__(
        self,
        *,
        client: TwelveDataClient | None = None,
        config: MarketlakeConfig | None = None,
        plan: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.client = client or make_client(config, plan=plan)
        self.now = now or (lambda: datetime.now(UTC))
        self.not_found: dict[str, str] = {}
        self.floors: dict[str, EarliestBars] = {}  # table -> earliest bars asked so far (kept per source)

    def fetch(
        self,
        symbols: Sequence[str] | None,
        table: TableSpec,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[RawBatch]:
        if not symbols:
            raise ValueError("twelvedata needs explicit symbols (or a universe resolved by the caller)")
        start = start or (self.now() - timedelta(days=table.history_days))
        batch = min(MAX_BATCH, self.client.budget.per_minute)
        floors = self.floors.setdefault(table.name, EarliestBars(self.client, table))
        for result in fetch_window(self.client, symbols, table, start=start, end=end, now=self.now,
                                   batch_size=batch, earliest=floors):
            for sym, err in result.errors.items():
                self.not_found[sym] = f"{err.code}: {err.message}"
            yield RawBatch(result.bars, result.metadata if len(result.metadata) else None)

    def metadata(self, symbols: Sequence[str] | None = None) -> pd.DataFrame:
        from marketlake.sources.twelvedata.symbols import vendor_metadata

        return vendor_metadata(self.client, symbols)


__all__ = ["TwelveDataClient", "TwelveDataSource", "WireError", "make_client"]
