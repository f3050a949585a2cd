"""`marketlake report`: one self-contained HTML page (coverage, freshness, quality, credits, capacity, charts)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console, parse_when
from marketlake.cli.options import current
from marketlake.errors import ConfigError, StorageError


def _pairs(values: list[str] | None) -> list[tuple[str, str]] | None:
    """`table:SYMBOL` -> (table, SYMBOL); a bare symbol charts the daily table of its asset."""
    if not values:
        return None
    out = []
    for v in values:
        table, sep, symbol = v.partition(":")
        if not sep:
            table, symbol = ("crypto_daily_clean" if "/" in v else "stocks_daily_clean"), v
        out.append((table, symbol))
    return out


def report(
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("report.html"),
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    symbols: Annotated[list[str] | None, typer.Option(
        "--symbols", "-s", help="Candlestick charts of these symbols (A,B or repeated; `table:SYMBOL` for another "
                                "table). Default: each daily table's benchmark.")] = None,
    max_symbols: Annotated[int, typer.Option("--max-symbols", help="Most symbols per coverage heatmap.")] = 40,
    now: Annotated[str | None, typer.Option("--now", hidden=True, help="Judge freshness at this instant.")] = None,
) -> None:
    """Write one self-contained HTML report: coverage heatmaps, freshness, quality, credits, capacity, candles."""
    try:
        import plotly  # noqa: F401
    except ModuleNotFoundError:
        raise ConfigError("the report needs plotly: pip install 'marketlake[report]'") from None
    from marketlake.cli.status import coverage_plan
    from marketlake.config import load_config
    from marketlake.monitor.report import build_report
    from marketlake.monitor.status import plan_budgets
    from marketlake.sources.budget import plan_limits
    from marketlake.storage import DeltaStore

    cfg_path = current().config
    cfg = load_config(cfg_path) if cfg_path else load_config()
    store = DeltaStore(warehouse)
    if not store.remote and not os.path.isdir(store.root):
        raise StorageError(f"no warehouse at {store.root}: check the path (-w) or build one (`marketlake demo`)")
    td = cfg.twelvedata
    custom = td.plan == "custom"
    plan = plan_limits(td.plan, credits_per_minute=td.credits_per_minute if custom else None,
                       credits_per_day=td.credits_per_day if custom else None)
    targets, covered = coverage_plan(cfg)
    info = build_report(store, out, now=parse_when(now), targets=targets, covered=covered, budgets=plan_budgets(cfg),
                        plan=plan, candles=_pairs([s for part in (symbols or []) for s in part.split(",") if s.strip()] or None), max_symbols=max_symbols)
    console(stderr=True).print(f"report written to {info.path}: {len(info.charts)} charts, "
                               f"{info.bytes / 1e6:.1f} MB, {info.seconds:.1f} s")


def register(app: typer.Typer) -> None:
    app.command("report")(report)


__all__ = ["register", "report"]
