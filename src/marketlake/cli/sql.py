"""`marketlake sql "QUERY"`: run DuckDB SQL over the warehouse (every table is a view by its name)."""

from __future__ import annotations

from typing import Annotated, Any

import pyarrow as pa
import typer

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console
from marketlake.cli.output import Format, FormatOption, OutputOption, emit, render_table
from marketlake.warehouse import Warehouse


def render(result: pa.Table, *, limit: int = 200) -> list[Any]:
    """Rich renderables for a result: a grid when it fits the console, one block per row otherwise."""
    return render_table(result, width=console().width, limit=limit)


def sql(
    query: Annotated[str, typer.Argument(help='DuckDB SQL, e.g. "SELECT * FROM stocks_daily_clean LIMIT 5"; quote '
                                              'reserved column names: "check", "table".')],
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows shown in table format (files get all).")] = 200,
    safe: Annotated[bool, typer.Option("--safe", help="Only the warehouse's views: no other file, no network, "
                                       "no extension, configuration locked (for queries you did not write).")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Read each table as it was at this instant (ISO "
                                              "timestamp, UTC) or Delta version (an integer): time travel.")] = None,
) -> None:
    """Run a query; production and support tables are views by their names.

    Full DuckDB by default (your own queries may read other files or COPY results out); `--safe` for
    queries from elsewhere.
    """
    when: int | str | None = int(as_of) if as_of is not None and as_of.strip().isdigit() else as_of
    result = Warehouse(warehouse).sql(query, as_="arrow", safe=safe, as_of=when)
    emit(result, fmt=fmt, output=output, limit=limit)


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)


__all__ = ["register", "render", "sql"]
