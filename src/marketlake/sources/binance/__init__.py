"""Binance public klines: a second crypto source (no key), registered as the vendor `binance`.

Files (the same set as every vendor): `client.py` (the only I/O, weight-budgeted), `wire.py` (raw
arrays of strings), `convert.py` (wire -> raw bars), `fetcher.py` (query -> extract -> transform,
forward paging), `symbols.py` (pairs <-> stored names), `config.py` (the `[binance]` model),
`vendor.py` (the registry entry and fetch interface), `source.py` (a `BarSource` view, `make_client`).
Input may be `BTC/USD` or `BTCUSDT`; bars are stored as `BTC/USD` (stablecoin quotes as USD, like
TwelveData's names) unless `keep_vendor_symbols`. Crypto tables only (1m, 1h, 1d).

Attributes are imported lazily (the registry and the config read `config.py`/`vendor.py` only).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from marketlake.sources.binance.client import BinanceClient
    from marketlake.sources.binance.source import BinanceSource, make_client
    from marketlake.sources.binance.wire import WireError

_LAZY = {
    "BinanceClient": "marketlake.sources.binance.client",
    "BinanceSource": "marketlake.sources.binance.source",
    "make_client": "marketlake.sources.binance.source",
    "WireError": "marketlake.sources.binance.wire",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)


__all__ = ["BinanceClient", "BinanceSource", "WireError", "make_client"]
