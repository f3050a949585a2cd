"""The synthetic universe: symbols and their metadata, the same for every seed.

The universe is a fixed, ordered list: the benchmark first (SPY, BTC/USD), then well-known names
(so demos read naturally), then generated tickers. ``stocks=n`` takes the first n, so a larger
universe always contains a smaller one and a symbol's metadata never depends on the universe size.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import pandas as pd

from marketlake.schema import METADATA_COLUMNS

GICS_SECTORS: dict[str, tuple[str, ...]] = {
    "Information Technology": ("Software", "Semiconductors", "Technology Hardware"),
    "Health Care": ("Pharmaceuticals", "Health Care Equipment", "Biotechnology"),
    "Financials": ("Banks", "Capital Markets", "Insurance"),
    "Consumer Discretionary": ("Broadline Retail", "Automobiles", "Hotels, Restaurants & Leisure"),
    "Communication Services": ("Interactive Media & Services", "Entertainment", "Telecommunication Services"),
    "Industrials": ("Aerospace & Defense", "Machinery", "Ground Transportation"),
    "Consumer Staples": ("Beverages", "Household Products", "Consumer Staples Retail"),
    "Energy": ("Oil, Gas & Consumable Fuels", "Energy Equipment & Services"),
    "Utilities": ("Electric Utilities", "Multi-Utilities"),
    "Real Estate": ("Specialized REITs", "Residential REITs"),
    "Materials": ("Chemicals", "Metals & Mining"),
}

# symbol, name, sector, industry, exchange
_KNOWN_STOCKS: tuple[tuple[str, str, str, str, str], ...] = (
    ("AAPL", "Apple Inc.", "Information Technology", "Technology Hardware", "NASDAQ"),
    ("MSFT", "Microsoft Corporation", "Information Technology", "Software", "NASDAQ"),
    ("NVDA", "NVIDIA Corporation", "Information Technology", "Semiconductors", "NASDAQ"),
    ("JNJ", "Johnson & Johnson", "Health Care", "Pharmaceuticals", "NYSE"),
    ("UNH", "UnitedHealth Group Incorporated", "Health Care", "Health Care Providers & Services", "NYSE"),
    ("AMGN", "Amgen Inc.", "Health Care", "Biotechnology", "NASDAQ"),
    ("JPM", "JPMorgan Chase & Co.", "Financials", "Banks", "NYSE"),
    ("GS", "The Goldman Sachs Group, Inc.", "Financials", "Capital Markets", "NYSE"),
    ("AMZN", "Amazon.com, Inc.", "Consumer Discretionary", "Broadline Retail", "NASDAQ"),
    ("TSLA", "Tesla, Inc.", "Consumer Discretionary", "Automobiles", "NASDAQ"),
    ("GOOGL", "Alphabet Inc.", "Communication Services", "Interactive Media & Services", "NASDAQ"),
    ("DIS", "The Walt Disney Company", "Communication Services", "Entertainment", "NYSE"),
    ("CAT", "Caterpillar Inc.", "Industrials", "Machinery", "NYSE"),
    ("BA", "The Boeing Company", "Industrials", "Aerospace & Defense", "NYSE"),
    ("KO", "The Coca-Cola Company", "Consumer Staples", "Beverages", "NYSE"),
    ("PG", "The Procter & Gamble Company", "Consumer Staples", "Household Products", "NYSE"),
    ("XOM", "Exxon Mobil Corporation", "Energy", "Oil, Gas & Consumable Fuels", "NYSE"),
    ("CVX", "Chevron Corporation", "Energy", "Oil, Gas & Consumable Fuels", "NYSE"),
    ("NEE", "NextEra Energy, Inc.", "Utilities", "Electric Utilities", "NYSE"),
    ("DUK", "Duke Energy Corporation", "Utilities", "Electric Utilities", "NYSE"),
    ("PLD", "Prologis, Inc.", "Real Estate", "Industrial REITs", "NYSE"),
    ("AMT", "American Tower Corporation", "Real Estate", "Specialized REITs", "NYSE"),
    ("LIN", "Linde plc", "Materials", "Chemicals", "NASDAQ"),
    ("NEM", "Newmont Corporation", "Materials", "Metals & Mining", "NYSE"),
)

CRYPTO_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Currency": ("Store of Value", "Payments"),
    "Smart Contract Platform": ("Layer 1", "Layer 2"),
    "Decentralized Finance": ("Lending", "Exchange"),
    "Exchange Token": ("Centralized Exchange",),
    "Meme": ("Meme",),
}

_KNOWN_CRYPTO: tuple[tuple[str, str, str, str], ...] = (
    ("BTC/USD", "Bitcoin", "Currency", "Store of Value"),
    ("ETH/USD", "Ethereum", "Smart Contract Platform", "Layer 1"),
    ("SOL/USD", "Solana", "Smart Contract Platform", "Layer 1"),
    ("XRP/USD", "XRP", "Currency", "Payments"),
    ("BNB/USD", "BNB", "Exchange Token", "Centralized Exchange"),
    ("ADA/USD", "Cardano", "Smart Contract Platform", "Layer 1"),
    ("DOGE/USD", "Dogecoin", "Meme", "Meme"),
    ("LTC/USD", "Litecoin", "Currency", "Payments"),
    ("AVAX/USD", "Avalanche", "Smart Contract Platform", "Layer 1"),
    ("LINK/USD", "Chainlink", "Decentralized Finance", "Oracle"),
    ("UNI/USD", "Uniswap", "Decentralized Finance", "Exchange"),
    ("AAVE/USD", "Aave", "Decentralized Finance", "Lending"),
    ("ARB/USD", "Arbitrum", "Smart Contract Platform", "Layer 2"),
)

_MIC = {"NASDAQ": "XNAS", "NYSE": "XNYS"}
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big")


def _ticker(i: int, length: int, taken: set[str]) -> str:
    """A deterministic pseudo-ticker for generated symbol `i` (no collision with `taken`)."""
    salt = 0
    while True:
        h = _digest(f"ticker:{i}:{salt}")
        t = "".join(_LETTERS[(h >> (5 * k)) % 26] for k in range(length))
        if t not in taken:
            return t
        salt += 1


@lru_cache(maxsize=8)
def stock_universe(n: int) -> pd.DataFrame:
    """The first `n` stock symbols (SPY first) with `symbol` + METADATA_COLUMNS."""
    rows: list[tuple[str, str, str, str, str | None, str | None]] = [
        ("SPY", "SPDR S&P 500 ETF Trust", "etf", "NYSE", None, None)
    ]
    rows += [(s, name, "stock", ex, sec, ind) for s, name, sec, ind, ex in _KNOWN_STOCKS]
    taken = {r[0] for r in rows}
    sectors = list(GICS_SECTORS)
    i = 0
    while len(rows) < n:
        t = _ticker(i, 3 + (_digest(f"len:{i}") % 2), taken)
        taken.add(t)
        sec = sectors[i % len(sectors)]
        inds = GICS_SECTORS[sec]
        ind = inds[_digest(f"ind:{t}") % len(inds)]
        ex = "NASDAQ" if _digest(f"ex:{t}") % 2 else "NYSE"
        rows.append((t, f"{t.title()} Synthetic Corp.", "stock", ex, sec, ind))
        i += 1
    rows = rows[:n]
    frame = pd.DataFrame(rows, columns=["symbol", "name", "asset_type", "exchange", "sector", "industry"])
    frame["mic_code"] = frame["exchange"].map(_MIC)
    frame["currency"] = "USD"
    frame["country"] = "United States"
    frame["exchange_timezone"] = "America/New_York"
    return frame[["symbol", *METADATA_COLUMNS]]


@lru_cache(maxsize=8)
def crypto_universe(n: int) -> pd.DataFrame:
    """The first `n` crypto pairs (BTC/USD first) with `symbol` + METADATA_COLUMNS."""
    rows = [(s, name, cat, sub) for s, name, cat, sub in _KNOWN_CRYPTO]
    taken = {r[0].split("/")[0] for r in rows}
    cats = list(CRYPTO_CATEGORIES)
    i = 0
    while len(rows) < n:
        base = _ticker(10_000 + i, 3 + (_digest(f"clen:{i}") % 2), taken)
        taken.add(base)
        cat = cats[i % len(cats)]
        subs = CRYPTO_CATEGORIES[cat]
        rows.append((f"{base}/USD", f"{base.title()} Token", cat, subs[_digest(base) % len(subs)]))
        i += 1
    rows = rows[:n]
    frame = pd.DataFrame(rows, columns=["symbol", "name", "sector", "industry"])
    frame["asset_type"] = "crypto"
    frame["exchange"] = "Synthetic"
    frame["mic_code"] = None
    frame["currency"] = "USD"
    frame["country"] = None
    frame["exchange_timezone"] = "UTC"
    return frame[["symbol", *METADATA_COLUMNS]]


__all__ = ["CRYPTO_CATEGORIES", "GICS_SECTORS", "crypto_universe", "stock_universe"]
