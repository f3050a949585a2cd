"""Capacity planning for vendor credit plans (pure arithmetic plus an optional plot)."""

from marketlake.capacity.planner import (
    DEFAULT_TIERS,
    PlanSummary,
    TableCapacity,
    parse_cadence,
    plan_capacity,
    plan_table,
    summarize,
)

__all__ = ["DEFAULT_TIERS", "PlanSummary", "TableCapacity", "parse_cadence", "plan_capacity", "plan_table", "summarize"]
