"""`marketlake demo`: build the offline demo warehouse and show what was built."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console
from marketlake.cli.options import current
from marketlake.cli.output import print_grid
from marketlake.cli.render import print_rejections, reports_table
from marketlake.schema import TABLE_NAMES


def demo(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic market.")] = 42,
) -> None:
    """Build all six tables from an offline synthetic market (idempotent: a re-run changes no row)."""
    from marketlake.pipeline.demo import build_demo
    from marketlake.warehouse import Warehouse

    out = console()
    started = time.perf_counter()
    with current().reporter().task("demo", total=len(TABLE_NAMES), unit="tables") as task:
        reports = build_demo(warehouse, seed=seed, progress=task.stage, on_table=lambda _report: task.advance())
    print_grid(reports_table(reports, title=f"Demo warehouse at {warehouse}"), out)
    print_rejections(out, reports)
    from marketlake.cli.tables import render as tables_table

    print_grid(tables_table(Warehouse(warehouse).tables()), out)
    out.print(f"Built in {time.perf_counter() - started:.1f} s. Try:")
    out.print(f"  marketlake sql \"SELECT symbol, count(*) AS bars, avg(rsi_14) FROM stocks_daily_clean "
              f"GROUP BY symbol ORDER BY bars DESC LIMIT 5\" -w {warehouse}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
