"""Named symbol lists (universes) and their tiers per table.

Why in config plus built-ins: a user names a list once (`[universes.mine] symbols = [...]` or
`file`/`column` of a reference CSV) and every table reuses it; `tiers` (table -> symbol count) cut a
universe to what the plan can keep fresh (tables.md: daily 2,500 + 150, hourly 500 + 100, 1-minute
100 + 50).

Built-ins: `dow30`, `crypto_top`, `sp500` (the S&P 500 constituents: the copy downloaded by
`marketlake symbols update` if there is one, else the dated snapshot shipped in
`marketlake/data/sp500_constituents.csv`) and `nasdaq100`, a dated list shipped with the package
(`marketlake/data/nasdaq100.csv`, as of 2024-12-23). Each shipped file's header names its source. Index membership changes: a `[universes.<name>]` entry in the config wins over a built-in.
Reference files may carry `#` comment lines before the header row.
"""

from __future__ import annotations

import csv
from importlib.resources import files
from pathlib import Path

from marketlake.config import MarketlakeConfig, UniverseConfig
from marketlake.errors import ConfigError
from marketlake.sources.reference.snapshots import reference_path, snapshot_path

DOW30 = ("AAPL AMGN AMZN AXP BA CAT CRM CSCO CVX DIS GS HD HON IBM JNJ JPM KO MCD MMM MRK MSFT NKE NVDA "
         "PG SHW TRV UNH V VZ WMT").split()
CRYPTO_TOP = ("BTC/USD ETH/USD XRP/USD BNB/USD SOL/USD DOGE/USD ADA/USD TRX/USD AVAX/USD LINK/USD "
              "DOT/USD LTC/USD BCH/USD XLM/USD UNI/USD ATOM/USD ETC/USD FIL/USD APT/USD NEAR/USD").split()
SP500_FILE = str(snapshot_path("sp500"))
"""Package data: the shipped S&P 500 snapshot (a `symbols update` download is preferred at run time)."""
NASDAQ100_FILE = str(files("marketlake") / "data" / "nasdaq100.csv")
"""Package data: Nasdaq-100 constituents as of 2024-12-23 (source and date in the file's header)."""
BUILTIN: dict[str, UniverseConfig] = {
    "dow30": UniverseConfig(symbols=DOW30),
    "crypto_top": UniverseConfig(symbols=CRYPTO_TOP, asset="crypto"),
    "sp500": UniverseConfig(file=SP500_FILE, column="Symbol"),
    "nasdaq100": UniverseConfig(file=NASDAQ100_FILE, column="Symbol"),
}


def resolve_universe(name: str, config: MarketlakeConfig, *, table: str | None = None) -> list[str]:
    """Symbols of universe `name` (config first, then built-ins), cut to the table's tier if set."""
    spec = config.universes.get(name) or BUILTIN.get(name)
    if spec is None:
        known = sorted({*config.universes, *BUILTIN})
        raise ConfigError(f"unknown universe {name!r}; known: {', '.join(known)} (add [universes.{name}] to the config)")
    symbols = list(spec.symbols)
    if spec.file:
        builtin_sp500 = name == "sp500" and name not in config.universes
        path = reference_path("sp500", config.reference.dir) if builtin_sp500 else Path(spec.file).expanduser()
        if not path.is_file():
            raise ConfigError(f"universe {name!r}: file {path} not found")
        with path.open(newline="") as fh:
            column = spec.column or "Symbol"
            rows = csv.DictReader(line for line in fh if not line.startswith("#"))
            if column not in (rows.fieldnames or []):
                raise ConfigError(f"universe {name!r}: file {path} has no column {column!r} "
                                  f"(columns: {', '.join(rows.fieldnames or [])})")
            symbols += [row[column].strip() for row in rows if (row.get(column) or "").strip()]
    symbols = list(dict.fromkeys(symbols))
    tier = config.tiers.get(table) if table else None
    return symbols[:tier] if tier else symbols


__all__ = ["BUILTIN", "NASDAQ100_FILE", "resolve_universe"]
