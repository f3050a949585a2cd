"""What the quality monitor reports: issues with a location, a severity and a count, and its settings.

An issue is aggregated per (check, table, symbol, field) so a field that is NULL on 10,000 bars of one
symbol is one line with `count=10000` and the first/last datetimes, not 10,000 lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

import pyarrow as pa

from marketlake.schema import SUPPORT_SCHEMAS

Severity = Literal["error", "warning", "info"]
Check = Literal[
    "schema", "nulls", "metadata", "coverage", "missing_bars", "duplicates", "ohlc", "staleness",
    "split", "outlier", "dependency", "repair", "corruption",
]
CHECKS: tuple[str, ...] = (
    "schema", "nulls", "metadata", "coverage", "missing_bars", "duplicates", "ohlc", "staleness", "split",
    "outlier", "dependency", "corruption",
)
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}

# tables.md, "Coverage targets of the original design" (symbols per table)
DEFAULT_TARGETS: Mapping[str, int] = MappingProxyType({
    "stocks_daily_clean": 2500, "crypto_daily_clean": 150, "stocks_hourly_clean": 500,
    "crypto_hourly_clean": 100, "stocks_1min_clean": 100, "crypto_1min_clean": 50,
})


@dataclass
class Issue:
    """One finding. `symbol`/`field` are None when the issue concerns the whole table."""

    check: str
    severity: Severity
    table: str
    symbol: str | None
    field: str | None
    detail: str
    count: int = 1
    first_datetime: datetime | None = None
    last_datetime: datetime | None = None
    fixed: bool = False

    @property
    def key(self) -> tuple[str, str, str | None, str | None]:
        return (self.check, self.table, self.symbol, self.field)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for k in ("first_datetime", "last_datetime"):
            out[k] = out[k].isoformat() if out[k] else None
        return out


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds and the configured targets (all optional; defaults follow tables.md).

    Attributes:
        universes: table -> symbols expected in it (from the configured universes).
        targets: table -> target symbol count (the tiers); DEFAULT_TARGETS where missing.
        missing_tolerance: share of expected bars a symbol may miss before it is reported.
        stale_sessions: a symbol whose last bar is more than this many sessions old is stale.
        outlier_sigma: |log return - median| beyond this many robust sigmas is an outlier.
        split_tolerance: relative distance of a jump from a split ratio that still counts as "near".
        as_of: the reference time for staleness (default: now).
        source_options: constructor options per source, used by `--fix` to re-fetch bars.
        reference_paths: reference files (S&P 500, NASDAQ Trader) used by `--fix` to enrich metadata.
        memory_budget: bytes or `4G` the checks may hold (None: the default budget); sets the group size.
    """

    universes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    targets: Mapping[str, int] = field(default_factory=dict)
    missing_tolerance: float = 0.0
    stale_sessions: int = 3
    outlier_sigma: float = 10.0
    split_tolerance: float = 0.05
    history_slack_days: int = 10
    as_of: datetime | None = None
    source_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    reference_paths: tuple[str, ...] = ()
    memory_budget: int | str | None = None  # rows per checked symbol group: `memory_budget.group_rows`

    def target(self, table: str) -> int | None:
        return self.targets.get(table, DEFAULT_TARGETS.get(table))


def issues_table(issues: list[Issue], run_id: str) -> pa.Table:
    """Issues as rows of the `quality_issues` support table."""
    schema = SUPPORT_SCHEMAS["quality_issues"]
    rows = [{**asdict(i), "run_id": run_id} for i in issues]
    return pa.Table.from_pylist(rows, schema=schema)


__all__ = ["CHECKS", "DEFAULT_TARGETS", "Issue", "QualityConfig", "SEVERITY_ORDER", "Severity", "issues_table"]
