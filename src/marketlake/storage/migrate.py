"""Layout migrations: bring tables written by an older release to the current layout (`LAYOUT_VERSION`).

A table's layout version is in its Delta description (`commits.layout_of`; unmarked = 1). Each step
`STEPS[v]` takes a table from version v to v + 1 in ONE Delta commit that also records v + 1, so a table
is always wholly old or wholly new:

- 1 -> 2: the partition column `_partition` becomes `partition_period`. Data files are hard-linked (or
  copied) into `partition_period=.../` folders first, then a commit removes the old paths and adds the
  new ones with the new schema, partition column, table properties (checkpoints, log retention,
  statistics of every column) and layout marker. Killed before that commit, the table is still layout 1
  and readable (the new links are orphans that a re-run reuses and vacuum would remove); after it, the
  table is layout 2. The old folders are released by the usual vacuum after the retention.

delta-rs cannot change a table's partition column in a commit (its transaction API writes the new
schema with the old partition column, leaving an unreadable table), so the commit is written here:
to a temporary file, then hard-linked to its version's name, which fails if that version exists.

A later layout change adds `STEPS[2]` and raises `LAYOUT_VERSION`; `DeltaStore.table()` migrates a table
on open and `marketlake migrate` migrates a whole warehouse.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import pyarrow as pa
from deltalake import DeltaTable

from marketlake.errors import StorageError
from marketlake.schema import LEGACY_PARTITION_COLUMNS, PARTITION_COLUMN, TABLE_NAMES, classify
from marketlake.storage.commits import LAYOUT_VERSION, TABLE_PROPERTIES, layout_description, layout_of
from marketlake.storage.parquet_commit import stat_value

if TYPE_CHECKING:
    from marketlake.storage.store import DeltaStore

TMP_DIR = ".marketlake-tmp"  # in the warehouse root; hidden from inventory and the janitor


@dataclass(frozen=True)
class Migration:
    """What `migrate` did (or would do) to one table."""

    table: str
    from_version: int
    to_version: int
    files: int


def layout_version(store: DeltaStore, name: str) -> int:
    """The layout version of a table as recorded in its log (1 when unmarked)."""
    dt = DeltaTable(store.path(name), storage_options=store.storage_options)
    return layout_of(dt.metadata().description)


def _stats(add: dict[str, Any]) -> str | None:
    """An add action's statistics as Delta JSON, rebuilt from delta-rs' parsed view of them."""
    if add.get("num_records") is None:
        return None
    mins = {k: stat_value(v) for k, v in (add.get("min") or {}).items() if v is not None}
    maxs = {k: stat_value(v) for k, v in (add.get("max") or {}).items() if v is not None}
    nulls = {k: v for k, v in (add.get("null_count") or {}).items() if v is not None}
    return json.dumps({"numRecords": add["num_records"], "minValues": mins, "maxValues": maxs, "nullCount": nulls})


def _link(src: str, dst: str) -> None:
    """`dst` as the same bytes as `src`: a hard link (no copy, no extra space), else a copy."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.exists(dst):  # left by a killed run: same name, same source
        os.unlink(dst)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _commit(store: DeltaStore, name: str, version: int, actions: list[dict[str, Any]]) -> None:
    """Write `actions` as commit `version` atomically: complete or absent, never partial."""
    tmp_dir = os.path.join(store.root, TMP_DIR)
    os.makedirs(tmp_dir, exist_ok=True)
    tmp = os.path.join(tmp_dir, f"commit-{uuid.uuid4().hex}.json")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(a, separators=(",", ":")) + "\n" for a in actions))
        f.flush()
        os.fsync(f.fileno())
    target = os.path.join(store.path(name), "_delta_log", f"{version:020d}.json")
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise StorageError(f"table {name} changed during its migration (version {version} exists); "
                           f"run `marketlake migrate` again", table=name) from None
    finally:
        os.unlink(tmp)


def _v1_to_v2(store: DeltaStore, name: str, dt: DeltaTable) -> int:
    """Rename the partition column (production tables) and set the table properties; returns files moved."""
    meta = dt.metadata()
    old_cols = list(meta.partition_columns)
    legacy = [c for c in old_cols if c in LEGACY_PARTITION_COLUMNS]
    schema = json.loads(dt.schema().to_json())
    now = int(time.time() * 1000)
    actions: list[dict[str, Any]] = []
    moved = 0
    if legacy:
        old = legacy[0]
        for f in schema["fields"]:
            if f["name"] == old:
                f["name"] = PARTITION_COLUMN
        root = store.path(name)
        for add in pa.table(dt.get_add_actions(flatten=False)).to_pylist():
            rel = unquote(str(add["path"]))
            value = (add.get("partition") or {}).get(old)
            new_rel = f"{PARTITION_COLUMN}={value}/{os.path.basename(rel)}"
            _link(os.path.join(root, rel), os.path.join(root, new_rel))
            actions.append({"remove": {"path": add["path"], "deletionTimestamp": now, "dataChange": False,
                                       "extendedFileMetadata": True, "partitionValues": {old: value},
                                       "size": add["size_bytes"]}})
            actions.append({"add": {"path": quote(new_rel, safe="/=:"), "partitionValues": {PARTITION_COLUMN: value},
                                    "size": add["size_bytes"], "modificationTime": add["modification_time"],
                                    "dataChange": False, "stats": _stats(add)}})
            moved += 1
    cols = [PARTITION_COLUMN if c in legacy else c for c in old_cols]
    metadata = {
        "id": meta.id, "name": meta.name, "description": layout_description(2),
        "format": {"provider": "parquet", "options": {}}, "schemaString": json.dumps(schema),
        "partitionColumns": cols, "createdTime": meta.created_time,
        "configuration": {**dict(meta.configuration), **TABLE_PROPERTIES},
    }
    info = {"commitInfo": {"timestamp": now, "operation": "marketlake.migrate",
                           "operationParameters": {"fromLayout": "1", "toLayout": "2"},
                           "marketlake.operation": "migrate", "marketlake.filesMoved": moved,
                           "clientVersion": "marketlake"}}
    _commit(store, name, int(dt.version()) + 1, [info, {"metaData": metadata}, *actions])
    return moved


STEPS: dict[int, Callable[[DeltaStore, str, DeltaTable], int]] = {1: _v1_to_v2}


def pending(store: DeltaStore, name: str) -> int | None:
    """The layout version of a table when it needs migrating, else None."""
    version = layout_version(store, name)
    return version if version < LAYOUT_VERSION else None


def migrate_table(store: DeltaStore, name: str, *, dry_run: bool = False) -> Migration | None:
    """Run the steps from the table's layout to `LAYOUT_VERSION` under the writer lock (None: up to date)."""
    if store.remote:  # the steps hard-link files and write commits as local files
        if layout_version(store, name) >= LAYOUT_VERSION:
            return None
        raise StorageError(f"table {name}: migrating needs a local warehouse directory (copy the warehouse to "
                           f"disk, `marketlake migrate --yes` there, and copy it back)", table=name)
    with store.writer_lock():
        start = layout_version(store, name)
        if start >= LAYOUT_VERSION:
            return None
        if dry_run:
            return Migration(name, start, LAYOUT_VERSION, 0)
        files = 0
        version = start
        while version < LAYOUT_VERSION:
            step = STEPS.get(version)
            if step is None:
                raise StorageError(f"table {name} has layout {version}, which this release cannot migrate",
                                   table=name)
            dt = DeltaTable(store.path(name), storage_options=store.storage_options)
            files += step(store, name, dt)
            version += 1
        store._forget(name)
        return Migration(name, start, LAYOUT_VERSION, files)


def migrate_warehouse(store: DeltaStore, *, dry_run: bool = False,
                      progress: Callable[[str], None] | None = None) -> list[Migration]:
    """Migrate every production and support table; tables already current are left alone.

    `progress` hears each table before it is looked at (relinking a big table's files takes a while).
    """
    out = []
    for name in store.table_names():
        if name not in TABLE_NAMES and classify(name) != "support":
            continue  # legacy and unknown objects: not ours to change
        if progress is not None:
            progress(name)
        done = migrate_table(store, name, dry_run=dry_run)
        if done is not None:
            out.append(done)
    return out


__all__ = ["STEPS", "Migration", "layout_version", "migrate_table", "migrate_warehouse", "pending"]
