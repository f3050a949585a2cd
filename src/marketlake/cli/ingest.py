"""`marketlake ingest synthetic|csv|parquet`: offline sources into production tables."""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console, parse_when, split_symbols
from marketlake.cli.options import current
from marketlake.cli.output import print_grid
from marketlake.cli.render import print_rejections, reports_table
from marketlake.errors import ConfigError
from marketlake.schema import TABLE_NAMES, get_table
from marketlake.sources.registry import get_source

MemoryBudgetOption = Annotated[
    str | None,
    typer.Option("--memory-budget", help="Memory a load may use (e.g. 4G, 512M); bigger loads go in symbol groups. "
                 "Default: `memory_budget` in the config, else 25% of RAM (at most 6G)."),
]
ExecutorOption = Annotated[
    str, typer.Option("--executor", help="Where the symbol-group work runs: local (this process) or dask."),
]
SchedulerOption = Annotated[
    str | None, typer.Option("--scheduler", help="Dask scheduler address (tcp://host:8786); default: a local cluster."),
]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", help="Worker processes of the local Dask cluster (default: one per core)."),
]
TablesOption = Annotated[
    list[str] | None,
    typer.Option("--table", "-t", help="Production table (repeatable). Default: all six."),
]



def resolve_budget(value: str | None) -> int:
    """--memory-budget, else the config's `memory_budget` (or MARKETLAKE_MEMORY_BUDGET), else the default."""
    from marketlake.config import load_config
    from marketlake.pipeline.memory_budget import parse_budget

    if value is None:
        config = current().config
        value = (load_config(config) if config else load_config()).memory_budget
    return parse_budget(value)


def _run(source: object, tables: list[str], *, warehouse: Path, symbols: list[str] | None,
         start: datetime | None, end: datetime | None, memory_budget: str | None = None,
         executor: str = "local", scheduler: str | None = None, workers: int | None = None) -> None:
    from marketlake.pipeline import ingest_source
    from marketlake.pipeline.executors import make_executor
    from marketlake.storage import DeltaStore

    budget = resolve_budget(memory_budget)
    out = console()
    for t in tables:
        get_table(t)
    store = DeltaStore(warehouse)
    reports = []
    name = getattr(source, "name", "source")
    runner = make_executor(executor, scheduler=scheduler, workers=workers)
    with closing(runner), store.writer_lock(), \
            current().reporter().task(f"ingest {name}", total=len(tables), unit="tables") as task:
        for t in tables:
            def on_batch(table: str, i: int, rows: int) -> None:
                task.stage(f"{table}: fetched batch {i} ({rows:,} rows)")

            def on_stage(message: str, table: str = t) -> None:
                task.stage(f"{table}: {message}")

            reports += ingest_source(
                store, source, [t], symbols=symbols, start=start, end=end,  # type: ignore[arg-type]
                on_batch=on_batch, progress=on_stage, memory_budget=budget, executor=runner,
            )
            task.advance()
    if not current().quiet:
        print_grid(reports_table(reports), out)
    print_rejections(out, reports)


def synthetic(
    table: TablesOption = None,
    stocks: Annotated[int, typer.Option(help="Number of synthetic stocks (SPY included).")] = 20,
    crypto: Annotated[int, typer.Option(help="Number of synthetic crypto pairs (BTC/USD included).")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same market.")] = 42,
    start: Annotated[str | None, typer.Option(help="First date (ISO).")] = None,
    end: Annotated[str | None, typer.Option(help="Last date (ISO).")] = None,
    symbols: Annotated[str | None, typer.Option("--symbols", "-s", help="Comma-separated subset of symbols.")] = None,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    memory_budget: MemoryBudgetOption = None,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
) -> None:
    """Generate an offline, deterministic market and load it."""
    source = get_source("synthetic", stocks=stocks, crypto=crypto, seed=seed)
    _run(source, list(table or TABLE_NAMES), warehouse=warehouse, symbols=split_symbols(symbols),
         start=parse_when(start), end=parse_when(end), memory_budget=memory_budget, executor=executor,
         scheduler=scheduler, workers=workers)


def _file_import(kind: str, path: Path, table: str, symbol: str | None, tz: str | None, warehouse: Path,
                 memory_budget: str | None = None, executor: str = "local", scheduler: str | None = None,
                 workers: int | None = None) -> None:
    if not path.exists():
        raise ConfigError(f"{path} does not exist")
    options: dict[str, object] = {"path": path}
    if symbol:
        options["symbol"] = symbol
    if tz is not None:  # an empty --tz is an error (checked by the source), not "the default zone"
        options["tz"] = tz
    source = get_source(kind, **options)
    _run(source, [table], warehouse=warehouse, symbols=None, start=None, end=None, memory_budget=memory_budget,
         executor=executor, scheduler=scheduler, workers=workers)


def csv(
    path: Annotated[Path, typer.Argument(help="CSV file (optionally .gz): symbol,datetime,open,high,low,close,volume")],
    table: Annotated[str, typer.Option("--table", "-t", help="Target production table.")],
    symbol: Annotated[str | None, typer.Option(help="Symbol for files without a symbol column.")] = None,
    tz: Annotated[str | None, typer.Option(help="Time zone of naive timestamps (default: the exchange's).")] = None,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    memory_budget: MemoryBudgetOption = None,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
) -> None:
    """Import bars from a CSV file; bad rows go to `quarantine` with the reason."""
    _file_import("csv", path, table, symbol, tz, warehouse, memory_budget, executor, scheduler, workers)


def parquet(
    path: Annotated[Path, typer.Argument(help="Parquet file or directory with the bar columns.")],
    table: Annotated[str, typer.Option("--table", "-t", help="Target production table.")],
    symbol: Annotated[str | None, typer.Option(help="Symbol for files without a symbol column.")] = None,
    tz: Annotated[str | None, typer.Option(help="Time zone of naive timestamps.")] = None,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    memory_budget: MemoryBudgetOption = None,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
) -> None:
    """Import bars from Parquet; bad rows go to `quarantine` with the reason."""
    _file_import("parquet", path, table, symbol, tz, warehouse, memory_budget, executor, scheduler, workers)


def register_ingest(ingest_app: typer.Typer) -> None:
    ingest_app.command("synthetic")(synthetic)
    ingest_app.command("csv")(csv)
    ingest_app.command("parquet")(parquet)
