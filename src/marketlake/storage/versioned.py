"""Point-in-time reads: a production table as it was at a Delta version or a timestamp.

Datasets pin the version they were built from; rebuilding reads exactly those files, whatever was appended
since. Reuses the store's pruning and row-group reader (`storage.files`) on the file list of the pinned
version's Delta log, so a pinned read costs what a latest read costs. Once the janitor vacuums a version's
files, reading it fails with a StorageError that says so, never with a partial result.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from deltalake import DeltaTable

from marketlake.errors import StorageError
from marketlake.schema import bar_schema, get_table
from marketlake.storage import files as _files
from marketlake.storage.layout import sort_rows, to_utc

if TYPE_CHECKING:
    from marketlake.storage.store import Bound, DeltaStore


@dataclass(frozen=True)
class VersionInfo:
    """A table version and the time it was committed (UTC)."""

    table: str
    version: int
    timestamp: datetime


def _open(store: DeltaStore, table: str, version: int | None, timestamp: Bound) -> DeltaTable:
    if not store.exists(table):
        raise StorageError(f"table {table} does not exist in {store.root}", table=table)
    dt = DeltaTable(store.path(table), storage_options=store.storage_options)
    latest = int(dt.version())
    try:
        if version is not None:
            if version < 0 or version > latest:
                raise StorageError(f"{table} has versions 0..{latest}, not {version}", table=table)
            dt.load_as_version(version)
        elif timestamp is not None:
            when = to_utc(timestamp)
            assert when is not None
            dt.load_as_version(when)
    except StorageError:
        raise
    except Exception as exc:  # delta-rs: the log entry is gone (log retention) or the time precedes the table
        raise StorageError(f"cannot load {table} at {version if version is not None else timestamp}: {exc}. "
                           f"The version may have been cleaned up by `marketlake janitor apply`.",
                           table=table) from None
    return dt


def commit_time(dt: DeltaTable, latest: DeltaTable | None = None) -> datetime:
    """When the loaded version of `dt` was committed (from its commit info).

    delta-rs 1.x lists the latest log's commits in `history()` but numbers them down from the version the
    table is loaded at, so the history of an old version is read from `latest` (the same table at its
    newest version), whose numbering is right; without it `dt` must be loaded at the newest version.
    """
    v = int(dt.version())
    source = latest if latest is not None else dt
    newest = int(source.version())
    for entry in source.history(limit=max(1, newest - v + 1)):
        if int(entry.get("version", -1)) == v and entry.get("timestamp") is not None:
            return datetime.fromtimestamp(int(entry["timestamp"]) / 1000, tz=UTC)
    return datetime.fromtimestamp(0, tz=UTC)


def _info(store: DeltaStore, table: str, dt: DeltaTable) -> VersionInfo:
    """`dt`'s version and its commit time (read from the newest log when `dt` is an old version)."""
    latest = None
    if int(dt.version()) != store.version(table):
        latest = DeltaTable(store.path(table), storage_options=store.storage_options)
    return VersionInfo(table, int(dt.version()), commit_time(dt, latest))


def version_info(store: DeltaStore, table: str, *, version: int | None = None, timestamp: Bound = None) -> VersionInfo:
    """The version a read would use (latest by default) and its commit time."""
    return _info(store, table, _open(store, table, version, timestamp))


_POOL: tuple[int, ThreadPoolExecutor] | None = None


def _pool() -> ThreadPoolExecutor:
    """Reader threads of this module (re-created in a forked child)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1),
                                                 thread_name_prefix="marketlake-read-at"))
    return _POOL[1]


def read_at(
    store: DeltaStore,
    table: str,
    *,
    version: int | None = None,
    timestamp: Bound = None,
    symbols: list[str] | None = None,
    start: Bound = None,
    end: Bound = None,
    columns: list[str] | None = None,
    sort: bool = True,
) -> tuple[pa.Table, VersionInfo]:
    """Rows of `table` at a version (or the last version at or before `timestamp`; default the latest),
    sorted by (symbol, datetime), plus the version read. Same selection rules as `DeltaStore.read`;
    `sort=False` keeps storage order (for callers that order the rows themselves: saves a full copy)."""
    spec = get_table(table)
    dt = _open(store, table, version, timestamp)
    info = _info(store, table, dt)
    schema = bar_schema()
    cols = list(columns) if columns else list(schema.names)
    known = set(schema.names)
    unknown = [c for c in cols if c not in known]
    if unknown:
        raise StorageError(f"unknown columns {unknown} for {table}; see `marketlake schema`", table=table)
    if symbols is not None and len(symbols) == 0:
        return schema.empty_table().select(cols), info
    if info.version == store.version(table):
        index = store.file_index(table)  # the latest: the store's cached footers
    else:
        index = _files.build_index(pa.table(dt.get_add_actions(flatten=True)), info.version)
    root = store.table_root(table)
    if not store.remote or info.version != store.version(table):  # a past version's files may be vacuumed
        gone = _missing(store, root, list(index.paths))
        if gone:
            raise StorageError(
                f"{table} version {info.version} is no longer readable: {len(gone)} of its {len(index.paths)} data "
                f"files were vacuumed (e.g. {gone[0]}). Rebuild from a newer version, or keep versions pinned by "
                f"datasets out of `janitor apply` (`--vacuum-hours`).", table=table,
            )
    lo, hi = to_utc(start), to_utc(end)
    picks = _files.prune(index, spec, symbols=symbols, start=lo, end=hi)
    if not picks:
        return schema.empty_table().select(cols), info
    pool = _pool()
    plan = _files.plan(index, picks, root=root, filesystem=store.filesystem, symbols=symbols, start=lo, end=hi,
                       pool=pool)
    need = cols + [k for k in ("symbol", "datetime") if k not in cols]
    out = _files.read_groups(plan, pa.schema([schema.field(c) for c in need]), filesystem=store.filesystem, pool=pool,
                             symbols=symbols, start=lo, end=hi)
    return (sort_rows(out) if sort else out).select(cols), info


def _missing(store: DeltaStore, root: str, paths: list[str]) -> list[str]:
    """Those of `paths` (relative to the table) that no longer exist: local stats, or one HEAD each remotely."""
    if not store.remote:
        return [p for p in paths if not os.path.exists(f"{root}/{p}")]
    infos = store.filesystem.get_file_info([f"{root}/{p}" for p in paths]) if paths else []
    return [p for p, i in zip(paths, infos) if i.type == pafs.FileType.NotFound]


def files_at(store: DeltaStore, table: str, *, version: int | None = None,
             timestamp: Bound = None) -> tuple[list[str], VersionInfo]:
    """Full paths of the data files of `table` at a version or timestamp (for SQL views), and the version.

    Raises:
        StorageError: the version cannot be loaded, or its files were vacuumed.
    """
    dt = _open(store, table, version, timestamp)
    info = _info(store, table, dt)
    paths = [str(p) for p in pa.table(dt.get_add_actions(flatten=True)).column("path").to_pylist()]
    root = store.table_root(table)
    gone = _missing(store, root, paths)
    if gone:
        raise StorageError(f"{table} version {info.version} is no longer readable: {len(gone)} of its "
                           f"{len(paths)} data files were vacuumed (e.g. {gone[0]})", table=table)
    return [f"{store.path(table)}/{p}" for p in paths], info


def as_of_horizon(store: DeltaStore, table: str, deleted: list[str] | set[str], *,
                  max_versions: int = 200) -> VersionInfo | None:
    """The newest version of `table` that deleting `deleted` (data file paths, relative or absolute) would
    make unreadable: time travel (`as_of=`) reaches back to the version after it, no further.

    Versions are checked newest first, at most `max_versions` of them (older ones read older files still).
    None when no version in reach reads a deleted file.
    """
    root = store.path(table).rstrip("/") + "/"
    gone = {p[len(root):] if p.startswith(root) else p for p in deleted}
    if not gone or not store.exists(table):
        return None
    latest = store.version(table)
    for version in range(latest - 1, max(-1, latest - 1 - max_versions), -1):
        try:
            dt = _open(store, table, version, None)
        except StorageError:
            return None  # the log no longer reaches further back
        files = set(pa.table(dt.get_add_actions(flatten=True)).column("path").to_pylist())
        if files & gone:
            return _info(store, table, dt)
    return None


@dataclass(frozen=True)
class RestorePlan:
    """What `restore` would do: the table from `current` back to `target`, rows now and then."""

    table: str
    current: VersionInfo
    target: VersionInfo
    rows_now: int
    rows_then: int
    undone: tuple[str, ...]  # the operations committed after the target, newest first

    def describe(self) -> str:
        fmt = "%Y-%m-%d %H:%M:%SZ"
        return (f"{self.table}: back from version {self.current.version} ({self.current.timestamp.strftime(fmt)}, "
                f"{self.rows_now:,} rows) to version {self.target.version} ({self.target.timestamp.strftime(fmt)}, "
                f"{self.rows_then:,} rows), undoing {len(self.undone)} commit(s); the restore is a new commit, "
                f"so it can itself be undone")


def _rows(dt: DeltaTable) -> int:
    actions = pa.table(dt.get_add_actions(flatten=True))
    return int(pc.sum(actions.column("num_records")).as_py() or 0) if "num_records" in actions.column_names else 0


def plan_restore(store: DeltaStore, table: str, version: int) -> RestorePlan:
    """Check that `table` can go back to `version` and say what that means; changes nothing.

    Raises:
        StorageError: no such version, its files were vacuumed, or its layout (partitioning, schema)
            differs from today's (a version from before a `marketlake migrate`).
    """
    now = _open(store, table, None, None)
    then = _open(store, table, version, None)
    files_at(store, table, version=version)  # refuses a vacuumed version
    if list(then.metadata().partition_columns) != list(now.metadata().partition_columns) or \
            then.schema().to_arrow() != now.schema().to_arrow():
        raise StorageError(f"{table} version {version} has another layout than today's (it predates a migration); "
                           f"restore a later version", table=table)
    undone = tuple(str(h.get("operation", "?")) for h in now.history() if int(h.get("version", -1)) > version)
    return RestorePlan(table, VersionInfo(table, int(now.version()), commit_time(now)),
                       VersionInfo(table, int(then.version()), commit_time(then, now)), _rows(now), _rows(then), undone)


def restore(store: DeltaStore, table: str, version: int) -> RestorePlan:
    """Bring `table` back to `version` in one new commit (under the writer lock); returns what was done."""
    from marketlake.storage.commits import commit_properties

    with store.writer_lock():
        plan = plan_restore(store, table, version)
        dt = store.table(table)
        dt.restore(version, commit_properties=commit_properties("restore", restoredVersion=version))
    return plan


def version_files(store: DeltaStore, table: str, version: int) -> set[str]:
    """Relative paths of the data files version `version` of `table` reads (empty if it cannot be loaded)."""
    try:
        dt = _open(store, table, version, None)
    except StorageError:
        return set()
    return set(_files.build_index(pa.table(dt.get_add_actions(flatten=True)), version).paths)


__all__ = ["RestorePlan", "VersionInfo", "as_of_horizon", "commit_time", "files_at", "plan_restore", "read_at",
           "restore", "version_files", "version_info"]
