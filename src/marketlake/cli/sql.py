"""`marketlake sql "QUERY"`: run DuckDB SQL over the warehouse (every table is a view by its name)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import typer
from rich.table import Table

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console
from marketlake.warehouse import Warehouse

Format = Literal["table", "csv", "json"]


def render(result: pa.Table, *, limit: int = 200) -> Table:
    """A Rich table of the first `limit` rows."""
    out = Table(caption=f"{result.num_rows:,} rows" + (f" (first {limit} shown)" if result.num_rows > limit else ""))
    for name in result.column_names:
        out.add_column(name)
    for row in result.slice(0, limit).to_pylist():
        out.add_row(*["NULL" if v is None else str(v) for v in row.values()])
    return out


def sql(
    query: Annotated[str, typer.Argument(help="DuckDB SQL, e.g. \"SELECT * FROM stocks_daily_clean LIMIT 5\".")],
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    safe: Annotated[bool, typer.Option("--safe", help="Only the warehouse's views: no other file, no network, "
                                       "no extension, configuration locked (for queries you did not write).")] = False,
) -> None:
    """Run a query; production and support tables are views by their names.

    Full DuckDB by default (your own queries may read other files or COPY results out); `--safe` for
    queries from elsewhere.
    """
    result = Warehouse(warehouse).sql(query, as_="arrow", safe=safe)
    if fmt == "csv":
        sink = pa.BufferOutputStream()
        pacsv.write_csv(result, sink)
        typer.echo(sink.getvalue().to_pybytes().decode(), nl=False)
    elif fmt == "json":
        typer.echo(json.dumps(result.to_pylist(), default=str))
    else:
        console().print(render(result))


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)


__all__ = ["register", "render", "sql"]
