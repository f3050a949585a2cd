"""Warehouse: the user-facing entry point to read tables and query them with SQL.

A thin layer over `DeltaStore`: conversions to pandas/polars and DuckDB views. `sql` keeps one DuckDB
connection per Warehouse (Parquet footers cached by DuckDB) and, before each query, (re)creates the views
of only the tables the query text mentions whose Delta version changed since their view was built, so
queries always see the latest commit without re-binding every table each call. DuckDB prunes row groups
by the Parquet statistics the writer keeps sorted by (symbol, datetime).

`sql(..., safe=True)` is for queries the owner did not write (a shared notebook, a dashboard, an LLM):
a fresh connection whose views scan Arrow datasets that Python opened, then DuckDB's external access
is switched off and its configuration locked. DuckDB itself then opens no file and no URL (no
read_csv('/etc/passwd'), COPY TO, ATTACH, INSTALL/LOAD, httpfs), and no SET can turn that back on.
Full DuckDB stays the default for the owner's own queries.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from marketlake.errors import ConfigError, StorageError
from marketlake.frames import OutputKind, to_frame
from marketlake.schema import SUPPORT_SCHEMAS, TABLE_NAMES, bar_schema
from marketlake.storage import DeltaStore, TableInfo

if TYPE_CHECKING:
    from marketlake.pipeline.report import LoadReport

Bound = str | date | datetime | None


def _to_pandas(frame: Any, what: str) -> Any:
    """pandas stays as is; Arrow tables and Polars frames are converted (both have `to_pandas`)."""
    import pandas as pd

    if isinstance(frame, pd.DataFrame):
        return frame
    if hasattr(frame, "to_pandas"):
        return frame.to_pandas()
    raise ConfigError(f"{what} must be a pandas or Polars DataFrame or an Arrow table, not {type(frame).__name__}")


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Warehouse:
    """A warehouse directory: `read`, `sql`, `tables`; `.store` for writes and maintenance."""

    def __init__(self, path: str | Path | None = None, *, storage_options: dict[str, str] | None = None) -> None:
        root = path if path is not None else os.environ.get("MARKETLAKE_WAREHOUSE", "warehouse")
        self.store = DeltaStore(root, storage_options=storage_options)
        self._lock = threading.RLock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._con_pid = 0
        self._views: dict[str, int] = {}  # table -> Delta version its view was built on

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
        resample: str | None = None,
        adjust: str = "splits",
        as_of: int | str | date | datetime | None = None,
        as_: OutputKind = "pandas",
    ) -> Any:
        """Rows of a production table sorted by (symbol, datetime); start/end inclusive, naive = UTC.

        `columns` selects fields; `symbol` and `datetime` always come first, so rows stay identifiable.
        `resample` ("5min", "15min", "1h", "1d", ...) aggregates the stored bars into coarser bars aligned
        to the sessions (see `marketlake.resample`): the result has symbol, datetime and OHLCV only.
        `adjust`: "splits" (as stored: split-adjusted as of the latest split), "none" (prices and volume as
        traded) or "total_return" (dividends reinvested); see docs/corporate-actions.md.
        `as_of`: an int is the table's Delta version (the rows exactly as stored then); a date, datetime or
        ISO string picks the version current at that instant (Delta time travel). How far back it reaches
        is bounded by the janitor's vacuum horizon (`janitor plan` names it before a vacuum).
        """
        from marketlake.actions.adjust import ADJUST_MODES, adjust_rows

        if adjust not in ADJUST_MODES:
            raise ConfigError(f"adjust must be one of {', '.join(ADJUST_MODES)}, not {adjust!r}")
        self._require_warehouse()
        if isinstance(symbols, str):
            symbols = [symbols]
        if as_of is not None and adjust != "splits":
            raise ConfigError("as_of= reads the bars as they were stored (adjust='splits'); undoing splits as of "
                              "a past version is not supported yet")
        if resample is not None:
            from marketlake.resample import RESAMPLE_COLUMNS, resample_bars, rule_ns
            from marketlake.schema import get_table

            spec = get_table(table)
            rule_ns(resample, spec)  # a bad rule fails before any file is read
            extra = [c for c in columns or () if c not in RESAMPLE_COLUMNS]
            if extra:
                raise ConfigError(
                    f"resample= returns symbol, datetime and OHLCV only; drop {extra} from columns= or read "
                    f"them without resample="
                )
            rows = self._rows(table, symbols, start, end, list(RESAMPLE_COLUMNS), as_of)
            rows = adjust_rows(self.store, table, rows, adjust)
            return to_frame(resample_bars(rows, spec, resample), as_)
        if columns is not None:
            columns = ["symbol", "datetime", *[c for c in columns if c not in ("symbol", "datetime")]]
        rows = self._rows(table, symbols, start, end, columns, as_of)
        return to_frame(adjust_rows(self.store, table, rows, adjust), as_)

    def _rows(self, table: str, symbols: list[str] | None, start: Bound, end: Bound, columns: list[str] | None,
              as_of: int | str | date | datetime | None) -> pa.Table:
        """The latest rows, or those of a past version (`as_of`: version number or instant)."""
        if as_of is None:
            return self.store.read(table, symbols=symbols, start=start, end=end, columns=columns)
        from marketlake.storage.versioned import read_at

        if isinstance(as_of, bool):
            raise ConfigError("as_of must be a Delta version (int) or a date/datetime, not a bool")
        version, when = (as_of, None) if isinstance(as_of, int) else (None, as_of)
        rows, _info = read_at(self.store, table, version=version, timestamp=when, symbols=symbols, start=start,
                              end=end, columns=columns)
        return rows

    def ingest(
        self,
        frame: Any,
        *,
        table: str,
        source: str = "python",
        metadata: Any = None,
        progress: Callable[[str], None] | None = None,
    ) -> LoadReport:
        """Load raw bars (pandas, Polars or Arrow; `symbol, datetime, open, high, low, close, volume`) into
        `table` through the same pipeline as every other source: validation (bad rows go to `quarantine`
        with the reason), the 97 fields, one Delta commit. Re-running with the same bars changes nothing.

        `source` is stored on the rows; `metadata` (one row per symbol: sector, exchange, ...) fills the
        metadata columns, with gaps filled from the symbol master.
        """
        import pandas as pd

        from marketlake.pipeline import load_bars

        raw = _to_pandas(frame, "frame")
        meta = None if metadata is None else _to_pandas(metadata, "metadata")
        if not isinstance(raw, pd.DataFrame):
            raise ConfigError("ingest() takes a pandas or Polars DataFrame or an Arrow table")
        with self.store.writer_lock():
            return load_bars(self.store, table, raw, source=source, metadata=meta, progress=progress)

    def tables(self) -> list[TableInfo]:
        """Inventory of every Delta table in the warehouse, production tables first."""
        self._require_warehouse()
        return [self.store.table_info(name) for name in self.store.tables()]

    def _require_warehouse(self) -> None:
        """A missing local warehouse is a mistake (a typo, the wrong directory), never an empty result."""
        if self.store.remote:
            if not self.store.bucket_exists():
                raise StorageError(f"no warehouse at {self.store.root}: its bucket (or container) does not exist or "
                                   f"cannot be seen with these credentials; create it, or check AWS_ENDPOINT_URL and "
                                   f"the credentials")
            return
        if not os.path.isdir(self.store.root):
            raise StorageError(
                f"no warehouse at {self.store.root}: check the path, or create one with `marketlake demo`, "
                f"`marketlake ingest ...` or Warehouse(path).ingest(frame, table=...)"
            )

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB connection with one view per table (the caller closes it)."""
        con = _new_connection()
        for name in self.store.table_names():
            self._create_view(con, name)
        return con

    def _create_view(self, con: duckdb.DuckDBPyConnection, name: str, *, arrow: bool = False,
                     files: list[str] | None = None) -> None:
        """A view `name` over the table's current files (or the given ones: a past version's)."""
        files = self.store.active_files(name) if files is None else files
        if files and (arrow or self.store.remote):
            # safe mode: Python opens the files, DuckDB only scans the registered dataset (pushdown kept);
            # object stores too: pyarrow's filesystem reads them, so DuckDB needs no httpfs extension (offline)
            production = name in TABLE_NAMES
            schema = bar_schema() if production else pa.schema(self.store.table(name).schema().to_arrow())
            paths = [self.store.fs_path(f) for f in files]
            data = pads.dataset(paths, schema=schema, format="parquet", filesystem=self.store.filesystem)
            con.register(f"__data_{name}", data)
            con.execute(f"CREATE OR REPLACE VIEW {_ident(name)} AS SELECT * FROM {_ident('__data_' + name)}")
        elif files:
            listing = ", ".join(_sql_str(f) for f in files)
            production = name in TABLE_NAMES
            select = ", ".join(_ident(c) for c in bar_schema().names) if production else "*"
            # production tables have the fixed 97-column catalogue (checked on open): binding by the first
            # file is enough; support tables may have grown columns, so their files are unioned by name
            by_name = "false" if production else "true"
            con.execute(
                f"CREATE OR REPLACE VIEW {_ident(name)} AS SELECT {select} FROM read_parquet([{listing}], "
                f"hive_partitioning = false, union_by_name = {by_name})"
            )
        else:
            schema = bar_schema() if name in TABLE_NAMES else SUPPORT_SCHEMAS.get(name)
            if schema is None:
                schema = pa.schema(self.store.table(name).schema().to_arrow())
            con.register(f"__empty_{name}", schema.empty_table())
            con.execute(f"CREATE OR REPLACE VIEW {_ident(name)} AS SELECT * FROM {_ident('__empty_' + name)}")

    def _session(self, query: str) -> duckdb.DuckDBPyConnection:
        """The cached connection with up-to-date views of the tables `query` mentions (lock held)."""
        pid = os.getpid()
        if self._con is None or self._con_pid != pid:  # a forked child must not share the parent's
            self._con, self._con_pid, self._views = _new_connection(), pid, {}
        con = self._con
        names = self.store.table_names()
        present = set(names)
        for gone in [n for n in self._views if n not in present]:
            con.execute(f"DROP VIEW IF EXISTS {_ident(gone)}")
            del self._views[gone]
        text = query.lower()
        from marketlake.actions.sql import create_adjusted_views, needed_tables

        extra = needed_tables(text)  # the <table>_raw / _total_return views read corporate_actions
        for name in names:
            if name.lower() not in text and name not in extra:  # a substring test: over-inclusive at worst
                continue
            version = self.store.version(name)
            if self._views.get(name) != version:
                self._create_view(con, name)
                self._views[name] = version
        create_adjusted_views(con, text, present)
        return con

    def _safe_session(self, query: str) -> duckdb.DuckDBPyConnection:
        """A new connection with views of the tables `query` mentions, then no external access, locked."""
        con = _new_connection()
        try:
            text = query.lower()
            for name in self.store.table_names():
                if name.lower() in text:
                    self._create_view(con, name, arrow=True)
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        except BaseException:
            con.close()
            raise
        return con

    def _sql_safe(self, query: str) -> pa.Table:
        con = self._safe_session(query)
        try:
            relation = con.sql(query)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as exc:
            tables = ", ".join(self.store.table_names()) or "none yet"
            raise StorageError(f"SQL refused or failed in safe mode (only the warehouse's views; no file, network "
                               f"or configuration access): {exc}. Tables available as views: {tables}") from None
        finally:
            con.close()

    def _sql_as_of(self, query: str, as_of: int | str | date | datetime) -> pa.Table:
        """The query on a fresh connection whose views show each table as it was at `as_of`."""
        from marketlake.actions.sql import create_adjusted_views, needed_tables
        from marketlake.storage.versioned import files_at

        con = _new_connection()
        try:
            text = query.lower()
            extra = needed_tables(text)  # <table>_raw / _total_return: over corporate_actions as it was then
            names = self.store.table_names()
            for name in names:
                if name.lower() not in text and name not in extra:
                    continue
                try:
                    version, when = (as_of, None) if isinstance(as_of, int) else (None, as_of)
                    files, _info = files_at(self.store, name, version=version, timestamp=when)
                except StorageError as exc:
                    if "no longer readable" in str(exc):
                        raise
                    files = []  # the table did not exist yet at that instant: an empty view
                self._create_view(con, name, files=files)
            create_adjusted_views(con, text, set(names))
            relation = con.sql(query)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as exc:
            raise StorageError(f"SQL failed (as of {as_of}): {exc}") from None
        finally:
            con.close()

    def sql(self, query: str, *, as_: OutputKind = "pandas", safe: bool = False,
            as_of: int | str | date | datetime | None = None) -> Any:
        """Run a DuckDB query where every table is a view by its name (97 columns, no `partition_period`).

        The connection is kept between calls (views, DuckDB's Parquet metadata cache): objects a query
        creates (temp tables, macros) persist until `close()`.

        `safe=True` runs the query on a fresh, locked connection that sees only the warehouse's views:
        no other file, no network, no extension, no configuration change (for queries you did not
        write). Nothing it creates persists.

        `as_of` (a timestamp, or an int: that version of every table) shows each table the query mentions
        as it was then (Delta time travel), on a fresh connection.
        """
        self._require_warehouse()
        if as_of is not None:
            if safe:
                raise ConfigError("safe= and as_of= cannot be combined yet")
            return to_frame(self._sql_as_of(query, as_of), as_)
        if safe:
            return to_frame(self._sql_safe(query), as_)
        with self._lock:
            try:
                con = self._session(query)
                relation = con.sql(query)
                result = relation.to_arrow_table() if relation is not None else pa.table({})
            except duckdb.Error as exc:
                tables = ", ".join(self.store.table_names()) or "none yet"
                raise StorageError(f"SQL failed: {exc}. Tables available as views: {tables}") from None
        return to_frame(result, as_)

    def close(self) -> None:
        """Close the cached DuckDB connection (the next `sql` call opens a new one)."""
        with self._lock:
            if self._con is not None and self._con_pid == os.getpid():
                self._con.close()
            self._con, self._views = None, {}


def _new_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET parquet_metadata_cache = true")  # data files never change: footers parsed once
    return con


__all__ = ["Warehouse"]
