"""`marketlake quality`: check the production tables, store the run, optionally repair; exit 1 on errors.

The exit status lets cron and CI act: 0 when no error-level issue remains, 1 otherwise.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console, split_symbols
from marketlake.cli.options import current
from marketlake.cli.output import Format, FormatOption, OutputOption, emit, records_to_table
from marketlake.config import load_config
from marketlake.quality import QualityConfig, QualityReport, run_quality, universes_from_config
from marketlake.storage import DeltaStore

_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def render_summary(report: QualityReport) -> Table:
    """Open issues counted per check and severity: the first thing to read."""
    out = Table(title=f"quality run {report.run_id[:12]}: {report.count('error')} errors, "
                      f"{report.count('warning')} warnings, {report.count('info')} infos", min_width=64)
    for col in ("check", "errors", "warnings", "infos"):
        out.add_column(col, justify="left" if col == "check" else "right")
    for check, row in report.summary():
        out.add_row(check, *(f"[{_STYLE[k]}]{row[k]:,}[/]" if row[k] else "0" for k in ("error", "warning", "info")))
    return out


def render_plan(report: QualityReport) -> Table:
    """The repairs `--fix` would apply (and the ones it refuses, with why)."""
    out = Table(title=f"repair plan: {sum(1 for p in report.plan if p.action != 'refuse')} repairs, "
                      f"{sum(1 for p in report.plan if p.action == 'refuse')} not repairable")
    for col in ("action", "check", "table", "symbols", "detail"):
        out.add_column(col, overflow="fold")
    for p in report.plan:
        style = "yellow" if p.action == "refuse" else "green"
        syms = ", ".join(p.symbols[:5]) + (" ..." if len(p.symbols) > 5 else "")
        out.add_row(f"[{style}]{p.action}[/]", p.check, p.table, syms or "-", p.detail)
    return out


def render(report: QualityReport, *, limit: int = 200) -> Table:
    """A Rich table of the issues (errors first), at most `limit` rows (the caption says when truncated)."""
    total = len(report.issues)
    shown = total if limit <= 0 else min(limit, total)
    out = Table(title=f"quality issues ({total:,})",
                caption=f"showing {shown:,} of {total:,} rows (--limit N, or --json for all)" if shown < total else None)
    for col in ("severity", "check", "table", "symbol", "field", "count", "detail", "fixed"):
        out.add_column(col, justify="right" if col == "count" else "left", overflow="fold")
    for i in report.issues[:shown]:
        out.add_row(f"[{_STYLE[i.severity]}]{i.severity}[/]", i.check, i.table, i.symbol or "-", i.field or "-",
                    f"{i.count:,}", i.detail, "yes" if i.fixed else "")
    return out


def quality(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    table: Annotated[list[str] | None, typer.Option("--table", "-t", help="Check only this table (repeatable).")] = None,
    symbols: Annotated[str | None, typer.Option("--symbols", "-s", help="Report and repair only these symbols "
                                                "(comma-separated; table-wide issues are still shown).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with `issues` (= --format json).")] = False,
    fix: Annotated[bool, typer.Option("--fix", help="Show the repair plan (nothing changes without --yes).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply the repair plan, then re-check (implies --fix).")] = False,
    as_of: Annotated[str | None, typer.Option(help="Reference time for staleness (ISO, UTC); default now.")] = None,
    tolerance: Annotated[float, typer.Option(help="Share of calendar bars a symbol may miss.")] = 0.0,
    stale_sessions: Annotated[int, typer.Option(help="Sessions after which a symbol is stale.")] = 3,
    sigma: Annotated[float, typer.Option(help="Robust sigmas beyond which a move is an outlier.")] = 10.0,
    reference: Annotated[list[str] | None, typer.Option(
        help="Reference file for metadata enrichment with --fix (repeatable).")] = None,
    config_file: Annotated[str | None, typer.Option("--config", help="marketlake.toml (universes, tiers).")] = None,
    limit: Annotated[int, typer.Option(help="Issue rows shown in the table output (0: all).")] = 200,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """Check schema, NULLs, metadata, coverage, calendar gaps, keys/OHLC, staleness, splits, dependencies."""
    cfg = load_config(config_file)
    moment = datetime.fromisoformat(as_of.replace("Z", "+00:00")) if as_of else None
    if moment is not None and moment.tzinfo is None:

        moment = moment.replace(tzinfo=UTC)
    qcfg = QualityConfig(
        universes=universes_from_config(cfg), targets=dict(cfg.tiers), missing_tolerance=tolerance,
        stale_sessions=stale_sessions, outlier_sigma=sigma, as_of=moment, reference_paths=tuple(reference or ()),
    )
    fix = fix or yes  # like janitor and retention: a plan by default, --yes applies it
    fmt = Format.json if as_json else fmt
    reporter = current().reporter()
    if fmt is Format.json and output is None:
        reporter.quiet = True  # stdout is one JSON object; stderr stays free of progress too
    with reporter.task("quality", unit="checks") as task:
        report = run_quality(DeltaStore(warehouse), tables=table, config=qcfg, fix=fix, plan_only=not yes,
                             progress=task.stage, symbols=split_symbols(symbols))
    if fmt is Format.json and output is None:
        typer.echo(json.dumps(report.to_dict(), default=str))
    elif fmt is not Format.table or output is not None:  # files and programs: one row per issue
        emit(records_to_table([i.to_dict() for i in report.issues]), fmt=fmt, output=output)
    else:
        out = console()
        if report.issues:
            out.print(render(report, limit=limit))
        out.print(render_summary(report))
        if fix and not yes:
            if report.plan:
                out.print(render_plan(report))
                if any(p.action != "refuse" for p in report.plan):
                    out.print("Nothing was changed; re-run with --fix --yes to apply the repairs.")
                else:
                    out.print("Nothing was changed; none of these issues can be repaired automatically.")
            else:
                out.print("No repair applies to these issues.")
        for r in report.repairs:
            out.print(f"repair {r.table} {r.symbol or ''} {r.field}: {r.detail}")
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("quality")(quality)


__all__ = ["quality", "register", "render", "render_plan", "render_summary"]
