"""`marketlake retention`: enforce each production table's rolling window (tables.md) by whole partitions.

A partition is dropped only when ALL of it is older than the window (its end <= now - retention), so a
partially expired month or day stays until it has fully aged out: no row inside the window is lost and
no data file is rewritten. Dry-run by default; `apply_retention` drops in one commit per table and logs
to `janitor_log` before and after each drop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from marketlake.errors import ConfigError
from marketlake.schema import SUPPORT_SCHEMAS, TABLES, TableSpec
from marketlake.storage import DeltaStore
from marketlake.storage import maintenance as mt
from marketlake.storage.layout import partition_bounds

MINUTE_RANGE_DAYS = (90, 186)  # tables.md: 1-minute retention configurable from 3 to 6 months


@dataclass(frozen=True)
class RetentionEntry:
    """One expired partition of one table."""

    table: str
    partition: str
    rows: int
    bytes: int
    cutoff: datetime

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cutoff"] = self.cutoff.isoformat()
        return out


def retention_days(spec: TableSpec, overrides: Mapping[str, int | None] | None = None) -> int | None:
    """The window of a table: an override (checked against tables.md's bounds) or the default."""
    if overrides and spec.name in overrides:
        days = overrides[spec.name]
        if days is not None and spec.timeframe == "1min" and not MINUTE_RANGE_DAYS[0] <= days <= MINUTE_RANGE_DAYS[1]:
            raise ConfigError(f"retention of {spec.name} must be 90..186 days (3 to 6 months), got {days}")
        if days is not None and days <= 0:
            raise ConfigError(f"retention of {spec.name} must be positive, got {days}")
        return days
    return spec.retention_days


def expired_partitions(
    partitions: Mapping[str, tuple[int, int]], spec: TableSpec, *, days: int | None, now: datetime
) -> list[RetentionEntry]:
    """Partitions (value -> rows, bytes) entirely older than `now - days` (pure)."""
    if days is None:
        return []
    cutoff = now - timedelta(days=days)
    out = []
    for value, (rows, size) in sorted(partitions.items()):
        _start, end = partition_bounds(value, spec)
        if end <= cutoff:
            out.append(RetentionEntry(spec.name, value, rows, size, cutoff))
    return out


def retention_plan(
    store: DeltaStore, *, now: datetime | None = None, overrides: Mapping[str, int | None] | None = None,
    tables: Sequence[str] | None = None,
) -> list[RetentionEntry]:
    """Every partition that `apply_retention` would drop, over the existing production tables (or `tables`)."""
    moment = now or datetime.now(UTC)
    out: list[RetentionEntry] = []
    chosen = set(tables) if tables else None
    for name, spec in TABLES.items():
        if chosen is not None and name not in chosen:
            continue
        days = retention_days(spec, overrides)
        if days is None or not store.exists(name):
            continue
        out += expired_partitions(mt.partition_sizes(store, name), spec, days=days, now=moment)
    return out


def apply_retention(
    store: DeltaStore, *, now: datetime | None = None, overrides: Mapping[str, int | None] | None = None,
    tables: Sequence[str] | None = None, progress: Callable[[str], None] | None = None,
) -> list[RetentionEntry]:
    """Drop the expired partitions (one commit per table); each table's drop is logged to `janitor_log`
    before it starts ("started: ...") and after it committed ("done: ...", the bytes), as `janitor apply`
    does, so a kill in between leaves a record and a re-run drops what is left."""
    from marketlake.janitor.plan import log_row

    with store.writer_lock():
        entries = retention_plan(store, now=now, overrides=overrides, tables=tables)
        tables = sorted({e.table for e in entries})
        what = {}
        for table in tables:
            mine = [e for e in entries if e.table == table]
            what[table] = (mine, f"{len(mine)} partitions ({sum(e.rows for e in mine)} rows) "
                                 f"{mine[0].partition}..{mine[-1].partition}, older than {mine[0].cutoff:%Y-%m-%d}")
        _log(store, [log_row(t, "production", "retention", "started", f"dropping {what[t][1]}") for t in tables])
        for table in tables:
            mine, detail = what[table]
            if progress is not None:  # a drop rewrites the table's log and files: say which one is going
                progress(f"{table}: dropping {detail}")
            try:
                mt.drop_partitions(store, table, [e.partition for e in mine])
            except Exception as exc:
                _log(store, [log_row(table, "production", "retention", "failed", f"dropping {detail}; {exc}")])
                raise
            _log(store, [log_row(table, "production", "retention", "done", f"dropped {detail}",
                                 sum(e.bytes for e in mine))])
    return entries


def _log(store: DeltaStore, rows: list[dict[str, Any]]) -> None:
    if rows:
        store.append_support("janitor_log", pa.Table.from_pylist(rows, schema=SUPPORT_SCHEMAS["janitor_log"]))


__all__ = ["RetentionEntry", "apply_retention", "expired_partitions", "retention_days", "retention_plan"]
