"""`marketlake ingest twelvedata|binance`: vendor backfill and incremental updates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console, parse_when, split_symbols
from marketlake.errors import ConfigError
from marketlake.sources.redact import redact


def twelvedata(
    table: Annotated[str, typer.Option("--table", "-t", help="Production table, e.g. stocks_daily_clean.")],
    symbols: Annotated[str | None, typer.Option("--symbols", "-s", help="Comma-separated symbols.")] = None,
    universe: Annotated[str | None, typer.Option("--universe", "-u", help="Named universe from the config.")] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="basic, grow, pro, ultra, custom (default: config).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Config file.")] = None,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for another run to finish (0: refuse).")] = 0.0,
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
    names = split_symbols(symbols)
    if universe:
        names = (names or []) + resolve_universe(universe, cfg, table=spec.name)
    if not names:
        raise ConfigError("give --symbols A,B,C or --universe NAME")
    store = DeltaStore(warehouse)
    out = console()
    client = make_client(cfg, plan=plan, usage=StoreUsage(store))
    with client:
        report = ingest_twelvedata(store, spec, names, client=client, lock_wait=wait if wait > 0 else False,
                                   progress=lambda m: out.print(f"[dim]{m}[/dim]"))
    out.print(f"{report.table}: {report.symbols} symbols, {report.requested} requested, {report.up_to_date} up to date, "
              f"{report.rows_changed:,} rows written, {report.credits} credits in {report.requests} requests, "
              f"{report.seconds:.1f}s")
    for sym, reason in sorted(report.not_found.items()):
        out.print(f"[yellow]inactive[/yellow] {sym}: {redact(reason)}")


def binance(
    table: Annotated[str, typer.Option("--table", "-t", help="Crypto table, e.g. crypto_daily_clean.")],
    symbols: Annotated[str, typer.Option("--symbols", "-s", help="Comma-separated pairs: BTC/USD,ETH/BTC or BTCUSDT.")],
    start: Annotated[str | None, typer.Option("--start", help="First bar (ISO, UTC); default: resume.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last bar (ISO, UTC).")] = None,
    keep_vendor_symbols: Annotated[bool, typer.Option(
        "--keep-vendor-symbols", help="Store Binance's pair (BTCUSDT) instead of BTC/USD.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Config file.")] = None,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for another run to finish (0: refuse).")] = 0.0,
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
    out = console()
    with make_client(cfg) as client:
        source = BinanceSource(client=client, keep_vendor_symbols=keep_vendor_symbols)
        report = ingest_binance(DeltaStore(warehouse), spec, names, source=source,
                                start=parse_when(start), end=parse_when(end), lock_wait=wait if wait > 0 else False,
                                progress=lambda m: out.print(f"[dim]{m}[/dim]"))
    out.print(f"{report.table}: {report.symbols} symbols, {report.rows_changed:,} rows written, "
              f"weight {report.weight} in {report.requests} requests, {report.seconds:.1f}s")
    for sym, reason in sorted(report.not_found.items()):
        out.print(f"[yellow]not loaded[/yellow] {sym}: {reason}")



def register_ingest(ingest_app: typer.Typer) -> None:
    ingest_app.command("twelvedata")(twelvedata)
    ingest_app.command("binance")(binance)
