"""DeltaStore: the only object that touches Delta Lake and the warehouse directory.

One directory per table under the warehouse root (production tables partitioned by `partition_period`,
support tables unpartitioned). Writes take the warehouse writer lock and land in one Delta commit, so a
crash at any point leaves the previous version intact (orphan Parquet files are vacuumed later).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from marketlake.errors import CorruptTable, SchemaMismatch, StorageError
from marketlake.schema import (
    PARTITION_COLUMN,
    SUPPORT_SCHEMAS,
    TABLE_NAMES,
    TableSpec,
    bar_schema,
    classify,
    get_table,
    storage_schema,
)
from marketlake.storage import commits as _commits
from marketlake.storage import files as _files
from marketlake.storage import integrity as _integrity
from marketlake.storage import inventory as _inventory
from marketlake.storage import location as _location
from marketlake.storage import point_read as _point_read
from marketlake.storage import support as _support
from marketlake.storage import writer as _writer
from marketlake.storage.commits import TABLE_PROPERTIES, hooks, layout_description
from marketlake.storage.layout import group_rows, sort_rows, to_utc
from marketlake.storage.lock import writer_lock
from marketlake.storage.parquet_commit import row_group_rows
from marketlake.storage.remote_lock import remote_writer_lock
from marketlake.storage.writer import WriteResult

Bound = str | date | datetime | None
_READ_THREADS = min(8, os.cpu_count() or 1)
_REMOTE_READ_THREADS = 16  # object stores: waiting on requests, not on cores


@dataclass(frozen=True)
class TableInfo:
    """Inventory of one table, from the Delta log and file statistics."""

    name: str
    rows: int
    symbols: int | None
    min_datetime: datetime | None
    max_datetime: datetime | None
    partitions: int
    files: int
    bytes: int
    version: int
    last_write: datetime | None


class DeltaStore:
    """Delta tables in one warehouse: a local directory or an object-store URI (see `storage.location`).

    `storage_options` (delta-rs option names) reach an object store; without them the configured `[storage]`
    options, else the standard environment variables, are used.
    """

    def __init__(self, root: str | Path, *, storage_options: dict[str, str] | None = None) -> None:
        where = _location.parse(root)
        self.location = where
        self.remote = where.remote
        self.root = where.uri
        self.storage_options = _location.storage_options(where, storage_options)
        self._tables: dict[str, DeltaTable] = {}
        self._index: dict[str, _files.FileIndex] = {}
        self._symbol_counts: dict[tuple[str, int], int] = {}
        self._log_seen: dict[str, _integrity._Seen] = {}
        self._format = ds.ParquetFileFormat()
        self._threads: tuple[int, ThreadPoolExecutor] | None = None
        self._fs, self._fs_root = _location.filesystem(where, self.storage_options)

    def __repr__(self) -> str:
        return f"DeltaStore({self.root!r})"

    # -- paths and tables -------------------------------------------------------------------------
    def path(self, name: str) -> str:
        """Location of a table (a directory for local warehouses, a URI otherwise)."""
        return f"{self.root}/{name}"

    def exists(self, name: str) -> bool:
        """True when `name` is a Delta table in this warehouse."""
        if name in self._tables:
            return True
        if not self.remote:  # a damaged log is still a table (is_deltatable says no): never re-create it
            log = os.path.join(self.path(name), "_delta_log")
            return os.path.isdir(log) and any(_integrity.is_log_file(n) for n in os.listdir(log))
        info = self._fs.get_file_info(pafs.FileSelector(self.table_root(name) + "/_delta_log", allow_not_found=True))
        return any(_integrity.is_log_file(f.base_name) for f in info)

    def writer_lock(
        self, *, wait: bool | float | None = None, on_wait: Callable[[str], None] | None = None
    ) -> AbstractContextManager[None]:
        """The warehouse writer lock (re-entrant within a process); None waits the default; see `storage.lock`."""
        if self.remote:
            return remote_writer_lock(self.root, storage_options=self.storage_options, wait=wait, on_wait=on_wait)
        return writer_lock(self.root, wait=wait, on_wait=on_wait)

    def ensure_tables(self, names: list[str] | tuple[str, ...] | None = None) -> list[str]:
        """Create missing production (and named support) tables; check existing ones. Idempotent."""
        created = []
        with self.writer_lock():
            for name in names or TABLE_NAMES:
                if self.exists(name):
                    self._check_schema(name)
                    continue
                schema = storage_schema() if name in TABLE_NAMES else self._support_schema(name)
                partition_by = [PARTITION_COLUMN] if name in TABLE_NAMES else None
                DeltaTable.create(
                    self.path(name), schema, mode="ignore", partition_by=partition_by,
                    storage_options=self.storage_options, configuration=dict(TABLE_PROPERTIES),
                    description=layout_description(),
                )
                created.append(name)
        return created

    def _support_schema(self, name: str) -> pa.Schema:
        try:
            return SUPPORT_SCHEMAS[name]
        except KeyError:
            raise StorageError(
                f"{name!r} is neither a production table ({', '.join(TABLE_NAMES)}) nor a support table "
                f"({', '.join(SUPPORT_SCHEMAS)})", table=name,
            ) from None

    def _check_schema(self, name: str) -> None:
        expected = storage_schema() if name in TABLE_NAMES else SUPPORT_SCHEMAS.get(name)
        if expected is None:
            return
        got = pa.schema(self.table(name).schema().to_arrow())
        have = [(f.name, f.type) for f in got]
        want = [(f.name, f.type) for f in expected]
        if have != want:
            diff = [f"{a} != {b}" for a, b in zip(have, want) if a != b][:3]
            raise SchemaMismatch(
                f"table {name} at {self.path(name)} has {len(have)} columns, the catalogue {len(want)}; first "
                f"differences: {diff or 'column count'}. Migrate or rebuild the table (marketlake janitor).",
                table=name,
            )

    def table(self, name: str, *, refresh: bool = True) -> DeltaTable:
        """The DeltaTable object (cached; refreshed to the latest version unless `refresh=False`).

        A production or support table of an older layout is migrated on its first open (`storage.migrate`);
        legacy and unknown objects are left as they are (the janitor removes them)."""
        dt = self._tables.get(name)
        if dt is None or refresh:
            _integrity.verify_log(self, name)  # CorruptTable rather than a wrong version or a Rust error
            dt = self._tables.get(name)
        if dt is None:
            dt = self._open(name)
            ours = name in TABLE_NAMES or classify(name) == "support"  # never legacy or unknown objects
            if ours and not self.remote and _commits.layout_of(dt.metadata().description) < _commits.LAYOUT_VERSION:
                from marketlake.storage.migrate import migrate_table

                migrate_table(self, name)  # written by an older release: migrate on first open
                dt = self._open(name)
            self._tables[name] = dt
        elif refresh:
            dt.update_incremental()
        return dt

    def _open(self, name: str) -> DeltaTable:
        try:
            return DeltaTable(self.path(name), storage_options=self.storage_options)
        except TableNotFoundError:
            raise StorageError(
                f"table {name} does not exist in {self.root}; create it with DeltaStore.ensure_tables() "
                f"or load data first", table=name,
            ) from None
        except Exception as exc:  # noqa: BLE001 - delta-rs' own errors on a log the check did not fault
            raise CorruptTable(f"table {name} cannot be opened: {str(exc).splitlines()[0][:200]}; "
                               f"`marketlake janitor plan` shows the repair", table=name) from None

    @property
    def filesystem(self) -> pafs.FileSystem:
        return self._fs

    def table_root(self, name: str) -> str:
        """Table location as a path on `filesystem` (differs from `path` for object stores)."""
        return _location.join(self._fs_root, name)

    def bucket_exists(self) -> bool:
        """True when the bucket (container) of an object-store warehouse exists; always True locally."""
        if not self.remote:
            return True
        if not self._fs_root:  # delta-rs' object store: rooted at the warehouse, list it
            return True
        bucket = self._fs_root.split("/", 1)[0]
        return self._fs.get_file_info(bucket).type != pafs.FileType.NotFound

    def fs_path(self, uri: str) -> str:
        """A file's location (as `path`/`active_files` give it) as a path on `filesystem`."""
        if not self.remote:
            return uri.removeprefix("file://")
        rel = uri.removeprefix(self.root).lstrip("/")
        return _location.join(self._fs_root, rel)

    def read_files(self, table: str, positions: list[int]) -> pa.Table:
        """Every row of the given files (positions into `file_index(table)`), typed as bar_schema."""
        schema = bar_schema()
        if not positions:
            return schema.empty_table()
        index = self.file_index(table)
        pool = self._pool()
        plan = _files.plan(index, positions, root=self.table_root(table), filesystem=self._fs, pool=pool)
        return _files.read_groups(plan, schema, filesystem=self._fs, pool=pool)

    def _pool(self) -> ThreadPoolExecutor:
        """Threads reading files in parallel (re-created in a forked child, whose copy has no threads)."""
        pid = os.getpid()
        if self._threads is None or self._threads[0] != pid:
            self._threads = (pid, ThreadPoolExecutor(
                max_workers=_REMOTE_READ_THREADS if self.remote else _READ_THREADS, thread_name_prefix="marketlake-read"))
        return self._threads[1]

    def version(self, name: str) -> int:
        return int(self.table(name).version())

    def file_index(self, name: str) -> _files.FileIndex:
        """Active files with statistics, cached per table version."""
        dt = self.table(name)
        version = int(dt.version())
        cached = self._index.get(name)
        if cached is not None and cached.version == version:
            return cached
        actions = pa.table(dt.get_add_actions(flatten=True))
        index = _files.build_index(actions, version)
        if cached is not None:  # unchanged files keep their parsed footers
            keep = set(index.paths)
            index.fragments.update({p: f for p, f in cached.fragments.items() if p in keep})
        self._index[name] = index
        return index

    # -- production tables ------------------------------------------------------------------------
    def write_bars(self, table: str, rows: pa.Table, *, compare_since: datetime | None = None) -> WriteResult:
        """Upsert bars keyed by (symbol, datetime) in one commit; unchanged rows are not rewritten.

        `compare_since`: rows before it are guaranteed unchanged by the caller, so only stored rows at or
        after it are read for the comparison and earlier incoming rows are counted as unchanged.
        """
        spec = get_table(table)
        with self.writer_lock():
            if not self.exists(table):
                self.ensure_tables([table])
            return _writer.write_bars(self, spec, rows, compare_since=to_utc(compare_since))

    def active_files(
        self, table: str, *, symbols: list[str] | None = None, start: Bound = None, end: Bound = None
    ) -> list[str]:
        """Full paths of the data files that may hold the requested rows (for DuckDB and friends)."""
        spec = get_table(table) if table in TABLE_NAMES else None
        index = self.file_index(table)
        picks = _files.prune(index, spec, symbols=symbols, start=to_utc(start), end=to_utc(end))
        return [f"{self.path(table)}/{index.paths[i]}" for i in picks]

    def read(
        self,
        table: str,
        *,
        symbols: list[str] | None = None,
        start: Bound = None,
        end: Bound = None,
        columns: list[str] | None = None,
        sort: bool | Literal["grouped"] = True,
        keep: bool = False,
    ) -> pa.Table:
        """Rows of a production table (the 97 columns at most), sorted by (symbol, datetime).

        Files are chosen from the Delta log (partition values, min/max statistics); within them Arrow
        skips row groups by their statistics. `start`/`end` are inclusive; naive values are UTC.
        `symbols=None` reads every symbol, `[]` none. `sort=False` returns the rows in storage order
        (partition by partition), for callers that order them themselves: sorting millions of rows by a
        string key costs more than reading them. `sort="grouped"`: each symbol's rows together and
        chronological, symbols in no particular order (`layout.group_rows`, ordered before the strings are
        decoded), for per-symbol computations. `keep=True` keeps the decoded pieces of the files read
        in memory for the next read of the same pieces (`storage.files.read_groups`), for reads a running
        process repeats.
        """
        spec = get_table(table)
        schema = bar_schema()
        cols = list(columns) if columns else list(schema.names)
        known = set(schema.names)
        unknown = [c for c in cols if c not in known]
        if unknown:
            raise StorageError(f"unknown columns {unknown} for {table}; see `marketlake schema`", table=table)
        lo, hi = to_utc(start), to_utc(end)
        if isinstance(symbols, str):
            symbols = [symbols]
        if not self.exists(table) or (symbols is not None and len(symbols) == 0):  # [] = no symbol, not all
            return schema.empty_table().select(cols)
        index = self.file_index(table)
        picks = _files.prune(index, spec, symbols=symbols, start=lo, end=hi)
        if not picks:
            return schema.empty_table().select(cols)
        picks.sort(key=lambda i: int(index.min_dt[i]))  # chronological: one symbol comes back sorted
        need = cols + [k for k in ("symbol", "datetime") if k not in cols]
        reading = pa.schema([schema.field(c) for c in need])
        grouped = sort == "grouped"
        out = self._read_point(table, spec, index, picks, reading, symbols, lo, hi)
        if out is not None and grouped:
            out = group_rows(out)
        if out is None:
            pool = self._pool()
            plan = _files.plan(
                index, picks, root=self.table_root(table), filesystem=self._fs, symbols=symbols, start=lo, end=hi,
                pool=pool,
            )
            out = _files.read_groups(plan, reading, filesystem=self._fs, pool=pool, symbols=symbols, start=lo, end=hi,
                                     keep=keep, grouped=grouped)
        if sort is True:
            out = sort_rows(out)
        return out.select(cols)

    def _read_point(
        self, table: str, spec: TableSpec, index: _files.FileIndex, picks: list[int], schema: pa.Schema,
        symbols: list[str] | None, lo: datetime | None, hi: datetime | None,
    ) -> pa.Table | None:
        """A few symbols over many local files, read by Polars without parsing Arrow footers first
        (`point_read.likely`); None when the read is not one, or Polars cannot read a file (the Arrow path
        then reads it, or names the damaged file)."""
        if self.remote or not symbols:
            return None
        records = [int(index.records[i]) for i in picks]
        if not _point_read.likely(records, row_group_rows(spec.partitioning), len(set(symbols))):
            return None
        root = self.table_root(table)
        try:
            return _point_read.read([f"{root}/{index.paths[i]}" for i in picks], schema, symbols=symbols,
                                    start=lo, end=hi)
        except _point_read.Unreadable:
            return None

    def optimize(self, table: str, *, zorder: bool = True) -> dict[str, Any]:
        """Compact small files and (by default) z-order by symbol; one commit.

        Only by symbol: z-ordering by (symbol, sector, exchange) interleaves their bits, so every row group
        held many symbols and a one-symbol read decoded nearly the whole table (~2-6 s instead of ~50 ms on
        the S&P benchmark). Sector and exchange are attributes of a symbol: a sector read passes its symbols
        (CLUSTER_COLUMNS in the schema still lists all three; this deviates from it on purpose).
        """
        with self.writer_lock():
            dt = self.table(table)
            props = _writer.writer_properties(get_table(table) if table in TABLE_NAMES else None)
            info = _commits.commit_properties("zorder" if zorder else "compact")
            if zorder:
                return dict(dt.optimize.z_order(["symbol"], writer_properties=props, commit_properties=info,
                                                post_commithook_properties=hooks()))
            return dict(dt.optimize.compact(writer_properties=props, commit_properties=info,
                                            post_commithook_properties=hooks()))

    # -- support tables ---------------------------------------------------------------------------
    def read_support(self, name: str, *, columns: list[str] | None = None, filter_expr: ds.Expression | None = None) -> pa.Table:
        """A support table (an empty table with its schema when it does not exist yet)."""
        return _support.read_support(self, name, columns=columns, filter_expr=filter_expr)

    def append_support(self, name: str, rows: pa.Table) -> int:
        """Append rows (missing nullable columns become NULL); returns the new version."""
        return _support.append_support(self, name, rows)

    def upsert_support(self, name: str, rows: pa.Table, *, keys: list[str] | tuple[str, ...]) -> int:
        """Insert or replace rows by `keys` in one commit; returns the version."""
        return _support.upsert_support(self, name, rows, keys=keys)

    def replace_support(self, name: str, rows: pa.Table) -> int:
        """Overwrite a small support table with `rows` in one commit; returns the version."""
        return _support.replace_support(self, name, rows)

    # -- inventory --------------------------------------------------------------------------------
    def table_info(self, name: str) -> TableInfo:
        """Rows, symbols, date range, partitions, files and bytes of a table, mostly from the log."""
        return _inventory.table_info(self, name, TableInfo)

    def list_objects(self) -> list[_inventory.ObjectInfo]:
        """Every object in the warehouse directory: Delta tables, Parquet folders, other files."""
        return _inventory.list_objects(self)

    def table_names(self) -> list[str]:
        """Names of the Delta tables present, production ones first: one directory listing, no sizes."""
        if self.remote:
            return sorted((o.name for o in self.list_objects() if o.kind == "delta"),
                          key=lambda n: (n not in TABLE_NAMES, n))
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        names = [
            e.name for e in entries
            if not e.name.startswith(_inventory._HIDDEN) and e.is_dir(follow_symlinks=False)
            and os.path.isdir(os.path.join(e.path, "_delta_log"))
        ]
        return sorted(names, key=lambda n: (n not in TABLE_NAMES, n))

    def tables(self) -> Iterator[str]:
        """Names of the Delta tables present, production ones first."""
        names = [o.name for o in self.list_objects() if o.kind == "delta"]
        yield from sorted(names, key=lambda n: (n not in TABLE_NAMES, n))

    def _forget(self, name: str) -> None:
        self._tables.pop(name, None)
        self._log_seen.pop(name, None)
        self._index.pop(name, None)


__all__ = ["DeltaStore", "TableInfo", "WriteResult"]
