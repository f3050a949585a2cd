"""Binance's registry entry and fetch interface: its pair names, forward paging and weight meet the verb here.

Paging is forward (oldest first) from `startTime`, up to 1,000 klines per request at weight 2, one pair
at a time; the earliest kline needs no endpoint: the first page from the history target starts at it
(the verb records it). Pairs given as raw names (`BTCUSDT`) are looked up once in `exchangeInfo`
(weight 20) by `resolve`, before the verb takes the writer lock. Light to import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from marketlake.sources.binance.config import BinanceConfig
from marketlake.sources.budget import PlanLimits
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
    from marketlake.sources.binance.client import BinanceClient
    from marketlake.sources.binance.symbols import Pair
    from marketlake.sources.budget import CreditBudget, UsageStore

KLINES_WEIGHT = 2  # == client.KLINES_WEIGHT (dry runs do not import httpx)
MAX_LIMIT = 1000  # == client.MAX_LIMIT
INVALID_SYMBOL = -1121  # == wire.INVALID_SYMBOL


class BinanceFetcher:
    """`sources.vendor.Fetcher` over a `BinanceClient` (option: `keep_vendor_symbols`)."""

    name = "binance"
    direction: Direction = "forward"

    def __init__(self, client: BinanceClient, *, keep_vendor_symbols: bool = False) -> None:
        self.client = client
        self.budget: CreditBudget = client.budget
        self.keep_vendor_symbols = keep_vendor_symbols
        self._pairs: dict[str, Pair] = {}  # input or stored name -> pair
        self._invalid: dict[str, SymbolError] = {}

    @property
    def requests_sent(self) -> int:
        return self.client.requests_sent

    def resolve(self, symbols: Sequence[str]) -> tuple[list[str], dict[str, SymbolError]]:
        """Stored names (`BTC/USD`); raw pairs Binance does not list come back as unknown (-1121)."""
        from marketlake.sources.binance.symbols import resolve_pairs

        new = [s for s in dict.fromkeys(symbols) if s not in self._pairs and s not in self._invalid]
        if new:
            pairs, invalid = resolve_pairs(self.client, new, keep_vendor_symbols=self.keep_vendor_symbols)
            for name, err in invalid.items():
                self._invalid[name] = SymbolError(f"binance {err.code}: {err.msg}", unknown=err.code == INVALID_SYMBOL)
            for name, pair in pairs.items():
                self._pairs[name] = self._pairs[pair.symbol] = pair
        stored = list(dict.fromkeys(self._pairs[s].symbol for s in symbols if s in self._pairs))
        return stored, {s: self._invalid[s] for s in symbols if s in self._invalid}

    def earliest(self, symbols: Sequence[str], table: TableSpec, floors: FloorBook) -> None:
        return None  # no endpoint: the first page from the history target starts at the earliest kline

    def fetch(self, symbols: Sequence[str], table: TableSpec, *, start: datetime | None, end: datetime | None,
              now: Callable[[], datetime], floors: FloorBook, batched: bool = True) -> Iterator[BarPage]:
        from marketlake.sources.binance.fetcher import fetch_symbol

        self.resolve(symbols)
        for name in dict.fromkeys(symbols):
            pair = self._pairs[name]
            for result in fetch_symbol(self.client, pair, table, start=start, end=end, now=now):
                if result.error is not None:
                    err = result.error
                    yield BarPage((pair.symbol,), result.bars, errors={pair.symbol: SymbolError(
                        f"binance {err.code}: {err.msg}", unknown=err.code == INVALID_SYMBOL)})
                    break
                short = result.received < result.query.limit or len(result.bars) < result.received
                yield BarPage((pair.symbol,), result.bars, result.metadata if len(result.metadata) else None,
                              exhausted=frozenset({pair.symbol}) if short else frozenset())

    def close(self) -> None:
        self.client.close()


class BinanceVendor(Vendor):
    """Binance public klines (no key): crypto tables only, request weight per minute."""

    name: ClassVar[str] = "binance"
    config_model = BinanceConfig
    assets: ClassVar[frozenset[str]] = frozenset({"crypto"})
    cost_unit: ClassVar[str] = "weight"
    env: ClassVar[tuple[tuple[str, str], ...]] = (("BINANCE_BASE_URL", "base_url"),)
    cli_options: ClassVar[tuple[CliOption, ...]] = (
        CliOption("keep_vendor_symbols", "--keep-vendor-symbols", bool, False,
                  "Store Binance's pair (BTCUSDT) instead of BTC/USD."),)
    help: ClassVar[str] = (
        "Load Binance public klines (no key); backfill to the history target, then update from the last stored bar.\n\n"
        "Pairs are stored as BASE/QUOTE with stablecoin quotes (USDT, USDC, FDUSD, BUSD) as USD: BTCUSDT and "
        "BTC/USD both become BTC/USD, like TwelveData's crypto symbols.")
    symbols_help: ClassVar[str] = "Comma-separated pairs: BTC/USD,ETH/BTC or BTCUSDT."
    refetchable: ClassVar[bool] = False  # gaps were never re-fetched from Binance (its names may differ)
    sync_chunk: ClassVar[int] = 20  # one pair per request: a short chunk lets updates in between

    def check_table(self, table: TableSpec) -> None:
        from marketlake.errors import ConfigError

        if table.asset != "crypto":
            raise ConfigError(f"binance serves crypto pairs only; {table.name} is a {table.asset} table "
                              "(use a crypto_* table, e.g. crypto_daily_clean)")
        super().check_table(table)

    def limits(self, config: MarketlakeConfig, options: Mapping[str, Any]) -> PlanLimits:
        settings: BinanceConfig = self.settings(config)
        return PlanLimits("binance", settings.weight_per_minute, None, None)

    def make_client(self, config: MarketlakeConfig, options: Mapping[str, Any], *,
                    usage: UsageStore | None = None) -> BinanceClient:
        from marketlake.sources.binance.source import make_client

        return make_client(config)

    def fetcher(self, client: Any, options: Mapping[str, Any]) -> BinanceFetcher:
        return BinanceFetcher(client, keep_vendor_symbols=bool(options.get("keep_vendor_symbols")))

    def bar_source(self, config: MarketlakeConfig, options: Mapping[str, Any]) -> Any:
        from marketlake.sources.binance.source import BinanceSource

        return BinanceSource(config=config, **options)

    def offline_names(self, symbols: Sequence[str], options: Mapping[str, Any]) -> list[str]:
        """Stored names without `exchangeInfo` (a request): BASE/QUOTE as given, raw pairs split on common quotes."""
        from marketlake.sources.binance.symbols import STABLECOIN_QUOTES, stored_name

        def name(raw: str) -> str:
            if "/" in raw or options.get("keep_vendor_symbols"):
                return raw.upper()
            quote = next((q for q in (*sorted(STABLECOIN_QUOTES), "BTC", "ETH", "BNB", "EUR") if
                          raw.upper().endswith(q) and len(raw) > len(q)), None)
            return stored_name(raw.upper()[: -len(quote)], quote) if quote else raw.upper()

        return [name(s) for s in symbols]

    def estimate(self, table: TableSpec, jobs: Sequence[EstimateJob], limits: PlanLimits,
                 options: Mapping[str, Any]) -> tuple[int, int]:
        """Per pair: ceil(klines / 1,000) requests (at least one) of weight 2."""
        requests = 0
        for job in jobs:
            n = bars_between(table, job.start, job.end) + 1
            requests += job.symbols * max(1, -(-n // MAX_LIMIT))
        return requests, requests * KLINES_WEIGHT


VENDOR = BinanceVendor()

__all__ = ["VENDOR", "BinanceFetcher", "BinanceVendor"]
