"""Binance's raw wire schema: `/api/v3/klines` arrays and `/api/v3/exchangeInfo` symbol entries.

Why apart from the converter: Binance sends each kline as a positional array
`[openTime ms, open, high, low, close, volume, closeTime ms, quoteVolume, trades, takerBuyBase,
takerBuyQuote, "0"]` (prices as strings), and errors as `{"code": -1121, "msg": "Invalid symbol."}`.
This module names the positions and parses the envelopes; `convert.py` turns rows into raw bars and
`symbols.py` turns `exchangeInfo` entries (`symbol`, `baseAsset`, `quoteAsset`) into stored names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPEN_TIME_MS, OPEN, HIGH, LOW, CLOSE, VOLUME, CLOSE_TIME_MS = range(7)
KLINE_FIELDS: tuple[str, ...] = (
    "open_time_ms", "open", "high", "low", "close", "volume", "close_time_ms", "quote_volume", "trades",
    "taker_buy_base", "taker_buy_quote", "ignore",
)
INVALID_SYMBOL = -1121


@dataclass(frozen=True)
class WireError:
    """An error body `{"code": -1121, "msg": "Invalid symbol."}` plus the HTTP status it came with."""

    code: int
    msg: str
    status: int = 400

    @classmethod
    def parse(cls, obj: Any, *, status: int) -> WireError:
        if not isinstance(obj, Mapping):
            return cls(code=status, msg="no error body", status=status)
        try:
            code = int(obj.get("code", status))
        except (TypeError, ValueError):
            code = status
        msg = obj.get("msg")
        return cls(code=code, msg=str(msg) if msg is not None else "no message", status=status)

    @property
    def message(self) -> str:
        return self.msg


Kline = list[Any]
"""One kline as sent: ints for the two times and trades, strings for the numbers."""


def is_error(obj: Any) -> bool:
    return isinstance(obj, Mapping) and "code" in obj and "msg" in obj


@dataclass(frozen=True)
class WireSymbol:
    """One `exchangeInfo` entry, the fields we use: `{"symbol": "BTCUSDT", "status": "TRADING",
    "baseAsset": "BTC", "quoteAsset": "USDT", ...}`."""

    symbol: str
    base_asset: str
    quote_asset: str
    status: str | None = None


def parse_exchange_info(obj: Any, *, status: int = 200) -> list[WireSymbol] | WireError:
    """The `exchangeInfo` body (`{"timezone", "serverTime", "rateLimits", "symbols": [...]}`), or its error."""
    if is_error(obj):
        return WireError.parse(obj, status=status)
    if not isinstance(obj, Mapping) or not isinstance(obj.get("symbols"), list):
        return WireError(code=status if status >= 400 else 500, msg="exchangeInfo body has no symbols list",
                         status=status)
    out = []
    for item in obj["symbols"]:
        if isinstance(item, Mapping) and all(isinstance(item.get(k), str) for k in ("symbol", "baseAsset", "quoteAsset")):
            out.append(WireSymbol(item["symbol"], item["baseAsset"], item["quoteAsset"],
                                  item.get("status") if isinstance(item.get("status"), str) else None))
    return out


def parse_klines(obj: Any, *, status: int = 200) -> list[Kline] | WireError:
    """The klines body (a list of arrays), or its error."""
    if is_error(obj):
        return WireError.parse(obj, status=status)
    if not isinstance(obj, list):
        return WireError(code=status if status >= 400 else 500, msg="klines body is not a list", status=status)
    return [row for row in obj if isinstance(row, list) and len(row) > CLOSE_TIME_MS]


__all__ = ["CLOSE", "CLOSE_TIME_MS", "HIGH", "INVALID_SYMBOL", "KLINE_FIELDS", "Kline", "LOW", "OPEN",
           "OPEN_TIME_MS", "VOLUME", "WireError", "WireSymbol", "is_error", "parse_exchange_info", "parse_klines"]
