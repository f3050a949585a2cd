"""`marketlake rebuild`: recompute the 97 fields of whole tables from their stored bars (preview, then `--yes`).

What a new release's feature engine, a changed benchmark or a repaired history needs. The work runs in
symbol groups under the memory budget, here or on a Dask cluster (`--executor dask`); each table gets
one commit of the rows that differ (none when the table is already what the engine computes).
"""

from __future__ import annotations

from contextlib import closing
from typing import Annotated

import typer

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console
from marketlake.cli.ingest import (
    ExecutorOption,
    MemoryBudgetOption,
    SchedulerOption,
    TablesOption,
    WorkersOption,
    resolve_budget,
)
from marketlake.cli.options import current
from marketlake.schema import TABLE_NAMES, get_table


def rebuild(
    table: TablesOption = None,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Rebuild (without it: only show what would be done).")] = False,
    memory_budget: MemoryBudgetOption = None,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
) -> None:
    """Recompute every stored row of the tables from their bars; write only the rows that differ."""
    from marketlake.pipeline.executors import make_executor
    from marketlake.pipeline.grouped import refresh_grouped
    from marketlake.storage import DeltaStore

    names = [get_table(t).name for t in (table or TABLE_NAMES)]
    store = DeltaStore(warehouse)
    present = [n for n in names if store.exists(n)]
    out = console()
    if not present:
        out.print("no stored table to rebuild")
        return
    if not yes:
        for n in present:
            rows = int(store.file_index(n).records.sum())
            out.print(f"would recompute {n}: {rows:,} rows")
        out.print("nothing changed; re-run with --yes to rebuild")
        return
    budget = resolve_budget(memory_budget)
    runner = make_executor(executor, scheduler=scheduler, workers=workers)
    with closing(runner), current().reporter().task("rebuild", total=len(present), unit="tables") as task:
        for n in present:
            def say(message: str, name: str = n) -> None:
                task.stage(f"{name}: {message}")

            report = refresh_grouped(store, n, memory_budget=budget, executor=runner, progress=say)
            task.advance()
            out.print(f"{n}: {report.updated:,} rows updated, {report.inserted:,} inserted, "
                      f"{report.unchanged:,} unchanged in {report.seconds:.1f}s ({runner.name} executor)")


def register(app: typer.Typer) -> None:
    app.command("rebuild")(rebuild)
