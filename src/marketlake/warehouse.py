"""Warehouse: the user-facing entry point to read tables and query them with SQL.

A thin layer over `DeltaStore`: conversions to pandas/polars and DuckDB views. Every SQL call builds
views on the current active file list of each table, so queries always see the latest commit and DuckDB
prunes row groups by the Parquet statistics the writer keeps sorted by (symbol, datetime).
"""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from marketlake.errors import StorageError
from marketlake.schema import SUPPORT_SCHEMAS, TABLE_NAMES, bar_schema
from marketlake.storage import DeltaStore, TableInfo

OutputKind = Literal["pandas", "arrow", "polars"]
Bound = str | date | datetime | None


def _convert(table: pa.Table, as_: OutputKind) -> Any:
    if as_ == "arrow":
        return table
    if as_ == "polars":
        import polars as pl

        return pl.from_arrow(table)
    if as_ == "pandas":
        return table.to_pandas()
    raise ValueError(f"as_ must be 'pandas', 'arrow' or 'polars', not {as_!r}")


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Warehouse:
    """A warehouse directory: `read`, `sql`, `tables`; `.store` for writes and maintenance."""

    def __init__(self, path: str | Path | None = None, *, storage_options: dict[str, str] | None = None) -> None:
        root = path if path is not None else os.environ.get("MARKETLAKE_WAREHOUSE", "warehouse")
        self.store = DeltaStore(root, storage_options=storage_options)

    def __repr__(self) -> str:
        return f"Warehouse({self.store.root!r})"

    def read(
        self,
        table: str,
        symbols: str | list[str] | None = None,
        start: Bound = None,
        end: Bound = None,
        columns: list[str] | None = None,
        *,
        as_: OutputKind = "pandas",
    ) -> Any:
        """Rows of a production table sorted by (symbol, datetime); start/end inclusive, naive = UTC."""
        if isinstance(symbols, str):
            symbols = [symbols]
        return _convert(self.store.read(table, symbols=symbols, start=start, end=end, columns=columns), as_)

    def tables(self) -> list[TableInfo]:
        """Inventory of every Delta table in the warehouse, production tables first."""
        return [self.store.table_info(name) for name in self.store.tables()]

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with one view per table (the caller closes it)."""
        con = duckdb.connect()
        for name in self.store.tables():
            if name not in TABLE_NAMES and name not in SUPPORT_SCHEMAS and not self.store.exists(name):
                continue
            files = self.store.active_files(name)
            if files:
                listing = ", ".join(_sql_str(f) for f in files)
                cols = bar_schema().names if name in TABLE_NAMES else None
                select = ", ".join(_ident(c) for c in cols) if cols else "*"
                con.execute(
                    f"CREATE VIEW {_ident(name)} AS SELECT {select} FROM read_parquet([{listing}], "
                    f"hive_partitioning = false, union_by_name = true)"
                )
            else:
                schema = bar_schema() if name in TABLE_NAMES else SUPPORT_SCHEMAS.get(name)
                if schema is None:
                    schema = pa.schema(self.store.table(name).schema().to_arrow())
                con.register(f"__empty_{name}", schema.empty_table())
                con.execute(f"CREATE VIEW {_ident(name)} AS SELECT * FROM {_ident('__empty_' + name)}")
        return con

    def sql(self, query: str, *, as_: OutputKind = "pandas") -> Any:
        """Run a DuckDB query where every table is a view by its name (97 columns, no `_partition`)."""
        con = self.connect()
        try:
            relation = con.sql(query)
            result = relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as exc:
            tables = ", ".join(self.store.tables()) or "none yet"
            raise StorageError(f"SQL failed: {exc}. Tables available as views: {tables}") from None
        finally:
            con.close()
        return _convert(result, as_)


__all__ = ["Warehouse"]
