"""`marketlake ingest <vendor>`: one command per registered vendor, built from the registry.

Why built, not written: every vendor runs the same verb (`pipeline.ingestion.ingest`), so every
`ingest <vendor>` command takes the same options (`-t`, `-s`, `--universe`, `--start/--end`, `--wait`,
`--dry-run`, `-w`, `--config`, `--memory-budget`, `--executor/--scheduler/--workers`) plus the vendor's own (`Vendor.cli_options`: TwelveData's `--plan`,
Binance's `--keep-vendor-symbols`). The `ingest` group resolves a vendor's command when it is asked
for (`VendorGroup`), so a vendor registered by a plug-in or a test suite gets its command too.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from marketlake.cli.common import (
    DEFAULT_WAREHOUSE,
    WarehouseOption,
    configure_lock,
    console,
    parse_when,
    split_symbols,
)
from marketlake.cli.ingest import ExecutorOption, MemoryBudgetOption, SchedulerOption, WorkersOption
from marketlake.cli.options import current
from marketlake.cli.output import print_grid
from marketlake.errors import ConfigError, SourceError
from marketlake.sources import registry
from marketlake.sources.redact import redact

if TYPE_CHECKING:
    from marketlake.pipeline.window import FetchPlan, IngestResult
    from marketlake.sources.vendor import Vendor


def _wait(seconds: float | None) -> float | bool | None:
    return None if seconds is None else (float(seconds) if seconds > 0 else False)


DryRunOption = Annotated[bool, typer.Option(
    "--dry-run", help="Print what would be fetched and written and what it would cost; send nothing.")]


def run_vendor_command(vendor: Vendor, *, table: str, symbols: str | None, universe: str | None, start: str | None,
                       end: str | None, config: Path | None, wait: float | None, dry_run: bool, warehouse: Path,
                       options: dict[str, Any], memory_budget: str | None = None, executor: str = "local",
                       scheduler: str | None = None, workers: int | None = None) -> IngestResult:
    """The body of every `ingest <vendor>` command (also what a script would call to do the same).

    `executor` (`dask`): the compute and writes of the fetched pages run as symbol-group tasks on a Dask
    cluster; the vendor is asked from here, under the one credit budget, whatever the executor."""
    from contextlib import closing

    from marketlake.config import load_config
    from marketlake.pipeline.executors import make_executor
    from marketlake.pipeline.ingestion import ingest
    from marketlake.pipeline.memory_budget import parse_budget
    from marketlake.pipeline.window import Window
    from marketlake.schema import get_table
    from marketlake.storage import DeltaStore

    spec = get_table(table)
    vendor.check_table(spec)  # refuse a table the vendor cannot serve before touching anything
    cfg = load_config(config) if config else load_config()
    configure_lock(cfg)
    names = split_symbols(symbols) or []
    if universe:
        names += vendor.universe(universe, cfg, table=spec.name)
    if not names:
        raise ConfigError("give --symbols A,B,C or --universe NAME")
    out = console()
    unit = "symbols" if vendor.cost_unit == "credits" else "pairs"
    runner = make_executor(executor, scheduler=scheduler, workers=workers)  # connects on its first task only
    given = memory_budget if memory_budget is not None else cfg.memory_budget
    budget = parse_budget(given) if given is not None else None  # a bad size: refused before any request
    with closing(runner), current().reporter().task(f"ingest {vendor.name} {spec.name}", unit=unit) as task:
        # vendor messages are progress: timestamped lines on stderr when piped, above the bar on a terminal
        result = ingest(DeltaStore(warehouse), vendor.name, spec.name, names,
                        window=Window(start=parse_when(start), end=parse_when(end)), config=cfg,
                        progress=task.log, dry_run=dry_run, options=options, lock_wait=_wait(wait),
                        executor=runner, memory_budget=budget)
    if dry_run:
        assert result.plan is not None
        limits = vendor.limits(cfg, options)
        _print_plan(result.plan, unit=vendor.cost_unit,
                    note=f"plan {limits.name}: {limits.credits_per_minute:,}/min"
                         + (f", {limits.credits_per_day:,}/day" if limits.credits_per_day else ""))
        return result
    cost = f"{result.credits} credits" if vendor.cost_unit == "credits" else f"{vendor.cost_unit} {result.credits}"
    out.print(f"{result.table}: {result.symbols} symbols, {result.requested} requested, {result.up_to_date} up to "
              f"date, {result.rows_changed:,} rows written, {cost} in {result.requests} requests, "
              f"{result.seconds:.1f}s")
    for sym, reason in sorted(result.not_found.items()):
        out.print(f"[yellow]inactive[/yellow] {sym}: {redact(reason)}")
    for sym, reason in sorted(result.failed.items()):
        out.print(f"[yellow]failed[/yellow] {sym}: {redact(reason)} (asked again next run)")
    _refuse_all_failed(vendor.name, result)
    return result


def vendor_command(vendor: Vendor) -> Any:
    """A Typer command function for `vendor`: the shared options plus the vendor's own."""
    shared = [
        ("table", Annotated[str, typer.Option("--table", "-t", help="Production table, e.g. "
                                              + ("crypto_daily_clean." if "stocks" not in vendor.assets
                                                 else "stocks_daily_clean."))], inspect.Parameter.empty),
        ("symbols", Annotated[str | None, typer.Option("--symbols", "-s", help=vendor.symbols_help)], None),
        ("universe", Annotated[str | None, typer.Option("--universe", "-u", help="Named universe from the config.")],
         None),
        ("start", Annotated[str | None, typer.Option("--start", help="First bar (ISO, UTC): load start..end "
                                                     "for every symbol; default: resume each from its last bar.")],
         None),
        ("end", Annotated[str | None, typer.Option("--end", help="Last bar (ISO, UTC).")], None),
    ]
    own = [(o.name, Annotated[(o.type if o.type is bool else o.type | None),  # type: ignore[operator]
                              typer.Option(o.flag, help=o.help)], o.default) for o in vendor.cli_options]
    tail = [
        ("config", Annotated[Path | None, typer.Option("--config", help="Config file.")], None),
        ("wait", Annotated[float | None, typer.Option(
            "--wait", help="Seconds to wait for another writer (0: refuse at once; default: lock_wait_seconds).",
            show_default=False)], None),
        ("dry_run", DryRunOption, False),
        ("warehouse", WarehouseOption, DEFAULT_WAREHOUSE),
        ("memory_budget", MemoryBudgetOption, None),
        ("executor", ExecutorOption, "local"),
        ("scheduler", SchedulerOption, None),
        ("workers", WorkersOption, None),
    ]
    params = shared + own + tail
    own_names = {o.name for o in vendor.cli_options}

    def command(**kwargs: Any) -> None:
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in own_names}
        run_vendor_command(vendor, options=options, **kwargs)

    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a) for n, a, d in params])
    command.__annotations__ = {n: a for n, a, _ in params} | {"return": None}
    command.__name__ = vendor.name
    command.__doc__ = vendor.help or f"Backfill and update a table from {vendor.name}."
    return command


def _click_command(vendor: Vendor) -> Any:
    from marketlake.cli.options import with_common_options

    sub = typer.Typer(add_completion=False)
    sub.command(vendor.name)(with_common_options(vendor_command(vendor)))
    return typer.main.get_command(sub)


class VendorGroup(TyperGroup):
    """The `ingest` group: its own commands plus one per registered vendor.

    Built anew for each invocation (Typer makes the click group when the app runs), so a vendor
    registered after import, by a plug-in or a test suite, has its command too.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in registry.vendors():
            if name not in self.commands:
                self.add_command(_click_command(registry.vendor(name)), name)


def _print_plan(plan: FetchPlan, *, unit: str, note: str) -> None:
    """A dry run's plan: one table, and one line that says nothing was sent."""
    from rich.table import Table

    grid = Table(title=f"ingest {plan.vendor} --dry-run: {plan.table}")
    for col in ("symbols", "backfill", "extend", "update", "up to date", "skipped", "requests", unit, "bars (est.)"):
        grid.add_column(col, justify="right", overflow="fold")  # narrow console: wrap digits, never "175…"
    grid.add_row(*(f"{v:,}" for v in (plan.symbols, plan.backfill, plan.extend, plan.update, plan.up_to_date,
                                        plan.skipped_inactive, plan.requests, plan.credits, plan.bars)))
    out = console()
    print_grid(grid, out)
    for line in plan.notes:
        out.print(f"[dim]{line}[/dim]")
    out.print(f"dry run ({note}): nothing was fetched or written, no {unit} spent")


def _refuse_all_failed(vendor: str, report: IngestResult) -> None:
    """A run that could serve none of its symbols exits non-zero (scripts and schedulers must notice)."""
    if report.all_failed:
        unknown, failed = len(report.not_found), len(report.failed.keys() - report.not_found.keys())
        raise SourceError(f"{vendor}: none of the {report.symbols} requested symbols could be loaded ({unknown} "
                          f"unknown or invalid, {failed} failed); check the symbols and the lines above",
                          source=vendor)


def register_ingest(ingest_app: typer.Typer) -> None:
    """Make the `ingest` group resolve one command per registered vendor (`VendorGroup`)."""
    ingest_app.info.cls = VendorGroup
