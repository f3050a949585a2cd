"""TwelveData's registry entry and fetch interface: the only place its paging, batching and costs meet the verb.

Paging is backwards (newest first, `fetch_window`), up to `MAX_BATCH` symbols per `/time_series`
request (one credit per symbol), `MAX_OUTPUTSIZE` bars per page; a symbol needing an older page gets its
earliest bar from `/earliest_timestamp` (one credit, asked once: the verb persists it in `ingest_state`).
Light to import: the client and the fetcher load when a client is made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from marketlake.sources.budget import PlanLimits, plan_limits
from marketlake.sources.redact import redact
from marketlake.sources.twelvedata.config import TwelveDataConfig
from marketlake.sources.vendor import (
    BarPage,
    CliOption,
    Direction,
    EstimateJob,
    FloorBook,
    SymbolError,
    Vendor,
    bars_between,
)

if TYPE_CHECKING:
    from marketlake.config import MarketlakeConfig
    from marketlake.schema import TableSpec
    from marketlake.sources.budget import CreditBudget, UsageStore
    from marketlake.sources.twelvedata.client import TwelveDataClient
    from marketlake.sources.twelvedata.wire import WireError

MAX_BATCH = 120  # == client.MAX_BATCH (kept here so dry runs do not import httpx)
MAX_OUTPUTSIZE = 5_000  # == client.MAX_OUTPUTSIZE


def _error(err: WireError) -> SymbolError:
    """A wire error as the verb sees it: 404 is the vendor's "unknown symbol" (deactivate), the rest retry."""
    return SymbolError(redact(f"twelvedata {err.code}: {err.message}")[:300], unknown=err.code == 404)


class TwelveDataFetcher:
    """`sources.vendor.Fetcher` over a `TwelveDataClient`.

    Options: `batch_size` (symbols per request, at most 120 and the plan's per-minute credits),
    `outputsize` (bars per page, at most 5,000), `prefetch` (backfill pages fetched ahead of the one
    being loaded, see `sources.ahead`).
    """

    name = "twelvedata"
    direction: Direction = "backward"

    def __init__(self, client: TwelveDataClient, *, batch_size: int | None = None, outputsize: int = MAX_OUTPUTSIZE,
                 prefetch: int = 1) -> None:
        self.client = client
        self.budget: CreditBudget = client.budget
        self.batch = max(1, min(batch_size or MAX_BATCH, MAX_BATCH, client.budget.per_minute))
        self.outputsize = outputsize
        self.prefetch = prefetch
        self._books: dict[tuple[str, int], Any] = {}  # (table, floor book) -> EarliestBars: asked once per run

    @property
    def requests_sent(self) -> int:
        return self.client.requests_sent

    def resolve(self, symbols: Sequence[str]) -> tuple[list[str], dict[str, SymbolError]]:
        return list(dict.fromkeys(symbols)), {}

    def _earliest(self, table: TableSpec, floors: FloorBook) -> Any:
        from marketlake.sources.twelvedata.fetcher import EarliestBars

        key = (table.name, id(floors))
        if key not in self._books:
            def answered(found: dict[str, pd.Timestamp], errors: dict[str, WireError]) -> None:
                floors.answered(found, {s: _error(e) for s, e in errors.items()})

            self._books[key] = EarliestBars(self.client, table, known=floors.known, on_answer=answered)
        return self._books[key]

    def earliest(self, symbols: Sequence[str], table: TableSpec, floors: FloorBook) -> None:
        self._earliest(table, floors).resolve(list(symbols))

    def fetch(self, symbols: Sequence[str], table: TableSpec, *, start: datetime | None, end: datetime | None,
              now: Callable[[], datetime], floors: FloorBook, batched: bool = True) -> Iterator[BarPage]:
        from marketlake.sources.twelvedata.fetcher import fetch_window

        for result in fetch_window(self.client, list(symbols), table, start=start, end=end, now=now,
                                   batch_size=self.batch, earliest=self._earliest(table, floors),
                                   outputsize=self.outputsize, prefetch=self.prefetch):
            size = result.request.outputsize
            yield BarPage(symbols=tuple(result.request.symbols), bars=result.bars,
                          metadata=result.metadata if len(result.metadata) else None,
                          errors={s: _error(e) for s, e in result.errors.items()},
                          exhausted=frozenset(s for s in result.request.symbols
                                              if s not in result.errors and result.counts.get(s, 0) < size))

    def close(self) -> None:
        self.client.close()


class TwelveDataVendor(Vendor):
    """TwelveData: stocks and crypto, daily/hourly/1-minute, credits per plan (`[twelvedata] plan`)."""

    name: ClassVar[str] = "twelvedata"
    config_model = TwelveDataConfig
    cost_unit: ClassVar[str] = "credits"
    env: ClassVar[tuple[tuple[str, str], ...]] = (("TWELVEDATA_API_KEY", "api_key"),
                                                  ("TWELVEDATA_BASE_URL", "base_url"))
    cli_options: ClassVar[tuple[CliOption, ...]] = (
        CliOption("plan", "--plan", str, None, "basic, grow, pro, ultra, custom (default: config)."),)
    help: ClassVar[str] = "Backfill each symbol to the table's history target, then update from the last stored bar."
    sync_chunk: ClassVar[int] = MAX_BATCH  # one full batch request per backfill page

    def limits(self, config: MarketlakeConfig, options: Mapping[str, Any]) -> PlanLimits:
        td: TwelveDataConfig = self.settings(config)
        return plan_limits(options.get("plan") or td.plan, credits_per_minute=td.credits_per_minute,
                           credits_per_day=td.credits_per_day)

    def make_client(self, config: MarketlakeConfig, options: Mapping[str, Any], *,
                    usage: UsageStore | None = None) -> TwelveDataClient:
        from marketlake.sources.twelvedata.source import make_client

        return make_client(config, plan=options.get("plan"), usage=usage)

    def fetcher(self, client: Any, options: Mapping[str, Any]) -> TwelveDataFetcher:
        return TwelveDataFetcher(client, batch_size=options.get("batch_size"),
                                 outputsize=options.get("outputsize") or MAX_OUTPUTSIZE,
                                 prefetch=options.get("prefetch", 1))

    def bar_source(self, config: MarketlakeConfig, options: Mapping[str, Any]) -> Any:
        from marketlake.sources.twelvedata.source import TwelveDataSource

        return TwelveDataSource(config=config, **options)

    def estimate(self, table: TableSpec, jobs: Sequence[EstimateJob], limits: PlanLimits,
                 options: Mapping[str, Any]) -> tuple[int, int]:
        """One credit per symbol per page; ceil(bars / outputsize) pages; a symbol needing a second page
        and without a known floor costs one more credit (and request) for `/earliest_timestamp`."""
        batch = max(1, min(options.get("batch_size") or MAX_BATCH, MAX_BATCH, limits.credits_per_minute))
        size = options.get("outputsize") or MAX_OUTPUTSIZE
        requests = credits = 0
        for job in jobs:
            if not job.symbols:
                continue
            n = bars_between(table, job.start, job.end) + (1 if job.kind in ("update", "window") else 0)
            pages = max(1, -(-n // size))
            floors = job.symbols - job.floors_known if pages > 1 and job.kind != "update" else 0
            requests += -(-job.symbols // batch) * pages + floors
            credits += job.symbols * pages + floors
        return requests, credits


VENDOR = TwelveDataVendor()

__all__ = ["VENDOR", "TwelveDataFetcher", "TwelveDataVendor"]
