"""`janitor plan` / `janitor apply`: what would be removed, vacuumed or compacted, then doing it.

Planning is pure over the audit list (plus vacuum/compaction facts from storage), so it can be shown,
tested and diffed before anything changes. Rules (tables.md naming convention):

- legacy and temp objects are removed;
- an unknown object is removed only when named explicitly (`include`): we cannot know what it is;
- production and support tables are never removed, only vacuumed (old Delta versions past the
  retention, and orphan files of killed writes: data files no version references, older than the
  retention) and compacted/re-clustered when partitions hold several small files;
- a damaged table (commit, checkpoint or data file, `storage.integrity`) is repaired back to its last
  good version, and neither vacuumed nor compacted until then.
Every applied action is written to `janitor_log` twice: before it starts (`detail` "started: ...",
0 bytes), so a kill mid-apply still leaves a record of what was under way, and when it has finished
("done: ...", the bytes freed) or failed ("failed: ..."). A "started" row without its "done" row is an
interrupted action; re-running `apply` finishes what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa

from marketlake.errors import ConfigError
from marketlake.janitor.audit import AuditEntry, audit
from marketlake.pipeline.memory_budget import group_rows, parse_budget
from marketlake.pipeline.symbol_master import resync_spans
from marketlake.schema import SUPPORT_SCHEMAS, TABLES, get_table
from marketlake.storage import DeltaStore, integrity
from marketlake.storage import maintenance as mt
from marketlake.storage.compaction import compact_partitions
from marketlake.storage.versioned import as_of_horizon

Action = Literal["remove", "vacuum", "compact", "keep", "repair"]
PROTECTED = ("production", "support")
DEFAULT_VACUUM_HOURS = 168
SMALL_FILE_BYTES = 8 << 20  # `mt.needs_compaction`'s default: smaller files are merged


@dataclass(frozen=True)
class PlanEntry:
    """One planned action on one object; `bytes` is what it reclaims (the object's size for remove)."""

    name: str
    object_class: str
    kind: str
    action: Action
    bytes: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["class"] = out.pop("object_class")
        return out


def decide(entries: Iterable[AuditEntry], *, include: Sequence[str] = ()) -> list[PlanEntry]:
    """Remove/keep decision per object from its class (pure; vacuum and compaction are added by `plan`)."""
    named = set(include)
    entries = list(entries)
    listed = {e.name for e in entries}
    out: list[PlanEntry] = []
    for e in entries:
        cls = e.object_class
        if cls in PROTECTED and e.name in named:
            raise ConfigError(f"{e.name} is a {cls} table; the janitor never removes those")
        if cls in ("legacy", "temp"):
            why = "temporary leftover of a half-finished load" if cls == "temp" else "name forbidden by tables.md"
            out.append(PlanEntry(e.name, cls, e.kind, "remove", e.bytes, why))
        elif cls == "unknown" and e.name in named:
            out.append(PlanEntry(e.name, cls, e.kind, "remove", e.bytes, "unknown object named explicitly"))
        else:
            why = "unknown object: name it explicitly to remove it" if cls == "unknown" else f"{cls} table"
            out.append(PlanEntry(e.name, cls, e.kind, "keep", 0, why))
    missing = named - listed
    if missing:
        raise ConfigError(f"no object named {sorted(missing)} in the warehouse; see `marketlake janitor audit`")
    return out


def plan(
    store: DeltaStore,
    *,
    include: Sequence[str] = (),
    vacuum_hours: int = DEFAULT_VACUUM_HOURS,
    compact: bool = True,
    show_keep: bool = False,
) -> list[PlanEntry]:
    """What `apply` would do, changing nothing."""
    entries = audit(store)
    decided = decide(entries, include=include)
    out = [p for p in decided if show_keep or p.action != "keep"]
    for e in entries:
        if e.object_class not in PROTECTED or e.kind != "delta" or "/" in e.name:
            continue
        fix = _repair_entry(store, e)
        if fix is not None:
            out.append(fix)
            continue
        files, size = mt.vacuum(store, e.name, retention_hours=vacuum_hours, dry_run=True)
        if files:
            orphans = len(mt.orphan_files(store, e.name, files, retention_hours=vacuum_hours))
            what = f" ({orphans} orphan files of interrupted writes)" if orphans else ""
            from marketlake.datasets.registry import vacuum_warnings

            pinned = "".join(f"; WARNING: {w}" for w in vacuum_warnings(store, e.name, files))
            horizon = as_of_horizon(store, e.name, files)
            if horizon is not None:
                pinned += (f"; time travel (as_of) will reach back to version {horizon.version + 1} only: "
                           f"version {horizon.version} ({horizon.timestamp:%Y-%m-%d %H:%M}Z) and older become "
                           f"unreadable")
            out.append(PlanEntry(e.name, e.object_class, e.kind, "vacuum", size,
                                 f"{len(files)} files unused for {vacuum_hours} h{what}{pinned}"))
        if compact and e.object_class == "production":
            needed, small = mt.needs_compaction(store, e.name)
            if needed:
                out.append(PlanEntry(e.name, e.object_class, e.kind, "compact", 0,
                                     f"{small} small files in shared partitions; compact and re-cluster"))
    return out


def _repair_entry(store: DeltaStore, e: AuditEntry) -> PlanEntry | None:
    """The repair of a damaged table (a `keep` entry saying why when there is no good version)."""
    damage = integrity.scan(store, e.name, full_data=e.object_class == "support")
    if not damage:
        return None
    what = "; ".join(d.describe() for d in damage[:2]) + (f"; {len(damage) - 2} more" if len(damage) > 2 else "")
    todo = integrity.plan_repair(store, e.name, damage)
    if todo is None:
        return PlanEntry(e.name, e.object_class, e.kind, "keep", 0,
                         f"damaged ({what}); no good version to go back to: restore it from a backup")
    return PlanEntry(e.name, e.object_class, e.kind, "repair", 0, f"damaged ({what}); {todo.describe()}")


def _log(store: DeltaStore, rows: list[dict[str, Any]]) -> None:
    if rows:
        store.append_support("janitor_log", pa.Table.from_pylist(rows, schema=SUPPORT_SCHEMAS["janitor_log"]))


def log_row(name: str, object_class: str, action: str, status: str, detail: str, freed: int = 0) -> dict[str, Any]:
    """One `janitor_log` row; `status` (started, done, failed) leads the detail."""
    return {"logged_at": datetime.now(UTC), "name": name, "class": object_class, "action": action,
            "bytes": int(freed), "detail": f"{status}: {detail}"}


def apply(
    store: DeltaStore,
    *,
    include: Sequence[str] = (),
    vacuum_hours: int = DEFAULT_VACUUM_HOURS,
    compact: bool = True,
    progress: Callable[[str], None] | None = None,
    memory_budget: int | str | None = None,
) -> list[PlanEntry]:
    """Carry out the plan under the writer lock; each action is logged before it starts and when done.

    Compaction holds one partition (one symbol group of it under `memory_budget`) at a time.

    `progress` hears each action as it starts (`2/5 vacuum stocks_daily_clean`): a vacuum or compaction
    of a big table takes a while.
    """
    with store.writer_lock():
        actions = plan(store, include=include, vacuum_hours=vacuum_hours, compact=compact)
        actions = [p for p in actions if p.action != "keep"]
        for p in actions:
            if p.action == "remove" and p.object_class in PROTECTED:  # belt and braces: decide() never plans this
                raise ConfigError(f"refusing to remove {p.object_class} table {p.name}")
        _log(store, [log_row(p.name, p.object_class, p.action, "started", p.reason) for p in actions])
        for i, p in enumerate(actions, 1):
            if progress is not None:
                progress(f"{i}/{len(actions)} {p.action} {p.name}")
            try:
                freed, detail = _carry_out(store, p, vacuum_hours=vacuum_hours, memory_budget=memory_budget)
            except Exception as exc:
                _log(store, [log_row(p.name, p.object_class, p.action, "failed", f"{p.reason}; {exc}")])
                raise
            _log(store, [log_row(p.name, p.object_class, p.action, "done", detail, freed)])
    return actions


def _carry_out(store: DeltaStore, p: PlanEntry, *, vacuum_hours: int,
               memory_budget: int | str | None = None) -> tuple[int, str]:
    """Do one planned action; returns (bytes freed, detail for the log)."""
    if p.action == "remove":
        return mt.delete_object(store, p.name), p.reason
    if p.action == "repair":
        integrity.repair(store, p.name)
        if p.name in TABLES:  # a data repair goes back a version: the master's spans follow the table
            resync_spans(store, TABLES[p.name], now=datetime.now(UTC))
        return 0, p.reason
    if p.action == "vacuum":
        _files, freed = mt.vacuum(store, p.name, retention_hours=vacuum_hours, dry_run=False)
        return freed, p.reason
    metrics = compact_table(store, p.name, memory_budget=memory_budget)
    return 0, f"{p.reason}; removed {metrics.get('numFilesRemoved')} added {metrics.get('numFilesAdded')}"


def compact_table(store: DeltaStore, name: str, *, memory_budget: int | str | None = None,
                  small_file_bytes: int = SMALL_FILE_BYTES) -> dict[str, int]:
    """Merge the small files of every partition holding several (`mt.needs_compaction`'s rule), one
    partition (or one symbol group of it, under `memory_budget`) in memory at a time, in one commit.

    Not delta-rs `optimize.z_order`: that sorts whole partitions in DataFusion with a spill pool sized in
    gigabytes. Rows come out sorted by (symbol, datetime), the clustering every writer keeps."""
    index = store.file_index(name)
    small: dict[str, int] = {}
    for part, size in zip(index.partitions, index.sizes):
        if part is not None and int(size) < small_file_bytes:
            small[part] = small.get(part, 0) + 1
    parts = sorted(p for p, n in small.items() if n > 1)
    metrics: dict[str, int] = {}
    compact_partitions(store, get_table(name), parts, max_files=1, metrics=metrics,
                       rows_limit=group_rows(parse_budget(memory_budget)))
    return metrics


__all__ = ["DEFAULT_VACUUM_HOURS", "PROTECTED", "PlanEntry", "apply", "compact_table", "decide", "log_row", "plan"]
