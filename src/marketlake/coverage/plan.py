"""The coverage plan resolved: per covered table, its spec (history applied), source and cadence.

Why resolve once: `sync`, `capacity` and `status` read the same `[coverage.<table>]` sections and must
agree on the defaults (cadence: the table's bar interval; history: the table's target in tables.md).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import timedelta

from marketlake.config import MarketlakeConfig
from marketlake.coverage.model import CoverageConfig, UniverseRule
from marketlake.errors import ConfigError
from marketlake.schema import TABLES, TableSpec


def vendors_serving(spec: TableSpec) -> list[str]:
    """The registered vendors that can serve `spec` (each one's own `check_table` says: asset, timeframe)."""
    from marketlake.sources import registry

    found = []
    for name in registry.vendors():
        try:
            registry.vendor(name).check_table(spec)
        except ConfigError:
            continue
        found.append(name)
    return found


_UNITS = {"s": 1, "min": 60, "m": 60, "h": 3_600, "d": 86_400, "w": 7 * 86_400, "mo": 30 * 86_400,
          "y": 365 * 86_400}
_DURATION = re.compile(r"^\s*(\d+)\s*(s|min|m|h|d|w|mo|y)\s*$")


def parse_duration(text: str, *, what: str) -> timedelta:
    """`30s`, `15min`, `1h`, `1d`, `26w`, `6mo`, `3y` -> timedelta (`m` is minutes, `mo` months of 30 days)."""
    named = {"daily": "1d", "hourly": "1h", "weekly": "1w", "monthly": "1mo"}
    m = _DURATION.match(named.get(text, text))
    if not m or int(m.group(1)) <= 0:
        raise ConfigError(f"{what} {text!r} not understood; use e.g. 1min, 15min, 1h, 1d, 26w, 6mo, 3y")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


@dataclass(frozen=True)
class CoveredTable:
    """One `[coverage.<table>]` section, resolved."""

    spec: TableSpec  # history_days replaced by the section's `history`
    source: str
    cadence: timedelta
    universe: list[str] | str | UniverseRule
    config: CoverageConfig

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_rule(self) -> bool:
        return isinstance(self.universe, UniverseRule)


def covered_tables(config: MarketlakeConfig) -> list[CoveredTable]:
    """Every covered table, finest cadence first (the order sync serves them when credits are short).

    Raises:
        ConfigError: an unknown table, a source that cannot serve the table, a bad cadence or history.
    """
    out = [resolve_section(name, section) for name, section in config.coverage.items()]
    return sorted(out, key=lambda c: (c.cadence, c.spec.bar_seconds, c.name))


def resolve_section(name: str, section: CoverageConfig) -> CoveredTable:
    where = f"[coverage.{name}]"
    if name not in TABLES:
        raise ConfigError(f"{where}: unknown table; production tables are: {', '.join(TABLES)}")
    spec = TABLES[name]
    allowed = vendors_serving(spec)
    if section.source not in allowed:
        raise ConfigError(f"{where}: source {section.source!r} cannot serve {spec.asset}; use one of: "
                          f"{', '.join(allowed)}")
    cadence = parse_duration(section.cadence, what=f"{where} cadence") if section.cadence else spec.bar_interval
    if cadence < spec.bar_interval:
        raise ConfigError(f"{where}: cadence {section.cadence} is finer than the table's bars "
                          f"({int(spec.bar_seconds)} s): refreshing faster than bars form buys nothing")
    if section.history:
        days = parse_duration(section.history, what=f"{where} history").total_seconds() / 86_400
        spec = dataclasses.replace(spec, history_days=max(1, round(days)))
    if isinstance(section.universe, UniverseRule) and section.universe.from_table not in TABLES:
        raise ConfigError(f"{where}: universe rule reads from {section.universe.from_table!r}, not a production "
                          f"table ({', '.join(TABLES)})")
    if isinstance(section.universe, list) and not section.universe:
        raise ConfigError(f"{where}: universe is an empty list")
    return CoveredTable(spec=spec, source=section.source, cadence=cadence, universe=section.universe, config=section)


__all__ = ["CoveredTable", "covered_tables", "parse_duration", "resolve_section", "vendors_serving"]
