"""Rows out of any command the same way: `--format table|csv|json|parquet` and `--output FILE`.

`table` is for people: a Rich grid while the columns fit the console, otherwise one block per row with a
`column: value` line per field (psql's expanded display), so a 97-column result stays readable instead of
a grid of empty slivers. `csv` and `json` are for programs (`json` is a list of objects, datetimes as ISO
strings); `parquet` needs `--output`. With `--output FILE` the rows go to the file and one line on stderr
says where; without it they go to stdout.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from marketlake.errors import ConfigError


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


FormatOption = Annotated[
    Format, typer.Option("--format", "-f", help="table (for people), csv, json, or parquet (with --output).")
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the rows to this file instead of stdout.")
]
_MIN_CELL = 6  # narrower than this a grid column stops being readable


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def fits(rows: pa.Table, width: int, sample: int = 50) -> bool:
    """Whether a grid of `rows` fits `width` columns of text, judged on the header and the first rows."""
    head = rows.slice(0, sample).to_pylist()
    total = 0
    for name in rows.column_names:
        widest = max([len(name), *(len(_cell(r[name])) for r in head)])
        total += max(_MIN_CELL, min(widest, 40)) + 3
    return total <= width


def render_table(rows: pa.Table, *, width: int, limit: int = 200, title: str | None = None,
                 expand: bool | None = None) -> list[Any]:
    """Rich renderables for `rows`: a grid when it fits `width`, expanded records otherwise (or as `expand`)."""
    shown = rows.slice(0, limit)
    note = f"{rows.num_rows:,} rows" + (f" (first {limit} shown; --format csv or --output FILE for all)"
                                        if rows.num_rows > limit else "")
    as_grid = fits(rows, width) if expand is None else not expand
    if as_grid:
        grid = Table(title=title)
        for name in rows.column_names:
            grid.add_column(name, overflow="fold")
        for record in shown.to_pylist():
            grid.add_row(*[_cell(v) for v in record.values()])
        return [grid, note]  # the note on its own line: a caption would wrap to the grid's width
    label = max((len(c) for c in rows.column_names), default=0)
    out: list[Any] = []
    if title:
        out.append(f"[bold]{title}[/bold]")
    for i, record in enumerate(shown.to_pylist(), 1):
        out.append(f"[bold]-[ row {i} ]{'-' * max(0, min(width, 60) - 12)}[/bold]")
        out.extend(f"{name.ljust(label)} | {_cell(value)}" for name, value in record.items())
    hint = " (select fewer columns for a grid)" if expand is None else ""
    out.append(f"{note}; {rows.num_columns} columns shown one per line because they do not fit {width} characters"
               + hint)
    return out


def emit(rows: pa.Table, *, fmt: Format | str = Format.table, output: Path | None = None,
         console: Console | None = None, title: str | None = None, limit: int = 200) -> None:
    """Write `rows` in `fmt` to `output` or stdout (see the module docstring)."""
    fmt = Format(fmt)
    if fmt is Format.parquet and output is None:
        raise ConfigError("--format parquet writes a binary file: give --output FILE.parquet")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        if fmt is Format.parquet:
            pq.write_table(rows, output)
        elif fmt is Format.csv:
            pacsv.write_csv(rows, output)
        elif fmt is Format.json:
            output.write_text(json.dumps(rows.to_pylist(), default=_json_default, indent=1) + "\n")
        else:
            with output.open("w") as fh:
                file_console = Console(file=fh, width=200, soft_wrap=False, color_system=None)
                for part in render_table(rows, width=200, limit=rows.num_rows, title=title):
                    file_console.print(part, highlight=False)
        typer.echo(f"wrote {rows.num_rows:,} rows to {output}", err=True)
        return
    if fmt is Format.csv:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(rows, sink)
        typer.echo(sink.getvalue().to_pybytes().decode(), nl=False)
    elif fmt is Format.json:
        typer.echo(json.dumps(rows.to_pylist(), default=_json_default))
    else:
        from marketlake.cli.common import console as make_console

        con = console or make_console()
        for part in render_table(rows, width=con.width, limit=limit, title=title):
            con.print(part, highlight=False)


def print_grid(grid: Table, console: Console | None = None) -> None:
    """Print a command's own Rich grid when its columns fit the console (long text may wrap); otherwise the same cells as one
    block per row (`column | value`), so a narrow terminal (COLUMNS=80) shows `crypto_hourly_clean`, not
    `crypto_ho…`, and no column is squeezed to nothing."""
    from rich.measure import Measurement

    from marketlake.cli.common import console as make_console

    con = console or make_console()
    # the narrowest the grid can be with every cell wrapped at word boundaries: below that Rich truncates
    narrowest = Measurement.get(con, con.options.update(width=100_000), grid).minimum
    if narrowest <= con.width or not grid.columns:
        con.print(grid)
        return
    names = [str(c.header) for c in grid.columns]
    cells = [list(c.cells) for c in grid.columns]
    records = [{n: str(col[i]) for n, col in zip(names, cells)} for i in range(grid.row_count)]
    title = str(grid.title) if grid.title else None
    parts = render_table(records_to_table(records), width=con.width, limit=max(1, grid.row_count), title=title,
                         expand=True) if records else [grid]
    for part in parts:
        con.print(part, highlight=False)


def emit_records(records: list[dict[str, Any]], *, fmt: Format | str, output: Path | None, as_json: bool = False,
                 human: Callable[[], None]) -> None:
    """A command's result objects: its own Rich rendering (`human`) for `table` on the terminal, else `emit`.

    `--json` (the older flag) is `--format json`; JSON on stdout keeps its indented layout.
    """
    fmt = Format.json if as_json else Format(fmt)
    if fmt is Format.table and output is None:
        human()
    elif fmt is Format.json and output is None:
        typer.echo(json.dumps(records, default=_json_default, indent=2))
    else:
        emit(records_to_table(records), fmt=fmt, output=output)


def records_to_table(records: list[dict[str, Any]]) -> pa.Table:
    """Plain dicts (a command's result objects) as an Arrow table, for `emit`."""
    return pa.Table.from_pylist(records) if records else pa.table({})


__all__ = ["Format", "FormatOption", "OutputOption", "emit", "emit_records", "fits", "print_grid",
           "records_to_table", "render_table"]
