"""marketlake: a market-data warehouse for AI and algorithmic trading.

Quick start::

    from marketlake import Warehouse
    wh = Warehouse("./warehouse")
    df = wh.read("stocks_daily_clean", symbols=["AAPL"], start="2024-01-01")
    wh.sql("SELECT symbol, avg(rsi_14) FROM stocks_daily_clean GROUP BY symbol")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from marketlake.warehouse import Warehouse


def __getattr__(name: str) -> Any:
    # Lazy import keeps `import marketlake` cheap for the CLI and for `marketlake.features` users.
    if name == "Warehouse":
        from marketlake.warehouse import Warehouse

        return Warehouse
    raise AttributeError(name)


__all__ = ["Warehouse", "__version__"]
