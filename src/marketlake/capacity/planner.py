"""Capacity planner: what a TwelveData plan can keep fresh, with batching and with the naive model.

Why two models side by side: the original design assumed one request per symbol per bar interval
(an hourly symbol costs 24 credits a day, so the free plan's 800 credits cover 33 hourly symbols).
A `/time_series` request costs one credit per symbol and returns up to 5,000 bars, so one request a
day per symbol carries the whole day's bars: the same plan covers hundreds of symbols. Showing both
lets a user see where the difference comes from.

Model (pure arithmetic, no I/O):
- bars per day per symbol: stock sessions (1 daily, 7 hourly, 390 one-minute bars), crypto 24/7;
- refreshes per day = min(86,400 s / cadence, bars per day) (refreshing faster than bars form buys
  nothing); each refresh costs ceil(bars per refresh / 5,000) credits per symbol;
- backfill: ceil(history bars / 5,000) pages per symbol, plus one `/earliest_timestamp` call when
  more than one page is needed (the pager stops there); wall time at the plan's per-minute rate and,
  on capped plans, its daily cap;
- daily capacity = min(credits per minute * 1,440, credits per day).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from marketlake.schema import TABLES, TableSpec
from marketlake.sources.budget import PlanLimits

MAX_BARS_PER_REQUEST = 5_000
MINUTES_PER_DAY = 1_440
DEFAULT_TIERS: Mapping[str, int] = {
    "stocks_daily_clean": 2_500,
    "crypto_daily_clean": 150,
    "stocks_hourly_clean": 500,
    "crypto_hourly_clean": 100,
    "stocks_1min_clean": 100,
    "crypto_1min_clean": 50,
}
"""Coverage targets of the original design (tables.md)."""

_STOCK_BARS_PER_DAY = {"daily": 1, "hourly": 7, "1min": 390}
_TRADING_DAYS_PER_YEAR = 252


@dataclass(frozen=True)
class TableCapacity:
    """The planner's answer for one table (the JSON object of `marketlake capacity --json`)."""

    table: str
    plan: str
    symbols: int
    bars_per_day: int
    refreshes_per_day: int
    credits_per_day: int
    backfill_credits: int
    backfill_minutes: float
    backfill_days: float
    max_symbols: int
    naive_credits_per_day: int
    naive_max_symbols: int
    usd_per_month: float | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def bars_per_day(table: TableSpec) -> int:
    """Bars one symbol adds per calendar day (trading day for stocks)."""
    if table.asset == "stocks":
        return _STOCK_BARS_PER_DAY[table.timeframe]
    return 86_400 // table.bar_seconds


def history_bars(table: TableSpec) -> int:
    """Bars of one symbol over the table's history target."""
    days = table.history_days
    if table.asset == "stocks":
        days = math.ceil(days * _TRADING_DAYS_PER_YEAR / 365)
    return days * bars_per_day(table)


def refreshes_per_day(table: TableSpec, cadence_s: int | None) -> int:
    """Refreshes a day at `cadence_s` (None: one a day), never more than bars form."""
    if cadence_s is None:
        return 1
    return max(1, min(86_400 // max(cadence_s, 1), bars_per_day(table)))


def daily_capacity(limits: PlanLimits) -> int:
    per_minute_day = limits.credits_per_minute * MINUTES_PER_DAY
    return per_minute_day if limits.credits_per_day is None else min(per_minute_day, limits.credits_per_day)


def plan_table(table: TableSpec, symbols: int, limits: PlanLimits, *, cadence_s: int | None = None) -> TableCapacity:
    """Capacity of one table on one plan."""
    bpd = bars_per_day(table)
    refreshes = refreshes_per_day(table, cadence_s)
    credits_per_refresh = math.ceil(math.ceil(bpd / refreshes) / MAX_BARS_PER_REQUEST)
    per_symbol_day = refreshes * credits_per_refresh
    pages = math.ceil(history_bars(table) / MAX_BARS_PER_REQUEST)
    backfill = symbols * (pages + (1 if pages > 1 else 0))
    capacity = daily_capacity(limits)
    minutes = backfill / limits.credits_per_minute
    days = backfill / limits.credits_per_day if limits.credits_per_day else minutes / MINUTES_PER_DAY
    naive_per_symbol = 86_400 // table.bar_seconds  # one request per bar interval, around the clock
    return TableCapacity(
        table=table.name,
        plan=limits.name,
        symbols=symbols,
        bars_per_day=bpd,
        refreshes_per_day=refreshes,
        credits_per_day=symbols * per_symbol_day,
        backfill_credits=backfill,
        backfill_minutes=round(minutes, 2),
        backfill_days=round(days, 3),
        max_symbols=capacity // per_symbol_day,
        naive_credits_per_day=symbols * naive_per_symbol,
        naive_max_symbols=capacity // naive_per_symbol,
        usd_per_month=limits.usd_per_month,
    )


def plan_capacity(
    limits: PlanLimits, *, tiers: Mapping[str, int] | None = None, cadence_s: int | None = None
) -> list[TableCapacity]:
    """One `TableCapacity` per production table, with `tiers` (table -> symbols) over the defaults."""
    counts = {**DEFAULT_TIERS, **(tiers or {})}
    return [plan_table(TABLES[name], counts.get(name, 0), limits, cadence_s=cadence_s) for name in TABLES]


@dataclass(frozen=True)
class PlanSummary:
    """All tables together: does the whole configuration fit the plan?"""

    credits_per_day: int
    capacity_per_day: int
    fits: bool
    backfill_credits: int
    backfill_minutes: float
    naive_credits_per_day: int


def summarize(rows: list[TableCapacity], limits: PlanLimits) -> PlanSummary:
    per_day = sum(r.credits_per_day for r in rows)
    backfill = sum(r.backfill_credits for r in rows)
    cap = daily_capacity(limits)
    return PlanSummary(
        credits_per_day=per_day,
        capacity_per_day=cap,
        fits=per_day <= cap,
        backfill_credits=backfill,
        backfill_minutes=round(backfill / limits.credits_per_minute, 2),
        naive_credits_per_day=sum(r.naive_credits_per_day for r in rows),
    )


def parse_cadence(text: str | None) -> int | None:
    """`1d`, `4h`, `15min`, `30s` -> seconds; None or `daily` -> None (one refresh a day)."""
    if text is None or text in ("daily", "1d", "1day"):
        return None
    units = {"min": 60, "m": 60, "h": 3_600, "d": 86_400, "s": 1}
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix) and text[: -len(suffix)].strip().isdigit():
            return int(text[: -len(suffix)]) * units[suffix]
    from marketlake.errors import ConfigError

    raise ConfigError(f"cadence {text!r} not understood; use e.g. 1d, 4h, 1h, 15min")


__all__ = [
    "DEFAULT_TIERS",
    "PlanSummary",
    "TableCapacity",
    "bars_per_day",
    "daily_capacity",
    "history_bars",
    "parse_cadence",
    "plan_capacity",
    "plan_table",
    "summarize",
]
