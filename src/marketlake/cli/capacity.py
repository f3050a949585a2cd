"""`marketlake capacity`: what a TwelveData plan covers, batched vs the original naive model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from marketlake.cli.common import console
from marketlake.cli.output import Format, FormatOption, OutputOption, emit, print_grid, records_to_table

PlanName = Literal["basic", "grow", "pro", "ultra", "custom"]


def capacity(
    plan: Annotated[str | None, typer.Option(
        "--plan", help="basic, grow, pro, ultra or custom (default: the config's [twelvedata] plan, else basic).",
        show_default=False)] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Config file (tiers, custom plan).")] = None,
    cadence: Annotated[str | None, typer.Option("--cadence", help="Refresh cadence, e.g. 1d (default), 1h, 15min.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per table (= --format json).")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a plot (.png or .html).")] = None,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """Credits per day, backfill cost and time, and the largest symbol counts that fit, per table."""
    from marketlake.capacity import parse_cadence, plan_capacity, summarize
    from marketlake.config import load_config
    from marketlake.sources.budget import plan_limits

    cfg = load_config(config) if config else load_config()
    if cfg.coverage and cadence is None:
        _coverage(cfg, plan, as_json=as_json)
        return
    plan = plan or "basic"
    td = cfg.twelvedata
    limits = plan_limits(plan, credits_per_minute=td.credits_per_minute if plan == "custom" else None,
                         credits_per_day=td.credits_per_day if plan == "custom" else None)
    cadence_s = parse_cadence(cadence)
    rows = plan_capacity(limits, tiers=cfg.tiers, cadence_s=cadence_s)
    if plot is not None:
        from marketlake.capacity.plot import render_plot

        render_plot(rows, plot, title=f"TwelveData {limits.name}: symbols that fit ({cadence or '1 refresh/day'})")
    fmt = Format.json if as_json else fmt
    if fmt is Format.json and output is None:  # the historical layout
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=1))
        return
    if fmt is not Format.table or output is not None:
        emit(records_to_table([r.as_dict() for r in rows]), fmt=fmt, output=output)
        return
    out = console()
    t = Table(title=f"TwelveData plan {limits.name}: {limits.credits_per_minute:,}/min, "
                    f"{'no daily cap' if limits.credits_per_day is None else f'{limits.credits_per_day:,}/day'}, "
                    f"${limits.usd_per_month or 0:,.0f}/month; refresh {cadence or 'once a day'}")
    for col in ("table", "symbols", "bars/day", "refresh/day", "credits/day", "backfill credits",
                "backfill time", "max symbols", "naive credits/day", "naive max symbols"):
        t.add_column(col, justify="left" if col == "table" else "right", no_wrap=col == "table")
    for r in rows:
        wall = f"{r.backfill_minutes:,.1f} min" if limits.credits_per_day is None or r.backfill_days < 1 \
            else f"{r.backfill_days:,.1f} days"
        t.add_row(r.table, f"{r.symbols:,}", f"{r.bars_per_day:,}", f"{r.refreshes_per_day:,}",
                  f"{r.credits_per_day:,}", f"{r.backfill_credits:,}", wall, f"{r.max_symbols:,}",
                  f"{r.naive_credits_per_day:,}", f"{r.naive_max_symbols:,}")
    print_grid(t, out)
    s = summarize(rows, limits)
    verdict = "fits" if s.fits else "does NOT fit"
    out.print(f"All tables: {s.credits_per_day:,} credits/day of {s.capacity_per_day:,} available ({verdict}); "
              f"naive model would need {s.naive_credits_per_day:,}/day. Backfill: {s.backfill_credits:,} credits, "
              f"{s.backfill_minutes:,.1f} min at the per-minute limit"
              + (f", {s.backfill_credits / limits.credits_per_day:,.1f} days at the daily cap." if limits.credits_per_day else "."))
    out.print("max symbols: the most symbols one table could hold alone on this plan at this cadence "
              "(each request carries up to 5,000 bars); naive: one request per symbol per bar interval.")
    if plot is not None:
        out.print(f"plot written to {plot}")


def _coverage(cfg: object, plan: str | None, *, as_json: bool) -> None:
    """The `[coverage.<table>]` plan against a TwelveData plan: every covered table, fits or not, what to change."""
    from marketlake.config import MarketlakeConfig
    from marketlake.coverage.capacity import coverage_fit, limits_for

    assert isinstance(cfg, MarketlakeConfig)
    limits = limits_for(cfg, plan)
    fit = coverage_fit(cfg, limits)
    if as_json:
        typer.echo(json.dumps(fit.as_dict(), indent=1))
        return
    out = console()
    t = Table(title=f"coverage plan on TwelveData {limits.name}: {limits.credits_per_minute:,}/min, "
                    f"{'no daily cap' if limits.credits_per_day is None else f'{limits.credits_per_day:,}/day'}")
    for col in ("table", "source", "symbols", "refresh/day", "credits/day", "backfill credits", "max symbols"):
        t.add_column(col, justify="left" if col in ("table", "source") else "right", no_wrap=col == "table")
    for r in fit.rows:
        t.add_row(r.table, "twelvedata", f"{r.symbols:,}", f"{r.refreshes_per_day:,}", f"{r.credits_per_day:,}",
                  f"{r.backfill_credits:,}", f"{r.max_symbols:,}")
    for b in fit.binance:
        t.add_row(str(b["table"]), str(b["source"]), f"{b['symbols']:,}", f"{b['refreshes_per_day']:,}",
                  "0 (weight)", "0 (weight)", "-")
    out.print(t)
    verdict = "fits" if fit.fits else "does NOT fit"
    out.print(f"TwelveData tables: {fit.credits_per_day:,} credits/day of {fit.capacity_per_day:,} ({verdict}); "
              f"backfill {fit.backfill_credits:,} credits. Binance tables spend request weight, not credits.")
    for line in fit.advice:
        out.print(f"- {line}")


def register(app: typer.Typer) -> None:
    app.command("capacity")(capacity)
