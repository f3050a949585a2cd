"""Binance pairs <-> the names stored in the crypto tables.

Why a mapping: the crypto tables, the symbol master and the default crypto benchmark use
TwelveData-style names (`BTC/USD`), while Binance trades `BTCUSDT`. Storing Binance's raw pair would
split one asset into two symbols and leave the benchmark (`BTC/USD`) without Binance bars. So, by
default, a pair is stored as `BASE/QUOTE`, and a stablecoin quote (USDT, USDC, FDUSD, BUSD) is stored
as `USD`: those coins track the dollar closely and are where Binance's liquidity is; the small basis
between them and USD is ignored. Other quotes are kept (`ETHBTC` -> `ETH/BTC`, `BTCEUR` -> `BTC/EUR`).
`keep_vendor_symbols=True` stores the raw pair (`BTCUSDT`) instead.

Input may be either form:
- `BASE/QUOTE` (`BTC/USD`, `ETH/USDT`): the pair sent to Binance is BASE + QUOTE, with `USD` sent as
  `USDT` (Binance's spot market has no USD quote). No request is needed.
- a raw pair (`BTCUSDT`): base and quote come from Binance's own `/api/v3/exchangeInfo`
  (`baseAsset`/`quoteAsset`, one request of weight 20 for all of them), so no suffix guessing: a pair
  Binance does not list comes back as an invalid symbol (-1121) and is reported, not stored.
Two different pairs that would be stored under one name (`BTCUSDT` and `BTCUSDC` -> `BTC/USD`) are
refused with a `ConfigError`: pick one, or keep the vendor's symbols.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from marketlake.errors import ConfigError
from marketlake.sources.binance.client import BinanceClient
from marketlake.sources.binance.wire import INVALID_SYMBOL, WireError, WireSymbol

STABLECOIN_QUOTES = frozenset({"USDT", "USDC", "FDUSD", "BUSD"})
"""Quotes stored as USD."""
USD_QUOTE_SENT = "USDT"
"""What a `/USD` input is asked as: Binance spot has no USD quote; USDT is its deepest dollar market."""


@dataclass(frozen=True)
class Pair:
    """One Binance market and the name its bars are stored under."""

    symbol: str  # stored name: `BTC/USD` (or `BTCUSDT` when the vendor's symbols are kept)
    pair: str  # what Binance is asked for: `BTCUSDT`
    base: str | None = None
    quote: str | None = None  # Binance's quote asset (`USDT`)

    @property
    def stored_quote(self) -> str | None:
        """The quote currency the stored name states (`USD` for a stablecoin quote)."""
        if self.quote is None:
            return None
        return "USD" if self.quote in STABLECOIN_QUOTES else self.quote


def stored_name(base: str, quote: str, *, keep_vendor_symbols: bool = False) -> str:
    """`BTC`, `USDT` -> `BTC/USD` (or `BTCUSDT` when keeping the vendor's symbols)."""
    if keep_vendor_symbols:
        return f"{base}{quote}"
    return f"{base}/{'USD' if quote in STABLECOIN_QUOTES else quote}"


def resolve_pairs(
    client: BinanceClient, names: Sequence[str], *, keep_vendor_symbols: bool = False
) -> tuple[dict[str, Pair], dict[str, WireError]]:
    """Each name's pair (Binance market and stored name); names Binance does not list, with their error.

    Raises:
        ConfigError: a name is malformed, or two pairs would be stored under the same name.
    """
    pairs: dict[str, Pair] = {}
    invalid: dict[str, WireError] = {}
    raw: list[str] = []
    for name in dict.fromkeys(names):
        text = name.strip().upper()
        if "/" in text:
            base, _, quote = text.partition("/")
            if not base or not quote or "/" in quote:
                raise ConfigError(f"binance: {name!r} is not BASE/QUOTE (e.g. BTC/USD) nor a pair (e.g. BTCUSDT)")
            sent = base + (USD_QUOTE_SENT if quote == "USD" else quote)
            traded = USD_QUOTE_SENT if quote == "USD" else quote
            pairs[name] = Pair(stored_name(base, traded, keep_vendor_symbols=keep_vendor_symbols), sent, base, traded)
        elif not text.isalnum():
            raise ConfigError(f"binance: {name!r} is not BASE/QUOTE (e.g. BTC/USD) nor a pair (e.g. BTCUSDT)")
        else:
            raw.append(name)
    if raw:
        info = _exchange_info(client, [n.strip().upper() for n in raw])
        for name in raw:
            found = info.get(name.strip().upper())
            if found is None:
                invalid[name] = WireError(INVALID_SYMBOL, "Invalid symbol.")
                continue
            pairs[name] = Pair(stored_name(found.base_asset, found.quote_asset, keep_vendor_symbols=keep_vendor_symbols),
                               found.symbol, found.base_asset, found.quote_asset)
    _refuse_collisions(pairs)
    return pairs, invalid


def _exchange_info(client: BinanceClient, symbols: list[str]) -> dict[str, WireSymbol]:
    """`exchangeInfo` for `symbols`; when Binance refuses the list (one is unknown), the full list."""
    answer = client.exchange_info(symbols)
    if isinstance(answer, WireError) and answer.code == INVALID_SYMBOL:
        answer = client.exchange_info(None)
    if isinstance(answer, WireError):
        raise ConfigError(f"binance: exchangeInfo failed ({answer.code}: {answer.msg}); pass pairs as "
                          "BASE/QUOTE (e.g. BTC/USD) to skip the lookup")
    return {s.symbol: s for s in answer}


def _refuse_collisions(pairs: dict[str, Pair]) -> None:
    by_name: dict[str, set[str]] = {}
    for p in pairs.values():
        by_name.setdefault(p.symbol, set()).add(p.pair)
    clash = {name: sorted(sent) for name, sent in by_name.items() if len(sent) > 1}
    if clash:
        first, sent = next(iter(clash.items()))
        raise ConfigError(f"binance: {' and '.join(sent)} would both be stored as {first} (stablecoin quotes are "
                          "stored as USD); pass one of them, or use --keep-vendor-symbols")


__all__ = ["STABLECOIN_QUOTES", "USD_QUOTE_SENT", "Pair", "resolve_pairs", "stored_name"]
