"""`marketlake actions load|list`: corporate actions from a CSV file, applied before the command returns."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console, split_symbols
from marketlake.cli.options import current
from marketlake.cli.output import Format, FormatOption, OutputOption, emit_records, print_grid

actions_app = typer.Typer(help="Corporate actions (splits, dividends, renames, delistings).", no_args_is_help=True)


def load(
    file: Annotated[Path, typer.Argument(help="CSV: symbol,kind,date,from_factor,to_factor,amount,currency"
                                               "[,new_symbol]")],
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
) -> None:
    """Record the file's actions and apply them to every stored table (one commit per affected table)."""
    from marketlake.actions import read_csv, record
    from marketlake.storage import DeltaStore

    actions = read_csv(file)
    out = console()
    with current().reporter().task("actions load", unit="actions") as task:
        fresh, report = record(DeltaStore(warehouse), actions, progress=task.stage)
    out.print(f"{len(actions)} actions in {file}: {fresh} new or changed, {len(report.applied)} applied")
    for line in report.applied:
        out.print(f"  applied {line}")
    for table, n in sorted(report.commits.items()):
        out.print(f"  {table}: {n} commit(s), {report.rows_rewritten.get(table, 0):,} rows rewritten")


def list_actions(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    symbols: Annotated[str | None, typer.Option("--symbols", "-s", "--symbol",
                                                help="Only these symbols (comma-separated).")] = None,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """List the stored actions and whether they are applied."""
    import json
    from dataclasses import asdict

    from marketlake.actions import read_actions
    from marketlake.storage import DeltaStore

    wanted = split_symbols(symbols)
    rows = [a for a in read_actions(DeltaStore(warehouse)) if wanted is None or a.symbol in wanted]
    emit_records([{**asdict(a), "applied": json.dumps(a.applied, default=str)} for a in rows], fmt=fmt, output=output,
                 human=lambda: _render_list(rows))


def _render_list(rows: list[Any]) -> None:
    table = Table(title=f"corporate actions ({len(rows)})")
    for c in ("symbol", "kind", "date", "factor / amount", "new symbol", "source", "status", "applied at"):
        table.add_column(c)
    for a in rows:
        what = f"{a.from_factor:g}:{a.to_factor:g}" if a.kind == "split" else (
            f"{a.amount:g} {a.currency or ''}" if a.amount else "")
        table.add_row(a.symbol, a.kind, str(a.date), what, a.new_symbol or "", a.source, a.status,
                      f"{a.applied_at:%Y-%m-%d %H:%M}" if a.applied_at else "pending")
    print_grid(table)


def fetch(
    symbols: Annotated[str | None, typer.Argument(help="Comma-separated symbols (or -s).", show_default=False)] = None,
    symbols_option: Annotated[str | None, typer.Option("--symbols", "-s", help="Comma-separated symbols.")] = None,
    since: Annotated[str | None, typer.Option(help="Only actions on or after this date (ISO); default all.")] = None,
    plan: Annotated[str | None, typer.Option(help="TwelveData plan (default: the configured one).")] = None,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
) -> None:
    """Fetch splits and dividends from TwelveData (40 credits per symbol, Grow plan) and apply them."""
    from datetime import date

    from marketlake.actions import record
    from marketlake.actions.vendor import fetch_twelvedata
    from marketlake.cli.common import split_symbols
    from marketlake.errors import ConfigError
    from marketlake.pipeline.vendor_ingest import StoreUsage
    from marketlake.sources.twelvedata import make_client
    from marketlake.storage import DeltaStore

    names = (split_symbols(symbols) or []) + (split_symbols(symbols_option) or [])
    if not names:
        raise ConfigError("give at least one symbol, e.g. `marketlake actions fetch AAPL,NFLX`")
    try:
        start = date.fromisoformat(since) if since else None
    except ValueError:
        raise ConfigError(f"--since {since!r} is not an ISO date (YYYY-MM-DD)") from None
    out = console()
    store = DeltaStore(warehouse)
    reporter = current().reporter()
    with make_client(plan=plan, usage=StoreUsage(store)) as client, \
            reporter.task("actions fetch", unit="symbols") as task:  # spend recorded in api_usage
        actions, errors = fetch_twelvedata(client, names, start=start, progress=task.stage)
    for symbol, message in sorted(errors.items()):
        out.print(f"  {symbol}: {message}")
    conflicts: list[str] = []
    with reporter.task("actions apply", unit="actions") as task:
        fresh, report = record(store, actions, progress=task.stage, conflicts=conflicts)
    for message in conflicts:
        out.print(f"  [yellow]kept the stored action[/yellow]: {message}")
    out.print(f"{len(actions)} actions from TwelveData: {fresh} new or changed, {len(report.applied)} applied")
    for table, n in sorted(report.commits.items()):
        out.print(f"  {table}: {n} commit(s), {report.rows_rewritten.get(table, 0):,} rows rewritten")


def register(app: typer.Typer) -> None:
    actions_app.command("load")(load)
    actions_app.command("fetch")(fetch)
    actions_app.command("list")(list_actions)
    app.add_typer(actions_app, name="actions")
