"""`janitor audit`: an inventory of everything in the warehouse directory, classed by the naming convention.

Classes come from `marketlake.schema.classify` (tables.md): production, support, legacy, temp, unknown.
Leftovers are found wherever they sit (top level or inside plain folders), as Delta tables or as folders
of Parquet files, so the clutter of the original design (200+ tables) cannot hide.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from marketlake.errors import MarketlakeError
from marketlake.storage import DeltaStore
from marketlake.storage import maintenance as mt


@dataclass(frozen=True)
class AuditEntry:
    """One object of the warehouse with its class and size facts."""

    name: str
    object_class: str
    kind: str
    rows: int | None
    bytes: int
    files: int
    partitions: int
    versions: int
    last_write: datetime | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["class"] = out.pop("object_class")
        out["last_write"] = self.last_write.isoformat() if self.last_write else None
        return out


def audit(store: DeltaStore) -> list[AuditEntry]:
    """Every object with class, rows, bytes, files, partitions, Delta versions and last write."""
    out: list[AuditEntry] = []
    for obj in mt.scan_objects(store):
        rows, parts, last = obj.rows, obj.partitions, obj.last_write
        if obj.kind == "delta" and "/" not in obj.name:
            try:
                info = store.table_info(obj.name)
                rows, parts = info.rows, info.partitions
                last = info.last_write or last
            except MarketlakeError:
                pass
            except Exception:  # noqa: BLE001 - a broken leftover table must still be listed
                pass
        out.append(AuditEntry(obj.name, obj.object_class, obj.kind, rows, obj.bytes, obj.files, parts,
                              obj.versions, last))
    return out


__all__ = ["AuditEntry", "audit"]
