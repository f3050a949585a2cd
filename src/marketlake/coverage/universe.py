"""A covered table's symbols, from its `universe`: a list, a universe name, a file, or a rule."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from marketlake.config import MarketlakeConfig
from marketlake.coverage.model import UniverseRule
from marketlake.coverage.plan import CoveredTable
from marketlake.errors import ConfigError

if TYPE_CHECKING:
    from marketlake.storage import DeltaStore


US_LISTED = "us_listed"


def us_listed(config: MarketlakeConfig) -> list[str]:
    """The S&P 500 (index order), then the other common stocks of nasdaqlisted and otherlisted, by symbol.

    Why this order: a `limit` (the original design's 2,500 daily stocks) then keeps the large caps and
    fills with the rest of the market; the lists are the downloaded copies (`symbols update`) or the
    shipped snapshots.
    """
    from marketlake.sources.reference.loaders import load_reference
    from marketlake.sources.reference.snapshots import reference_path

    frames = {k: load_reference(reference_path(k, config.reference.dir))
              for k in ("sp500", "nasdaq_listed", "other_listed")}
    head = [str(s) for s in frames["sp500"]["symbol"]]
    rest = sorted({str(s) for k in ("nasdaq_listed", "other_listed") for s, t in
                   zip(frames[k]["symbol"], frames[k]["asset_type"], strict=True) if t == "stock"} - set(head))
    return list(dict.fromkeys(head + rest))


def named_or_file(value: str, config: MarketlakeConfig, *, where: str) -> list[str]:
    """A universe name (config or built-in), else a file: one symbol per line or a CSV with `Symbol`."""
    from marketlake.sources.twelvedata.universes import BUILTIN, resolve_universe

    if value in config.universes or value in BUILTIN:
        return resolve_universe(value, config)
    if value == US_LISTED:
        return us_listed(config)
    path = Path(value).expanduser()
    if not path.is_file():
        known = ", ".join(sorted({*config.universes, *BUILTIN}))
        raise ConfigError(f"{where}: universe {value!r} is neither a universe name ({known}) nor a file")
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    if lines and "," in lines[0]:
        rows = csv.DictReader(lines)
        column = next((c for c in (rows.fieldnames or []) if c.lower() == "symbol"), None)
        if column is None:
            raise ConfigError(f"{where}: {path} has no Symbol column (columns: {', '.join(rows.fieldnames or [])})")
        return list(dict.fromkeys(r[column].strip() for r in rows if (r.get(column) or "").strip()))
    return list(dict.fromkeys(ln.strip() for ln in lines))


def resolve_symbols(covered: CoveredTable, config: MarketlakeConfig, store: DeltaStore | None, *,
                    now: datetime, persist: bool = True) -> list[str]:
    """The symbols `covered` asks for now (a rule is evaluated over `store`; without one it has none)."""
    symbols = _symbols(covered, config, store, now=now, persist=persist)
    limit = covered.config.limit
    return symbols[:limit] if limit else symbols


def _symbols(covered: CoveredTable, config: MarketlakeConfig, store: DeltaStore | None, *,
             now: datetime, persist: bool) -> list[str]:
    where = f"[coverage.{covered.name}]"
    universe = covered.universe
    if isinstance(universe, list):
        return list(dict.fromkeys(universe))
    if isinstance(universe, str):
        return named_or_file(universe, config, where=where)
    assert isinstance(universe, UniverseRule)
    if store is None:
        return []
    from marketlake.coverage.rules import resolve_rule

    among = universe.among
    candidates = named_or_file(among, config, where=where) if isinstance(among, str) else among
    return resolve_rule(store, covered.name, universe, now=now, among=candidates, persist=persist)


def target_count(covered: CoveredTable, config: MarketlakeConfig) -> int:
    """How many symbols the section asks for, without reading the warehouse (a rule: its `n`)."""
    if isinstance(covered.universe, UniverseRule):
        return min(covered.universe.n, covered.config.limit or covered.universe.n)
    return len(resolve_symbols(covered, config, None, now=datetime.now().astimezone()))


__all__ = ["US_LISTED", "named_or_file", "resolve_symbols", "target_count", "us_listed"]
