"""The `sync_runs` support table: one row per sync action, appended (every process adds its own rows)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import pyarrow as pa

from marketlake.schema import SUPPORT_SCHEMAS
from marketlake.storage import DeltaStore

TABLE = "sync_runs"


@dataclass(frozen=True)
class ActionRecord:
    run_id: str
    mode: str  # once | watch
    table: str  # "*" for a pass that had nothing to do
    source: str | None
    action: str  # update | backfill | none
    started_at: datetime
    finished_at: datetime
    symbols: int = 0
    rows: int = 0
    credits: int = 0
    requests: int = 0
    status: str = "ok"  # ok | failed | deferred | stopped
    message: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def record(store: DeltaStore, rows: list[ActionRecord]) -> None:
    """Append `rows` in one commit (the writer lock is held only for it)."""
    if rows:
        data = pa.Table.from_pylist([r.as_dict() for r in rows], schema=SUPPORT_SCHEMAS[TABLE])
        store.append_support(TABLE, data)


def last_updates(store: DeltaStore) -> dict[str, datetime]:
    """Per table, when its last successful update action finished (for cadences coarser than the bars)."""
    if not store.exists(TABLE):
        return {}
    out: dict[str, datetime] = {}
    for r in store.read_support(TABLE, columns=["table", "action", "status", "finished_at"]).to_pylist():
        if r["action"] == "update" and r["status"] == "ok" and r["finished_at"] is not None:
            out[r["table"]] = max(out.get(r["table"], r["finished_at"]), r["finished_at"])
    return out


__all__ = ["TABLE", "ActionRecord", "last_updates", "record"]
