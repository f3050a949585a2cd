"""Inventory: per-table facts from the Delta log, and every object in the warehouse directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from marketlake.errors import StorageError
from marketlake.schema import ObjectClass, classify

if TYPE_CHECKING:
    from marketlake.storage.store import DeltaStore

_HIDDEN = (".marketlake",)


@dataclass(frozen=True)
class ObjectInfo:
    """One top-level entry of the warehouse directory.

    kind: `delta` (a directory with `_delta_log`), `parquet` (a folder of Parquet files without a log),
    `directory` (anything else that is a folder) or `file`.
    """

    name: str
    path: str
    kind: str
    bytes: int
    files: int
    object_class: ObjectClass


def _ts(us: int) -> datetime | None:
    if us in (np.iinfo(np.int64).min, np.iinfo(np.int64).max):
        return None
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def _symbol_count(store: DeltaStore, name: str) -> int | None:
    index = store.file_index(name)
    key = (name, index.version)
    if key in store._symbol_counts:
        return store._symbol_counts[key]
    if not index.files:
        return 0
    frags = [
        store._format.make_fragment(f"{store.table_root(name)}/{p}", filesystem=store._fs) for p in index.paths
    ]
    if "symbol" not in frags[0].physical_schema.names:
        return None
    schema = pa.schema([pa.field("symbol", pa.string())])  # delta-rs may store string_view
    data = ds.FileSystemDataset(frags, schema, store._format, store._fs).to_table(columns=["symbol"])
    count = int(pc.count_distinct(data.column("symbol")).as_py())
    store._symbol_counts[key] = count
    return count


def table_info(store: DeltaStore, name: str, factory: Any) -> Any:
    """A TableInfo for one table (symbols counted from the symbol column once per version)."""
    if not store.exists(name):
        raise StorageError(f"table {name} does not exist in {store.root}", table=name)
    index = store.file_index(name)
    parts = {p for p in index.partitions if p is not None}
    min_us = int(index.min_dt.min()) if index.files else np.iinfo(np.int64).min
    max_us = int(index.max_dt.max()) if index.files else np.iinfo(np.int64).max
    has_dt = "datetime" in store.table(name, refresh=False).schema().to_arrow().names if index.files else False
    last = None
    if index.last_modified_ms:
        last = datetime.fromtimestamp(index.last_modified_ms / 1000, tz=UTC)
    return factory(
        name=name,
        rows=int(index.records.sum()),
        symbols=_symbol_count(store, name),
        min_datetime=_ts(min_us) if has_dt else None,
        max_datetime=_ts(max_us) if has_dt else None,
        partitions=len(parts),
        files=index.files,
        bytes=int(index.sizes.sum()),
        version=index.version,
        last_write=last,
    )


def _walk(path: str) -> tuple[int, int, bool]:
    total = files = 0
    parquet = False
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            try:
                total += os.path.getsize(os.path.join(dirpath, n))
            except OSError:
                continue
            files += 1
            parquet = parquet or n.endswith(".parquet")
    return total, files, parquet


def list_objects(store: DeltaStore) -> list[ObjectInfo]:
    """Top-level entries of a local warehouse directory, sorted by name (the lock file is left out)."""
    if store.remote:
        return _list_remote(store)
    out: list[ObjectInfo] = []
    if not os.path.isdir(store.root):
        return out
    for entry in sorted(os.scandir(store.root), key=lambda e: e.name):
        if entry.name.startswith(_HIDDEN):
            continue
        if entry.is_dir(follow_symlinks=False):
            size, files, parquet = _walk(entry.path)
            if os.path.isdir(os.path.join(entry.path, "_delta_log")):
                kind = "delta"
            else:
                kind = "parquet" if parquet else "directory"
        else:
            size, files, kind = entry.stat(follow_symlinks=False).st_size, 1, "file"
        stem = entry.name.split(".")[0] if kind == "file" else entry.name
        out.append(ObjectInfo(entry.name, entry.path, kind, size, files, classify(stem)))
    return out


def _list_remote(store: DeltaStore) -> list[ObjectInfo]:
    """The same listing through the store's pyarrow filesystem (object stores: one recursive listing)."""
    fs, root = store.filesystem, store.table_root("").rstrip("/")
    found = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    tops: dict[str, list[pafs.FileInfo]] = {}
    for f in found:
        rel = f.path[len(root):].lstrip("/") if root else f.path.lstrip("/")
        top = rel.split("/", 1)[0]
        if top and not top.startswith(_HIDDEN):
            tops.setdefault(top, []).append(f)
    out: list[ObjectInfo] = []
    for name in sorted(tops):
        entries = tops[name]
        path = f"{store.root}/{name}"
        files = [f for f in entries if f.type == pafs.FileType.File]
        is_file = len(entries) == 1 and files and files[0].path.rstrip("/").endswith("/" + name)
        if is_file:
            out.append(ObjectInfo(name, path, "file", int(files[0].size or 0), 1, classify(name.split(".")[0])))
            continue
        size = sum(int(f.size or 0) for f in files)
        if any(f.path.split("/")[-2:-1] == ["_delta_log"] and f.path.endswith(".json") for f in files):
            kind = "delta"
        else:
            kind = "parquet" if any(f.path.endswith(".parquet") for f in files) else "directory"
        out.append(ObjectInfo(name, path, kind, size, len(files), classify(name)))
    return out


__all__ = ["ObjectInfo", "list_objects", "table_info"]
