"""`marketlake tables`: rows, symbols, date range, partitions, files and size of every table."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption
from marketlake.cli.output import Format, FormatOption, OutputOption, emit, print_grid, records_to_table
from marketlake.storage import TableInfo
from marketlake.warehouse import Warehouse


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def render(infos: list[TableInfo]) -> Table:
    """A Rich table of the inventory (one row per table)."""
    out = Table(title="marketlake tables")
    for col, justify in (("table", "left"), ("rows", "right"), ("symbols", "right"), ("from", "left"),
                         ("to", "left"), ("partitions", "right"), ("files", "right"), ("size", "right"),
                         ("version", "right")):
        out.add_column(col, justify=justify)  # type: ignore[arg-type]
    for i in infos:
        out.add_row(i.name, f"{i.rows:,}", "-" if i.symbols is None else f"{i.symbols:,}", _day(i.min_datetime),
                    _day(i.max_datetime), str(i.partitions), str(i.files), _size(i.bytes), str(i.version))
    return out


def tables(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Show every table of the warehouse: rows, symbols, date range, partitions, files, bytes."""
    infos = Warehouse(warehouse).tables()
    fmt = Format.json if as_json else fmt
    if fmt is Format.json and output is None:  # the historical layout: one indented object per table
        typer.echo(json.dumps([asdict(i) for i in infos], default=str, indent=2))
        return
    if fmt is Format.table and output is None:
        print_grid(render(infos))  # one block per table when the grid does not fit the console
        return
    emit(records_to_table([asdict(i) for i in infos]), fmt=fmt, output=output)


def register(app: typer.Typer) -> None:
    app.command("tables")(tables)


__all__ = ["register", "render", "tables"]
