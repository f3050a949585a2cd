"""The toy vendor's client, fetch interface and registry entry: everything `marketlake` needs to ingest from it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx
import pandas as pd
from pydantic import BaseModel, ConfigDict

from marketlake.config import MarketlakeConfig
from marketlake.schema import TableSpec
from marketlake.sources.budget import CreditBudget, PlanLimits, UsageStore
from marketlake.sources.registry import register_vendor, unregister_vendor
from marketlake.sources.vendor import (
    BarPage,
    Direction,
    EstimateJob,
    FloorBook,
    SymbolError,
    Vendor,
    bars_between,
)

PAGE = 40  # bars per request: small, so a backfill pages


class ToyConfig(BaseModel):
    """`[toy]` in marketlake.toml."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    base_url: str = "http://127.0.0.1:9"
    credits_per_minute: int = 600


class ToyClient:
    """One credit per request, charged to the shared budget before it is sent."""

    def __init__(self, base_url: str, budget: CreditBudget) -> None:
        self.budget = budget
        self.requests_sent = 0
        self._http = httpx.Client(base_url=base_url, timeout=10.0)

    def bars(self, symbol: str, *, start: int, end: int) -> tuple[int, dict[str, Any]]:
        self.budget.acquire(1)
        resp = self._http.get("/v1/bars", params={"symbol": symbol, "from": start, "to": end, "limit": PAGE})
        self.requests_sent += 1
        return resp.status_code, resp.json()

    def close(self) -> None:
        self.budget.flush()
        self._http.close()


class ToyFetcher:
    """Forward paging from `start`, one symbol at a time; the forming bar is dropped."""

    name = "toy"
    direction: Direction = "forward"

    def __init__(self, client: ToyClient) -> None:
        self.client = client
        self.budget = client.budget

    @property
    def requests_sent(self) -> int:
        return self.client.requests_sent

    def resolve(self, symbols: Sequence[str]) -> tuple[list[str], dict[str, SymbolError]]:
        return list(dict.fromkeys(symbols)), {}

    def earliest(self, symbols: Sequence[str], table: TableSpec, floors: FloorBook) -> None:
        return None

    def fetch(self, symbols: Sequence[str], table: TableSpec, *, start: datetime | None, end: datetime | None,
              now: Callable[[], datetime], floors: FloorBook, batched: bool = True) -> Iterator[BarPage]:
        lo = int(start.timestamp()) if start else 0
        hi = int(end.timestamp()) if end else 2**40
        for symbol in symbols:
            at = lo
            while True:
                status, body = self.client.bars(symbol, start=at, end=hi)
                if status == 404:
                    yield BarPage((symbol,), _frame(symbol, [], now()),
                                  errors={symbol: SymbolError(f"toy 404: {body.get('error')}", unknown=True)})
                    break
                rows = body["bars"]
                frame = _frame(symbol, rows, now())
                yield BarPage((symbol,), frame, pd.DataFrame({"symbol": [symbol], "exchange": ["TOY"]}),
                              exhausted=frozenset({symbol}) if len(rows) < PAGE else frozenset())
                if len(rows) < PAGE or len(frame) < len(rows):
                    break
                at = rows[-1][0] + 1

    def close(self) -> None:
        self.client.close()


def _frame(symbol: str, rows: list[list[Any]], now: datetime) -> pd.DataFrame:
    """Raw bars (symbol, datetime UTC, open..volume), bars not yet complete at `now` removed."""
    frame = pd.DataFrame(rows, columns=["t", "open", "high", "low", "close", "volume"], dtype="float64")
    frame.insert(0, "datetime", pd.to_datetime(frame.pop("t"), unit="s", utc=True).astype("datetime64[us, UTC]"))
    frame.insert(0, "symbol", pd.Series([symbol] * len(frame), dtype=object))
    complete = frame["datetime"] + pd.Timedelta(days=1) <= pd.Timestamp(now)
    return frame[complete].reset_index(drop=True)


class ToyVendor(Vendor):
    name: ClassVar[str] = "toy"
    config_model = ToyConfig
    assets: ClassVar[frozenset[str]] = frozenset({"crypto"})
    timeframes: ClassVar[frozenset[str]] = frozenset({"daily"})
    env: ClassVar[tuple[tuple[str, str], ...]] = (("TOY_BASE_URL", "base_url"),)
    help: ClassVar[str] = "Load daily bars from the toy vendor."

    def limits(self, config: MarketlakeConfig, options: Mapping[str, Any]) -> PlanLimits:
        return PlanLimits("toy", self.settings(config).credits_per_minute, None, None)

    def make_client(self, config: MarketlakeConfig, options: Mapping[str, Any], *,
                    usage: UsageStore | None = None) -> ToyClient:
        budget = CreditBudget("toy", limits=self.limits(config, options), minute_seconds=config.minute_seconds,
                              usage=usage)
        return ToyClient(self.settings(config).base_url, budget)

    def fetcher(self, client: Any, options: Mapping[str, Any]) -> ToyFetcher:
        return ToyFetcher(client)

    def estimate(self, table: TableSpec, jobs: Sequence[EstimateJob], limits: PlanLimits,
                 options: Mapping[str, Any]) -> tuple[int, int]:
        requests = sum(j.symbols * (bars_between(table, j.start, j.end) // PAGE + 1) for j in jobs)
        return requests, requests


VENDOR = ToyVendor()


def register() -> ToyVendor:
    """What a plug-in's entry point (or its import) does: one call."""
    register_vendor(VENDOR)
    return VENDOR


def unregister() -> None:
    unregister_vendor(VENDOR.name)
