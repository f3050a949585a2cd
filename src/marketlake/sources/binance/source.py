"""Binance as a `BarSource` (registered as the bar source `binance`), and `make_client`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pandas as pd

from marketlake.config import MarketlakeConfig, load_config
from marketlake.schema import TableSpec
from marketlake.sources.base import RawBatch
from marketlake.sources.binance.client import BinanceClient
from marketlake.sources.binance.config import BinanceConfig
from marketlake.sources.binance.convert import pair_metadata
from marketlake.sources.binance.fetcher import binance_interval, fetch_many
from marketlake.sources.binance.symbols import Pair, resolve_pairs
from marketlake.sources.binance.wire import WireError
from marketlake.sources.budget import Clock, CreditBudget, PlanLimits
from marketlake.sources.http import RetryPolicy
from marketlake.sources.registry import register


def make_client(
    config: MarketlakeConfig | None = None,
    *,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
    timeout_s: float = 30.0,
) -> BinanceClient:
    """A client wired from the configuration (base URL, weight per minute, vendor-minute length, deadline)."""
    cfg = config or load_config()
    settings: BinanceConfig = cfg.source_config("binance")
    limits = PlanLimits("binance", settings.weight_per_minute, None, None)
    budget = CreditBudget("binance", limits=limits, minute_seconds=cfg.minute_seconds, clock=clock)
    return BinanceClient(budget=budget, base_url=settings.base_url, retry=retry, timeout_s=timeout_s,
                         deadline_s=cfg.request_deadline_s)


@register("binance")
class BinanceSource:
    """`BarSource` over Binance klines. Symbols Binance rejects (e.g. -1121) land in `not_found`.

    Args:
        keep_vendor_symbols: store `BTCUSDT` as sent, instead of `BTC/USD` (see `symbols.py`).
    """

    name: ClassVar[str] = "binance"

    def __init__(
        self,
        *,
        client: BinanceClient | None = None,
        config: MarketlakeConfig | None = None,
        now: Callable[[], datetime] | None = None,
        keep_vendor_symbols: bool = False,
    ) -> None:
        self.client = client or make_client(config)
        self.now = now or (lambda: datetime.now(UTC))
        self.keep_vendor_symbols = keep_vendor_symbols
        self.not_found: dict[str, str] = {}
        self._pairs: dict[str, Pair] = {}  # input or stored name -> pair

    def resolve(self, symbols: Sequence[str]) -> list[Pair]:
        """The pairs behind `symbols` (inputs or stored names), asking Binance only for new raw pairs.

        Names Binance does not list go to `not_found` (reason `binance -1121: ...`) and are dropped.
        """
        new = [s for s in dict.fromkeys(symbols) if s not in self._pairs and s not in self.not_found]
        if new:
            pairs, invalid = resolve_pairs(self.client, new, keep_vendor_symbols=self.keep_vendor_symbols)
            for name, err in invalid.items():
                self.not_found[name] = f"binance {err.code}: {err.msg}"
            for name, pair in pairs.items():
                self._pairs[name] = self._pairs[pair.symbol] = pair
        return list(dict.fromkeys(self._pairs[s] for s in symbols if s in self._pairs))

    def fetch(
        self,
        symbols: Sequence[str] | None,
        table: TableSpec,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[RawBatch]:
        binance_interval(table)  # ConfigError for a stocks table, before any request
        if not symbols:
            raise ValueError("binance needs explicit symbols, e.g. BTC/USD,ETHUSDT")
        start = start or (self.now() - timedelta(days=table.history_days))
        for result in fetch_many(self.client, self.resolve(symbols), table, start=start, end=end, now=self.now):
            if result.error is not None:
                self.not_found[result.query.symbol] = f"binance {result.error.code}: {result.error.msg}"
                continue
            yield RawBatch(result.bars, result.metadata)

    def metadata(self, symbols: Sequence[str] | None = None) -> pd.DataFrame:
        return pd.DataFrame([pair_metadata(p) for p in self.resolve(symbols or [])], columns=[
            "symbol", "asset_type", "exchange", "currency", "exchange_timezone"])


__all__ = ["BinanceClient", "BinanceSource", "WireError", "make_client"]
