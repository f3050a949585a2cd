"""`marketlake actions load|list`: corporate actions from a CSV file, applied before the command returns."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console

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
    fresh, report = record(DeltaStore(warehouse), actions, progress=lambda m: out.print(f"  {m}"))
    out.print(f"{len(actions)} actions in {file}: {fresh} new or changed, {len(report.applied)} applied")
    for line in report.applied:
        out.print(f"  applied {line}")
    for table, n in sorted(report.commits.items()):
        out.print(f"  {table}: {n} commit(s), {report.rows_rewritten.get(table, 0):,} rows rewritten")


def list_actions(warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
                 symbol: Annotated[str | None, typer.Option(help="Only this symbol.")] = None) -> None:
    """List the stored actions and whether they are applied."""
    from marketlake.actions import read_actions
    from marketlake.storage import DeltaStore

    rows = [a for a in read_actions(DeltaStore(warehouse)) if symbol is None or a.symbol == symbol]
    table = Table(title=f"corporate actions ({len(rows)})")
    for c in ("symbol", "kind", "date", "factor / amount", "new symbol", "source", "status", "applied at"):
        table.add_column(c)
    for a in rows:
        what = f"{a.from_factor:g}:{a.to_factor:g}" if a.kind == "split" else (
            f"{a.amount:g} {a.currency or ''}" if a.amount else "")
        table.add_row(a.symbol, a.kind, str(a.date), what, a.new_symbol or "", a.source, a.status,
                      f"{a.applied_at:%Y-%m-%d %H:%M}" if a.applied_at else "pending")
    console().print(table)


def fetch(
    symbols: Annotated[str, typer.Argument(help="Comma-separated symbols.")],
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

    names = split_symbols(symbols) or []
    if not names:
        raise ConfigError("give at least one symbol, e.g. `marketlake actions fetch AAPL,NFLX`")
    try:
        start = date.fromisoformat(since) if since else None
    except ValueError:
        raise ConfigError(f"--since {since!r} is not an ISO date (YYYY-MM-DD)") from None
    out = console()
    store = DeltaStore(warehouse)
    with make_client(plan=plan, usage=StoreUsage(store)) as client:  # spend recorded in api_usage
        actions, errors = fetch_twelvedata(client, names, start=start, progress=lambda m: out.print(f"  {m}"))
    for symbol, message in sorted(errors.items()):
        out.print(f"  {symbol}: {message}")
    conflicts: list[str] = []
    fresh, report = record(store, actions, progress=lambda m: out.print(f"  {m}"), conflicts=conflicts)
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
