"""`marketlake status`: is the warehouse current? Coverage, freshness, lag, backlog and today's credits."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console, parse_when
from marketlake.cli.options import current
from marketlake.cli.output import Format, FormatOption, OutputOption, emit, records_to_table
from marketlake.errors import StorageError


def coverage_plan(config: Any) -> tuple[dict[str, int], list[str] | None]:
    """(table -> target symbol count, the coverage plan's tables or None) from a `MarketlakeConfig`.

    Targets are the `[tiers]` table over the original design's (tables.md); the plan's tables are the
    `[coverage.<table>]` sections when the config has them (None: every table present is judged).
    """
    tiers: Mapping[str, int] = getattr(config, "tiers", None) or {}
    coverage = getattr(config, "coverage", None) or {}
    return {n: int(v) for n, v in tiers.items()}, (list(coverage) or None)


def _lag(seconds: float) -> str:
    if seconds <= 0:
        return "-"
    td = timedelta(seconds=int(seconds))
    if td.days:
        return f"{td.days}d {td.seconds // 3600}h"
    return f"{td.seconds // 3600}h {td.seconds % 3600 // 60:02d}m"


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def status(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    table: Annotated[list[str] | None, typer.Option("--table", "-t", help="Only this table (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object: tables and credits.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when a covered table is stale (for monitoring).")] = False,
    now: Annotated[str | None, typer.Option("--now", hidden=True, help="Judge at this instant (ISO, UTC).")] = None,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """Per table: tier target vs covered symbols, last vs expected bar (by calendar), lag, backlog; credits today."""
    from marketlake.config import load_config
    from marketlake.monitor.status import plan_budgets, warehouse_status
    from marketlake.storage import DeltaStore

    cfg_path = current().config
    cfg = load_config(cfg_path) if cfg_path else load_config()
    store = DeltaStore(warehouse)
    if not store.remote and not os.path.isdir(store.root):
        raise StorageError(f"no warehouse at {store.root}: check the path (-w) or build one (`marketlake demo`)")
    targets, covered = coverage_plan(cfg)
    report = warehouse_status(store, now=parse_when(now), targets=targets, covered=covered, tables=table,
                              budgets=plan_budgets(cfg))
    if as_json or (fmt is Format.json and output is None):
        typer.echo(json.dumps(report.as_dict(), indent=1))
    elif fmt is not Format.table or output is not None:  # rows: one per table
        emit(records_to_table(list(report.as_dict()["tables"])), fmt=fmt, output=output)
    else:
        out = console()
        grid = Table(title=f"marketlake status at {report.now:%Y-%m-%d %H:%M} UTC")
        for col in ("table", "state", "target", "covered", "current", "backlog", "last bar", "expected bar",
                    "lag", "bars behind"):
            grid.add_column(col, justify="left" if col in ("table", "state", "last bar", "expected bar") else "right")
        for t in report.tables:
            style = {"fresh": "green", "stale": "red"}.get(t.state, "yellow") if t.monitored else "dim"
            grid.add_row(t.table, f"[{style}]{t.state}[/]", f"{t.target:,}", f"{t.covered:,}", f"{t.current:,}",
                         f"{t.backlog:,}", _when(t.last_bar), _when(t.expected_bar), _lag(t.lag_s),
                         f"{t.bars_behind:,}")
        out.print(grid)
        for c in report.credits:
            unit = "weight" if c.vendor == "binance" else "credits"
            budget = "no daily budget" if c.budget_per_day is None else f"{c.budget_per_day:,} a day"
            out.print(f"{c.vendor}: {c.used_today:,} {unit} used today (UTC) in {c.requests_today:,} requests, "
                      f"of {budget}" + ("" if c.left_today is None else f"; {c.left_today:,} left"))
        failing = [t.table for t in report.tables if t.failing]
        if failing:
            out.print(f"stale: {', '.join(failing)} (run `marketlake sync`, or check why it did not run)")
    if check and report.stale:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("status")(status)


__all__ = ["coverage_plan", "register", "status"]
