"""Does a coverage plan fit a TwelveData plan, and if not, what to change (pure arithmetic over the config).

TwelveData tables spend credits (`capacity.planner`); Binance tables spend request weight, which is
free and per minute only, so they are listed but never make a plan not fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from marketlake.capacity.planner import TableCapacity, daily_capacity, plan_table
from marketlake.config import MarketlakeConfig
from marketlake.coverage.plan import CoveredTable, covered_tables
from marketlake.coverage.universe import target_count
from marketlake.sources.budget import PLANS, PlanLimits, plan_limits


@dataclass(frozen=True)
class CoverageFit:
    plan: str
    rows: list[TableCapacity]
    binance: list[dict[str, object]]
    credits_per_day: int
    capacity_per_day: int
    backfill_credits: int
    fits: bool
    advice: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"plan": self.plan, "fits": self.fits, "credits_per_day": self.credits_per_day,
                "capacity_per_day": self.capacity_per_day, "backfill_credits": self.backfill_credits,
                "tables": [r.as_dict() for r in self.rows], "binance_tables": self.binance, "advice": self.advice}


def _cadence_s(c: CoveredTable) -> int | None:
    seconds = int(c.cadence.total_seconds())
    return None if seconds >= 86_400 else seconds


def coverage_fit(config: MarketlakeConfig, limits: PlanLimits) -> CoverageFit:
    """Per covered table its cost on `limits`, the total, and advice when it does not fit."""
    rows, binance = [], []
    for c in covered_tables(config):
        n = target_count(c, config)
        if c.source == "twelvedata":
            rows.append(plan_table(c.spec, n, limits, cadence_s=_cadence_s(c)))
        else:
            per_day = math.ceil(86_400 / max(c.cadence.total_seconds(), 1))
            binance.append({"table": c.name, "source": c.source, "symbols": n, "refreshes_per_day": per_day,
                            "weight_per_day": 2 * n * per_day,
                            "weight_capacity_per_day": config.binance.weight_per_minute * 1_440})
    per_day = sum(r.credits_per_day for r in rows)
    cap = daily_capacity(limits)
    fit = CoverageFit(limits.name, rows, binance, per_day, cap, sum(r.backfill_credits for r in rows), per_day <= cap)
    if not fit.fits:
        fit.advice.extend(_advice(rows, per_day, cap))
    elif limits.credits_per_day is not None and fit.backfill_credits > cap - per_day:
        days = math.ceil(fit.backfill_credits / max(cap - per_day, 1))
        fit.advice.append(f"the backfill ({fit.backfill_credits:,} credits) takes about {days} days of the credits "
                          "the updates leave; sync spends them day by day and says what waits")
    return fit


def _advice(rows: list[TableCapacity], per_day: int, cap: int) -> list[str]:
    out = []
    bigger = next((p for p in PLANS.values() if daily_capacity(p) >= per_day), None)
    if bigger is not None:
        out.append(f"choose plan {bigger.name} ({bigger.credits_per_minute:,}/min"
                   + (f", {bigger.credits_per_day:,}/day" if bigger.credits_per_day else ", no daily cap")
                   + f", ${bigger.usd_per_month or 0:,.0f}/month): {per_day:,} credits/day fit")
    over = per_day - cap
    worst = max(rows, key=lambda r: r.credits_per_day)
    per_symbol = worst.credits_per_day / max(worst.symbols, 1)
    keep = max(worst.symbols - math.ceil(over / max(per_symbol, 1e-9)), 0)
    out.append(f"or cut {worst.table} from {worst.symbols:,} to {keep:,} symbols (it spends {worst.credits_per_day:,} "
               f"of the {per_day:,} credits/day)")
    if worst.refreshes_per_day > 1:
        out.append(f"or refresh {worst.table} less often: cadence = \"1d\" costs {worst.symbols:,} credits/day "
                   "(one request carries a whole day of bars)")
    return out


def limits_for(config: MarketlakeConfig, plan: str | None) -> PlanLimits:
    td = config.twelvedata
    name = plan or td.plan
    return plan_limits(name, credits_per_minute=td.credits_per_minute if name == "custom" else None,
                       credits_per_day=td.credits_per_day if name == "custom" else None)


__all__ = ["CoverageFit", "coverage_fit", "limits_for"]
