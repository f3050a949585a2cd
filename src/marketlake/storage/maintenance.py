"""Maintenance primitives the janitor and retention need, beside `DeltaStore`'s everyday API.

Deleting an object directory, dropping whole partitions in one commit, vacuuming with a retention,
counting Delta versions, statistics of plain Parquet folders and file checksums. This module and
`DeltaStore` are the only code that touches Delta and the warehouse directory; the janitor and the
quality monitor call these functions and never `deltalake` or `shutil` themselves.

Every destructive function here refuses paths outside the warehouse root, so a bad name can never
escape the warehouse (`../x`, absolute paths, symlinks pointing elsewhere).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from marketlake.errors import StorageError
from marketlake.schema import PARTITION_COLUMN, ObjectClass, classify

if TYPE_CHECKING:
    from marketlake.storage.store import DeltaStore

_HIDDEN = (".marketlake",)


@dataclass(frozen=True)
class ObjectStats:
    """Facts of one warehouse object found on disk (Delta table, Parquet folder, directory, file)."""

    name: str  # path relative to the warehouse root, `/`-separated
    path: str
    kind: str  # delta | parquet | directory | file
    object_class: ObjectClass
    bytes: int
    files: int
    rows: int | None
    partitions: int
    versions: int
    last_write: datetime | None


def _inside(store: DeltaStore, path: str) -> Path:
    root = Path(store.root).resolve()
    target = Path(path)
    if not target.is_absolute():
        target = Path(store.root) / target
    resolved = target.resolve() if not target.is_symlink() else target.parent.resolve() / target.name
    if resolved == root or root not in resolved.parents:
        raise StorageError(f"refusing to touch {path}: it is not inside the warehouse {root}")
    return resolved


def _walk(path: str) -> tuple[int, int, float, list[str]]:
    total = files = 0
    newest = 0.0
    parquet: list[str] = []
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            full = os.path.join(dirpath, n)
            try:
                st = os.stat(full, follow_symlinks=False)
            except OSError:
                continue
            total += st.st_size
            files += 1
            newest = max(newest, st.st_mtime)
            if n.endswith(".parquet") and "_delta_log" not in dirpath:
                parquet.append(full)
    return total, files, newest, parquet


def _is_container(path: str) -> bool:
    """A plain directory that holds other objects (no Parquet of its own, no hive partitions)."""
    if os.path.isdir(os.path.join(path, "_delta_log")):
        return False
    for entry in os.scandir(path):
        if entry.is_file() and entry.name.endswith(".parquet"):
            return False
        if entry.is_dir() and "=" in entry.name:
            return False
    return True


def delta_versions(path: str) -> int:
    """Number of Delta versions (commit files) in a table's log."""
    log = os.path.join(path, "_delta_log")
    if not os.path.isdir(log):
        return 0
    return sum(1 for n in os.listdir(log) if n.endswith(".json") and n[:20].isdigit())


def _stats(name: str, path: str, kind: str) -> ObjectStats:
    base = name.rsplit("/", 1)[-1]
    stem = base.split(".")[0] if kind == "file" else base
    if kind == "file":
        st = os.stat(path, follow_symlinks=False)
        size, files, newest, parquet = st.st_size, 1, st.st_mtime, [path] if path.endswith(".parquet") else []
    else:
        size, files, newest, parquet = _walk(path)
    rows: int | None = None
    partitions = 0
    if kind in ("parquet", "file") and parquet:
        rows = 0
        for f in parquet:
            try:
                rows += pq.ParquetFile(f).metadata.num_rows
            except Exception:  # noqa: BLE001 - a corrupt leftover still gets listed (and removed)
                continue
    if kind in ("delta", "parquet"):
        partitions = len({os.path.relpath(os.path.dirname(f), path) for f in parquet} - {"."})
    last = datetime.fromtimestamp(newest, tz=UTC) if newest else None
    versions = delta_versions(path) if kind == "delta" else 0
    return ObjectStats(name, path, kind, classify(stem), size, files, rows, partitions, versions, last)


def scan_objects(store: DeltaStore) -> list[ObjectStats]:
    """Every object in the warehouse directory, also inside plain container folders.

    Top-level entries come from `DeltaStore.list_objects`; a folder that is neither a Delta table nor a
    Parquet folder is searched further, so `archive/v2_stocks_daily` is found as an object of its own.
    Rows of Delta tables are filled in by the caller from `DeltaStore.table_info`.
    """
    if store.remote:
        return _scan_remote(store)
    out: list[ObjectStats] = []
    for obj in store.list_objects():
        if obj.kind in ("directory", "parquet") and _is_container(obj.path):
            out.extend(_scan_container(obj.name, obj.path))
            continue
        out.append(_stats(obj.name, obj.path, obj.kind))
    return sorted(out, key=lambda o: o.name)


def _scan_container(name: str, path: str) -> list[ObjectStats]:
    found: list[ObjectStats] = []
    children = sorted(os.scandir(path), key=lambda e: e.name)
    if not children:
        return [_stats(name, path, "directory")]
    for entry in children:
        if entry.name.startswith(_HIDDEN):
            continue
        child = f"{name}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            if os.path.isdir(os.path.join(entry.path, "_delta_log")):
                found.append(_stats(child, entry.path, "delta"))
            elif _is_container(entry.path):
                found.extend(_scan_container(child, entry.path))
            else:
                found.append(_stats(child, entry.path, "parquet"))
        else:
            found.append(_stats(child, entry.path, "file"))
    return found


def _remote_tree(store: DeltaStore) -> dict[str, list[pafs.FileInfo]]:
    """Files of an object-store warehouse by relative path (one recursive listing), hidden ones left out."""
    root = store.table_root("").rstrip("/")
    found = store.filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    tree: dict[str, list[pafs.FileInfo]] = {}
    for f in found:
        if f.type != pafs.FileType.File:
            continue
        rel = f.path[len(root):].lstrip("/") if root else f.path.lstrip("/")
        if rel and not rel.startswith(_HIDDEN):
            tree[rel] = [f]
    return tree


def _stats_remote(store: DeltaStore, name: str, kind: str, files: list[pafs.FileInfo]) -> ObjectStats:
    base = name.rsplit("/", 1)[-1]
    stem = base.split(".")[0] if kind == "file" else base
    size = sum(int(f.size or 0) for f in files)
    newest = max((f.mtime.timestamp() for f in files if f.mtime is not None), default=0.0)
    prefix = store.table_root(name).rstrip("/")
    parquet = [f.path for f in files if f.path.endswith(".parquet") and "/_delta_log/" not in f.path]
    rows: int | None = None
    if kind in ("parquet", "file") and parquet:
        rows = 0
        for path in parquet:
            try:
                with store.filesystem.open_input_file(path) as handle:
                    rows += pq.ParquetFile(handle).metadata.num_rows
            except Exception:  # noqa: BLE001 - a corrupt leftover still gets listed (and removed)
                continue
    partitions = 0
    if kind in ("delta", "parquet"):
        partitions = len({p[len(prefix):].lstrip("/").rpartition("/")[0] for p in parquet} - {""})
    versions = sum(1 for f in files if f.path.rpartition("/")[0].endswith("/_delta_log")
                   and f.base_name.endswith(".json") and f.base_name[:20].isdigit()) if kind == "delta" else 0
    last = datetime.fromtimestamp(newest, tz=UTC) if newest else None
    return ObjectStats(name, f"{store.root}/{name}", kind, classify(stem), size, len(files), rows, partitions,
                       versions, last)


def _scan_remote(store: DeltaStore) -> list[ObjectStats]:
    """`scan_objects` for an object store: the same objects and containers, from one listing."""
    tree = _remote_tree(store)

    def classify_dir(name: str, inner: dict[str, list[pafs.FileInfo]]) -> str:
        if any(k.startswith("_delta_log/") for k in inner):
            return "delta"
        direct = [k for k in inner if "/" not in k]
        if any(k.endswith(".parquet") for k in direct) or any("=" in k.split("/", 1)[0] for k in inner if "/" in k):
            return "parquet"
        return "container" if inner else "directory"

    def walk(prefix: str, inner: dict[str, list[pafs.FileInfo]]) -> list[ObjectStats]:
        out: list[ObjectStats] = []
        for top in sorted({k.split("/", 1)[0] for k in inner}):
            name = f"{prefix}/{top}" if prefix else top
            if top in inner and "/" not in top:  # a plain file at this level
                out.append(_stats_remote(store, name, "file", inner[top]))
                continue
            sub = {k[len(top) + 1:]: v for k, v in inner.items() if k.startswith(top + "/")}
            kind = classify_dir(name, sub)
            if kind == "container":
                out.extend(walk(name, sub))
            else:
                out.append(_stats_remote(store, name, kind, [f for v in sub.values() for f in v]))
        return out

    return sorted(walk("", tree), key=lambda o: o.name)


def _remote_target(store: DeltaStore, name: str) -> str:
    """The path of object `name` on the store's filesystem; refuses names that could leave the warehouse."""
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith("/") or "://" in name or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"refusing to touch {name}: it is not inside the warehouse {store.root}")
    return store.table_root(name)


def _delete_remote(store: DeltaStore, name: str) -> int:
    target = _remote_target(store, name)
    fs = store.filesystem
    info = fs.get_file_info(target)
    if info.type == pafs.FileType.File:
        size = int(info.size or 0)
        fs.delete_file(target)
    else:
        files = fs.get_file_info(pafs.FileSelector(target, recursive=True, allow_not_found=True))
        size = sum(int(f.size or 0) for f in files if f.type == pafs.FileType.File)
        if not files and info.type == pafs.FileType.NotFound:
            return 0
        fs.delete_dir(target)
    store._forget(name)
    return size


def delete_object(store: DeltaStore, name: str) -> int:
    """Remove one object (directory tree or file) under the warehouse root; returns the bytes freed."""
    if store.remote:
        return _delete_remote(store, name)
    target = _inside(store, name)
    if not target.exists() and not target.is_symlink():
        return 0
    if target.is_dir() and not target.is_symlink():
        size = _walk(str(target))[0]
        shutil.rmtree(target)
    else:
        size = target.lstat().st_size
        target.unlink()
    store._forget(name)
    return size


def vacuum(store: DeltaStore, name: str, *, retention_hours: int, dry_run: bool = True) -> tuple[list[str], int]:
    """Files (and their bytes) no version within `retention_hours` needs; removed unless `dry_run`.

    A "full" vacuum: besides the files that versions past the retention removed, it lists the table
    directory and takes every data file that no version in the log references (orphans of killed
    writes), when it is older than the retention (its modification time): a lite vacuum never sees
    those. Files of the current version and files removed within the retention (time travel) are kept;
    hidden files and folders (`_delta_log`, names starting with `_` or `.` other than partitions) too.
    A dry run reads only, so it takes no lock (`janitor plan` previews while a load runs); the real
    run holds the writer lock, so no write can be under way while files are deleted.
    """
    with nullcontext() if dry_run else store.writer_lock():
        dt = store.table(name)
        files = dt.vacuum(retention_hours=retention_hours, dry_run=True, enforce_retention_duration=False,
                          full=True)
        size = 0
        if store.remote:  # one HEAD per file; delta-rs names them relative to the table or as full URIs
            paths = [store.fs_path(f) if "://" in f else f"{store.table_root(name)}/{f}" for f in files]
            size = sum(int(i.size or 0) for i in store.filesystem.get_file_info(paths)
                       if i.type == pafs.FileType.File) if paths else 0
        root = Path(store.path(name))
        for f in files if not store.remote else ():
            p = Path(f.removeprefix("file://")) if f.startswith("file://") else root / f
            if p.exists():
                size += p.stat().st_size
        if not dry_run and files:
            dt.vacuum(retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False,
                      full=True)
            store._forget(name)
    return [str(f) for f in files], size


def orphan_files(store: DeltaStore, name: str, files: list[str], *, retention_hours: int) -> list[str]:
    """Those of `files` (from `vacuum`) that are orphans: not a removal the log records (a lite vacuum's
    list), so no version references them at all."""
    dt = store.table(name)
    removed = set(dt.vacuum(retention_hours=retention_hours, dry_run=True, enforce_retention_duration=False))
    return [f for f in files if f not in removed]


def needs_compaction(store: DeltaStore, name: str, *, small_file_bytes: int = 8 << 20) -> tuple[bool, int]:
    """(True, files) when some partition holds more than one small file: compaction would merge them."""
    index = store.file_index(name)
    per_part: dict[object, int] = {}
    for part, size in zip(index.partitions, index.sizes):
        if int(size) < small_file_bytes:
            per_part[part] = per_part.get(part, 0) + 1
    small = sum(n for n in per_part.values() if n > 1)
    return small > 0, small


def compact(store: DeltaStore, name: str, *, zorder: bool = True) -> dict[str, object]:
    """Merge small files and re-cluster by symbol, sector, exchange (one commit)."""
    return store.optimize(name, zorder=zorder)


def partition_sizes(store: DeltaStore, name: str) -> dict[str, tuple[int, int]]:
    """Partition value -> (rows, bytes) of a production table, from the Delta log."""
    index = store.file_index(name)
    out: dict[str, tuple[int, int]] = {}
    for part, rows, size in zip(index.partitions, index.records, index.sizes):
        if part is None:
            continue
        r, b = out.get(part, (0, 0))
        out[part] = (r + int(rows), b + int(size))
    return out


def drop_partitions(store: DeltaStore, name: str, partitions: list[str]) -> int:
    """Remove whole partitions of a production table in ONE commit (no data file is rewritten)."""
    if not partitions:
        return store.version(name)
    for p in partitions:
        if "'" in p:
            raise StorageError(f"bad partition value {p!r}", table=name)
    values = ", ".join(f"'{p}'" for p in sorted(set(partitions)))
    with store.writer_lock():
        dt = store.table(name)
        dt.delete(f"{PARTITION_COLUMN} IN ({values})")
        store._forget(name)
        return store.version(name)


def table_schema(store: DeltaStore, name: str) -> pa.Schema:
    """The stored Arrow schema of a Delta table (for schema-conformance checks)."""
    return pa.schema(store.table(name).schema().to_arrow())


def file_checksums(path: str | Path) -> dict[str, str]:
    """SHA-256 of every file under `path`, keyed by relative path (proves data was left untouched)."""
    out: dict[str, str] = {}
    base = Path(path)
    for dirpath, _dirs, names in os.walk(base):
        for n in names:
            full = Path(dirpath) / n
            out[str(full.relative_to(base))] = hashlib.sha256(full.read_bytes()).hexdigest()
    return out


__all__ = [
    "ObjectStats",
    "compact",
    "delete_object",
    "delta_versions",
    "drop_partitions",
    "file_checksums",
    "needs_compaction",
    "orphan_files",
    "partition_sizes",
    "scan_objects",
    "table_schema",
    "vacuum",
]


def scan_table(store: DeltaStore, name: str) -> pa.Table:
    """Every row of a production table, typed as `bar_schema()`.

    Rows come in file order (NOT sorted): full scans for the quality monitor, which sorts only the arrays
    it needs. DuckDB decodes the active files with all cores, about three times faster than a dataset
    scan of the small row groups the store writes for point reads.
    """
    import duckdb

    from marketlake.schema import bar_schema

    schema = bar_schema()
    files = store.active_files(name)
    if not files:
        return schema.empty_table()
    if store.remote:  # pyarrow's filesystem reads the objects: DuckDB would need its httpfs extension
        import pyarrow.dataset as pads

        data = pads.dataset([store.fs_path(f) for f in files], schema=schema, format="parquet",
                            filesystem=store.filesystem)
        return data.to_table()
    cols = ", ".join(f'"{c}"' for c in schema.names)
    with duckdb.connect() as con:
        data = con.sql(f"SELECT {cols} FROM read_parquet({files!r})").to_arrow_table()
    return data.cast(schema)
