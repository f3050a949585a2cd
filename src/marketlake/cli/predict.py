"""`marketlake predict --model M`: score the latest bars and serve them in the `signals` table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console, split_symbols
from marketlake.cli.options import current
from marketlake.cli.output import Format, FormatOption, OutputOption, emit, print_grid


def predict_cmd(
    model: Annotated[Path, typer.Option("--model", "-m", help="Saved model directory (research baseline --save-model).")],
    table: Annotated[str | None, typer.Option("--table", "-t", help="Table to score (default: the model's).")] = None,
    universe: Annotated[str | None, typer.Option("--universe", "-u", help="Named universe to score.")] = None,
    symbols: Annotated[str | None, typer.Option("--symbols", "-s", help="Comma-separated symbols to score.")] = None,
    last: Annotated[int, typer.Option("--last", help="Score the N latest datetimes.")] = 1,
    name: Annotated[str | None, typer.Option("--name", help="Model name stored with the scores.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Compute and show; write nothing.")] = False,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """Features of the latest bars from the warehouse's engine, scored, written to `signals`."""
    from marketlake.research.predict import predict

    with current().reporter().task("predict", unit="symbols") as task:
        task.stage("features of the latest bars, then scores")
        p = predict(warehouse, model, table=table, symbols=split_symbols(symbols), universe=universe, last=last,
                    name=name, write=not dry_run)
    s = p.signals.sort_by([("datetime", "descending"), ("score", "descending")])
    if fmt is not Format.table or output is not None:  # files and programs get every score
        emit(s, fmt=fmt, output=output)
        typer.echo(f"{'wrote' if p.written else 'would write'} {p.signals.num_rows} scores to signals"
                   + (" (dry run)" if dry_run else ""), err=True)
        return
    t = Table(title=f"{p.model.name} (version {p.model.version}) on {p.table} version {p.source_version}")
    for c in ("symbol", "datetime", "score", "rank"):
        t.add_column(c, justify="left" if c in ("symbol", "datetime") else "right")
    for r in s.slice(0, 10).to_pylist():
        t.add_row(r["symbol"], f"{r['datetime']:%Y-%m-%d %H:%M}", f"{r['score']:.6f}",
                  "-" if r["rank"] is None else f"{r['rank']:.3f}")
    out = console()
    print_grid(t, out)
    verb = "wrote" if p.written else "would write"
    out.print(f"{verb} {p.signals.num_rows} scores to signals" + (" (dry run)" if dry_run else ""))


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_cmd)


__all__ = ["register"]
