"""The warehouse's registry of datasets built from it (`dataset_manifests`): which Delta versions they pin.

The janitor must not silently vacuum the files a known dataset needs to be rebuilt: `pinned_versions` tells
it which versions those are, and `vacuum_warnings` which of the files a vacuum would delete they read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from marketlake.schema import SUPPORT_SCHEMAS
from marketlake.storage import DeltaStore

TABLE = "dataset_manifests"


def register_manifest(store: DeltaStore, out: Path, manifest: dict[str, Any]) -> None:
    """Record (path, table, version) of a built dataset; a rebuild into the same path replaces its row."""
    src = manifest["source"]
    row = {"path": str(Path(out).absolute()), "table": src["table"], "version": int(src["version"]),
           "content_hash": manifest["content_hash"], "built_at": datetime.now(UTC)}
    store.upsert_support(TABLE, pa.Table.from_pylist([row], schema=SUPPORT_SCHEMAS[TABLE]), keys=["path"])


def known_manifests(store: DeltaStore) -> list[dict[str, Any]]:
    return store.read_support(TABLE).to_pylist() if store.exists(TABLE) else []


def pinned_versions(store: DeltaStore) -> dict[str, set[int]]:
    """table -> Delta versions pinned by a dataset whose manifest is still on disk."""
    out: dict[str, set[int]] = {}
    for row in known_manifests(store):
        if Path(row["path"], "manifest.json").is_file():
            out.setdefault(row["table"], set()).add(int(row["version"]))
    return out


def vacuum_warnings(store: DeltaStore, table: str, deleted: list[str] | set[str]) -> list[str]:
    """One message per pinned version of `table` that reads a file in `deleted` (paths relative to the table
    or absolute): what the janitor should show before it vacuums."""
    from marketlake.storage.versioned import version_files

    root = store.path(table).rstrip("/") + "/"
    gone = {p[len(root):] if p.startswith(root) else p for p in deleted}
    out = []
    for version in sorted(pinned_versions(store).get(table, ())):
        hit = version_files(store, table, version) & gone
        if hit:
            users = [r["path"] for r in known_manifests(store) if r["table"] == table and int(r["version"]) == version]
            out.append(f"{table} version {version} is pinned by dataset(s) {', '.join(sorted(users))}: vacuuming "
                       f"deletes {len(hit)} of its files and `dataset build --from-manifest` will then fail")
    return out


__all__ = ["TABLE", "known_manifests", "pinned_versions", "register_manifest", "vacuum_warnings"]
