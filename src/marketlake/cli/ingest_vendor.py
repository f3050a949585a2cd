"""`marketlake ingest twelvedata|binance`: vendor backfill and incremental updates."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from marketlake.cli.common import (
    DEFAULT_WAREHOUSE,
    WarehouseOption,
    configure_lock,
    console,
    parse_when,
    split_symbols,
)
from marketlake.cli.options import current
from marketlake.cli.output import print_grid
from marketlake.errors import ConfigError, SourceError
from marketlake.sources.redact import redact

if TYPE_CHECKING:
    from marketlake.pipeline.vendor_ingest import FetchPlan, IngestReport


def _wait(seconds: float | None) -> float | bool | None:
    return None if seconds is None else (float(seconds) if seconds > 0 else False)


def twelvedata(
    table: Annotated[str, typer.Option("--table", "-t", help="Production table, e.g. stocks_daily_clean.")],
    symbols: Annotated[str | None, typer.Option("--symbols", "-s", help="Comma-separated symbols.")] = None,
    universe: Annotated[str | None, typer.Option("--universe", "-u", help="Named universe from the config.")] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="basic, grow, pro, ultra, custom (default: config).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Config file.")] = None,
    wait: Annotated[float | None, typer.Option(
        "--wait", help="Seconds to wait for another writer (0: refuse at once; default: lock_wait_seconds).",
        show_default=False)] = None,
    dry_run: DryRunOption = False,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
) -> None:
    """Backfill each symbol to the table's history target, then update from the last stored bar."""
    from marketlake.config import load_config
    from marketlake.pipeline.vendor_ingest import StoreUsage, ingest_twelvedata
    from marketlake.schema import get_table
    from marketlake.sources.twelvedata import make_client
    from marketlake.sources.twelvedata.universes import resolve_universe
    from marketlake.storage import DeltaStore

    spec = get_table(table)
    cfg = load_config(config) if config else load_config()
    configure_lock(cfg)
    names = split_symbols(symbols)
    if universe:
        names = (names or []) + resolve_universe(universe, cfg, table=spec.name)
    if not names:
        raise ConfigError("give --symbols A,B,C or --universe NAME")
    store = DeltaStore(warehouse)
    out = console()
    if dry_run:
        from marketlake.pipeline.vendor_ingest import plan_twelvedata
        from marketlake.sources.budget import plan_limits

        td = cfg.twelvedata
        limits = plan_limits(plan or td.plan, credits_per_minute=td.credits_per_minute,
                             credits_per_day=td.credits_per_day)
        _print_plan(plan_twelvedata(store, spec, names, per_minute=limits.credits_per_minute,
                                    recheck_inactive_days=td.recheck_inactive_days), unit="credits",
                    note=f"plan {limits.name}: {limits.credits_per_minute:,}/min"
                         + (f", {limits.credits_per_day:,}/day" if limits.credits_per_day else ""))
        return
    client = make_client(cfg, plan=plan, usage=StoreUsage(store))
    with client, current().reporter().task(f"ingest twelvedata {spec.name}", unit="symbols") as task:
        report = ingest_twelvedata(store, spec, names, client=client, lock_wait=_wait(wait), progress=task.log,
                                   recheck_inactive_days=cfg.twelvedata.recheck_inactive_days)
    out.print(f"{report.table}: {report.symbols} symbols, {report.requested} requested, {report.up_to_date} up to date, "
              f"{report.rows_changed:,} rows written, {report.credits} credits in {report.requests} requests, "
              f"{report.seconds:.1f}s")
    for sym, reason in sorted(report.not_found.items()):
        out.print(f"[yellow]inactive[/yellow] {sym}: {redact(reason)}")
    for sym, reason in sorted(report.failed.items()):
        out.print(f"[yellow]failed[/yellow] {sym}: {redact(reason)} (asked again next run)")
    _refuse_all_failed("twelvedata", report)


def binance(
    table: Annotated[str, typer.Option("--table", "-t", help="Crypto table, e.g. crypto_daily_clean.")],
    symbols: Annotated[str, typer.Option("--symbols", "-s", help="Comma-separated pairs: BTC/USD,ETH/BTC or BTCUSDT.")],
    start: Annotated[str | None, typer.Option("--start", help="First bar (ISO, UTC); default: resume.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last bar (ISO, UTC).")] = None,
    keep_vendor_symbols: Annotated[bool, typer.Option(
        "--keep-vendor-symbols", help="Store Binance's pair (BTCUSDT) instead of BTC/USD.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Config file.")] = None,
    wait: Annotated[float | None, typer.Option(
        "--wait", help="Seconds to wait for another writer (0: refuse at once; default: lock_wait_seconds).",
        show_default=False)] = None,
    dry_run: DryRunOption = False,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
) -> None:
    """Load Binance public klines (no key); resumes from the last stored bar unless --start is given.

    Pairs are stored as BASE/QUOTE with stablecoin quotes (USDT, USDC, FDUSD, BUSD) as USD: BTCUSDT and
    BTC/USD both become BTC/USD, like TwelveData's crypto symbols.
    """
    from marketlake.config import load_config
    from marketlake.pipeline.vendor_ingest import ingest_binance
    from marketlake.schema import get_table
    from marketlake.sources.binance import BinanceSource, make_client
    from marketlake.sources.binance.fetcher import binance_interval
    from marketlake.storage import DeltaStore

    spec = get_table(table)
    binance_interval(spec)  # refuse a stocks table before touching anything
    names = split_symbols(symbols)
    if not names:
        raise ConfigError("give --symbols BTC/USD,ETHUSDT")
    cfg = load_config(config) if config else load_config()
    configure_lock(cfg)
    out = console()
    if dry_run:
        from marketlake.pipeline.vendor_ingest import plan_binance
        from marketlake.sources.binance.symbols import STABLECOIN_QUOTES, stored_name

        def offline_name(raw: str) -> str:  # exchangeInfo would cost a request: split the common quotes
            if "/" in raw or keep_vendor_symbols:
                return raw.upper()
            quote = next((q for q in (*sorted(STABLECOIN_QUOTES), "BTC", "ETH", "BNB", "EUR") if
                          raw.upper().endswith(q) and len(raw) > len(q)), None)
            return stored_name(raw.upper()[: -len(quote)], quote) if quote else raw.upper()

        stored = [offline_name(n) for n in names]
        _print_plan(plan_binance(DeltaStore(warehouse), spec, stored, start=parse_when(start), end=parse_when(end)),
                    unit="weight", note=f"Binance weight limit {cfg.binance.weight_per_minute:,}/min")
        return
    with make_client(cfg) as client, current().reporter().task(f"ingest binance {spec.name}", unit="pairs") as task:
        source = BinanceSource(client=client, keep_vendor_symbols=keep_vendor_symbols)
        report = ingest_binance(DeltaStore(warehouse), spec, names, source=source,
                                start=parse_when(start), end=parse_when(end), lock_wait=_wait(wait),
                                progress=task.log)
    out.print(f"{report.table}: {report.symbols} symbols, {report.rows_changed:,} rows written, "
              f"weight {report.weight} in {report.requests} requests, {report.seconds:.1f}s")
    for sym, reason in sorted(report.not_found.items()):
        out.print(f"[yellow]not loaded[/yellow] {sym}: {reason}")
    _refuse_all_failed("binance", report)


DryRunOption = Annotated[bool, typer.Option(
    "--dry-run", help="Print what would be fetched and written and what it would cost; send nothing.")]


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


def _refuse_all_failed(vendor: str, report: IngestReport) -> None:
    """A run that could serve none of its symbols exits non-zero (scripts and schedulers must notice)."""
    if report.all_failed:
        unknown, failed = len(report.not_found), len(report.failed.keys() - report.not_found.keys())
        raise SourceError(f"{vendor}: none of the {report.symbols} requested symbols could be loaded ({unknown} "
                          f"unknown or invalid, {failed} failed); check the symbols and the lines above",
                          source=vendor)



def register_ingest(ingest_app: typer.Typer) -> None:
    ingest_app.command("twelvedata")(twelvedata)
    ingest_app.command("binance")(binance)
