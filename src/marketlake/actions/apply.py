"""Apply the stored actions that are not applied yet: splits, renames, delistings (dividends need no
change to stored bars). Everything runs under the writer lock, from the read to the last commit.

Splits, per production table, in one commit each: every stored bar of the symbol before the effective
date is rescaled (prices x from/to, volume inversely) and the 97 fields are recomputed through the
pipeline's compute path (the symbol with its sector peers and the benchmark, as a load does), then only
the rows that differ are written. Crash safety: before the first table is touched, one commit records
per (action, table) a probe, the close of the last bar before the date as it is now and as it will be
after the rescaling. A re-run after a kill between the table commits reads the probe bar: if it shows
the "after" value that table's commit happened (mark it done), if it shows "before" it did not (apply
it); so no table is rescaled twice. `applied_at` is set once every table is done, and an action with
`applied_at` is never applied again: re-loading the same file changes nothing and commits nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.actions.adjust import split_factor
from marketlake.actions.records import Action, read_actions, write_actions
from marketlake.errors import StorageError
from marketlake.frames import concat_rows
from marketlake.schema import (
    BAR_COLUMNS,
    METADATA_COLUMNS,
    SUPPORT_SCHEMAS,
    TABLE_NAMES,
    TableSpec,
    get_table,
)
from marketlake.storage import DeltaStore

Progress = Callable[[str], None]
_DONE = {"state": "done"}
_READ_COLS = [*BAR_COLUMNS, "source", *METADATA_COLUMNS, "updated_at"]


@dataclass
class ApplyReport:
    """What one application did: per table the bar commits made, and a line per applied action."""

    commits: dict[str, int] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)
    rows_rewritten: dict[str, int] = field(default_factory=dict)

    def _commit(self, table: str, rows: int) -> None:
        self.commits[table] = self.commits.get(table, 0) + 1
        self.rows_rewritten[table] = self.rows_rewritten.get(table, 0) + rows


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _probe(store: DeltaStore, table: str, a: Action, batch: list[Action]) -> tuple[datetime, float, float] | None:
    """The last bar before `a`'s date that the batch rescales, with a usable close: (datetime, close now,
    close after); None when no bar needs it."""
    rows = store.read(table, symbols=[a.symbol], end=_start(a.date) - timedelta(microseconds=1),
                      columns=["symbol", "datetime", "close"])
    close = rows.column("close").to_numpy(zero_copy_only=False).astype(np.float64)
    f = _factors(rows, [b for b in batch if b.symbol == a.symbol])
    ok = np.flatnonzero(np.isfinite(close) & (close > 0) & (f != 1.0))
    if ok.size == 0:
        return None
    i = int(ok[-1])
    return rows.column("datetime")[i].as_py(), float(close[i]), float(close[i] * f[i])


def _factors(bars: pa.Table, splits: list[Action]) -> np.ndarray:
    """Per bar: the product of the price factors of the splits after it. Every stored bar is in the
    stored convention of the splits applied so far (incoming bars are brought to it on load, TwelveData's
    fetched as traded), so a newly applied split rescales every bar before its date, whatever its source
    or `updated_at`."""
    return split_factor(bars.column("symbol"), bars.column("datetime"), splits)


def _close_at(store: DeltaStore, table: str, symbol: str, when: datetime) -> float | None:
    rows = store.read(table, symbols=[symbol], start=when, end=when, columns=["close"])
    return float(rows.column("close")[0].as_py()) if rows.num_rows else None


def _resolve_pending(store: DeltaStore, a: Action, table: str) -> bool:
    """True when `a`'s pending commit on `table` did happen (its probe bar shows the "after" close)."""
    st = a.applied[table]
    now = _close_at(store, table, a.symbol, datetime.fromisoformat(st["probe"]))
    if now is not None and _close(now, st["after"]):
        return True
    if now is not None and _close(now, st["before"]):
        return False
    raise StorageError(
        f"cannot tell whether the {a.from_factor:g}:{a.to_factor:g} split of {a.symbol} on {a.date} reached "
        f"{table}: the close at {st['probe']} is {now}, neither {st['before']} (before) nor {st['after']} "
        f"(after); its bars were changed by another load meanwhile. Check them (marketlake quality) and "
        f"re-import the symbol's history", table=table,
    )


def _frame_metadata(bars: pd.DataFrame) -> pd.DataFrame:
    """Each symbol's metadata on its latest stored bar (what a load recomputes with)."""
    last = bars.sort_values("datetime").drop_duplicates("symbol", keep="last")
    return last[["symbol", *METADATA_COLUMNS]].reset_index(drop=True)


def _compute_set(store: DeltaStore, spec: TableSpec, touched: list[str]) -> list[str] | None:
    """Symbols whose rows may change with `touched`: sector peers and the benchmark (None: every one)."""
    if spec.default_benchmark in touched:
        return None
    index = store.read(spec.name, columns=["symbol", "sector"], sort=False).to_pandas()
    index = index.drop_duplicates("symbol", keep="last")
    sectors = set(index.loc[index["symbol"].isin(touched), "sector"].dropna())
    peers = set(index.loc[index["sector"].isin(sectors), "symbol"])
    stored = set(index["symbol"])
    return sorted((set(touched) | peers | ({spec.default_benchmark} & stored)) & stored)


def recompute_rows(spec: TableSpec, bars: pd.DataFrame, *, now: datetime, only: list[str] | None = None) -> pa.Table:
    """The 97 columns of `bars` through the pipeline's compute path (rows of `only` when given)."""
    from marketlake.pipeline.core import compute_in_chunks

    meta = _frame_metadata(bars)
    rows = compute_in_chunks(bars[[*BAR_COLUMNS, "source"]], spec, benchmark=spec.default_benchmark, metadata=meta,
                             updated_at=now, since=None)
    if only is not None:
        rows = rows.filter(pc.is_in(rows.column("symbol"), pa.array(sorted(only), pa.string())))
    return rows


def _rescale_table(store: DeltaStore, spec: TableSpec, splits: list[Action], *, now: datetime,
                   report: ApplyReport, say: Progress) -> None:
    touched = sorted({a.symbol for a in splits})
    wanted = _compute_set(store, spec, touched)
    bars = store.read(spec.name, symbols=wanted, columns=_READ_COLS)
    f = _factors(bars, splits)
    frame = bars.to_pandas()
    for c in ("open", "high", "low", "close"):
        frame[c] = frame[c].to_numpy(np.float64) * f
    frame["volume"] = frame["volume"].to_numpy(np.float64) / f
    say(f"{spec.name}: rescaling {int((f != 1).sum()):,} bars of {', '.join(touched)}, recomputing "
        f"{frame['symbol'].nunique()} symbols")
    rows = recompute_rows(spec, frame, now=now)
    result = store.write_bars(spec.name, rows)
    if result.committed:
        report._commit(spec.name, result.inserted + result.updated)


def _apply_splits(store: DeltaStore, tables: list[str], splits: list[Action], *, now: datetime,
                  report: ApplyReport, say: Progress) -> None:
    todo: dict[str, list[Action]] = {t: [] for t in tables}
    for a in splits:
        for t in tables:
            st = a.applied.get(t)
            if st is None or st.get("state") == "done":
                if st is None:
                    todo[t].append(a)
                continue
            if _resolve_pending(store, a, t):  # killed after this table's commit: it is done
                a.applied[t] = dict(_DONE)
            else:
                todo[t].append(a)
    for t, acts in todo.items():  # the intents: one probe per (action, table), recorded before any rescale
        for a in acts:
            probe = _probe(store, t, a, acts)
            if probe is None:  # no bar before the date with a usable close
                a.applied[t] = dict(_DONE)
                continue
            when, before, after = probe
            a.applied[t] = {"state": "pending", "probe": when.isoformat(), "before": before, "after": after}
    write_actions(store, splits)
    for t in tables:
        acts = [a for a in todo[t] if a.applied[t].get("state") == "pending"]
        if acts:
            _rescale_table(store, get_table(t), acts, now=now, report=report, say=say)
            for a in acts:
                a.applied[t] = dict(_DONE)
    for a in splits:
        a.applied_at = now
        report.applied.append(f"split {a.symbol} {a.from_factor:g}:{a.to_factor:g} on {a.date}")
    write_actions(store, splits)


def _master(store: DeltaStore) -> dict[str, dict[str, object]]:
    rows = store.read_support("symbols").to_pylist()
    return {str(r["symbol"]): r for r in rows}


def _apply_rename(store: DeltaStore, tables: list[str], a: Action, *, now: datetime, report: ApplyReport,
                  say: Progress) -> None:
    old, new = a.symbol, a.new_symbol or ""
    for t in tables:
        if a.applied.get(t, {}).get("state") == "done":
            continue
        spec = get_table(t)
        moved = store.read(t, symbols=[old], columns=_READ_COLS)
        if moved.num_rows:  # the commit below is atomic: no rows left under `old` means it happened
            wanted = _compute_set(store, spec, [old, new])
            others = store.read(t, symbols=[s for s in wanted if s != old] if wanted is not None else None,
                                columns=_READ_COLS).to_pandas()
            if wanted is None:
                others = others[others["symbol"] != old]
            frame = moved.to_pandas().assign(symbol=new)
            present = set(others.loc[others["symbol"] == new, "datetime"])
            frame = frame[~frame["datetime"].isin(present)]  # the new symbol's own bars win
            bars = concat_rows([others, frame], ignore_index=True)
            say(f"{t}: moving {len(frame):,} bars of {old} to {new}")
            rows = recompute_rows(spec, bars, now=now, only=[new])
            from marketlake.storage.rewrite import replace_symbol

            replace_symbol(store, spec, old, rows)
            report._commit(t, rows.num_rows)
        a.applied[t] = dict(_DONE)
    master = _master(store)
    schema = SUPPORT_SCHEMAS["symbols"]
    before = master.get(old, {})
    after = dict(master.get(new, {}) or {})
    for k, v in before.items():
        if k.startswith("first_bar_"):
            keep = [x for x in (v, after.get(k)) if isinstance(x, datetime)]
            after[k] = min(keep) if keep else None
        elif after.get(k) is None:
            after[k] = v
    after.update(symbol=new, active=True, inactive_reason=None, updated_at=now)
    retired = {**before, "symbol": old, "active": False, "inactive_reason": f"renamed to {new} on {a.date}",
               "updated_at": now}
    rows = [{n: r.get(n) for n in schema.names} for r in (retired, after)]
    store.upsert_support("symbols", pa.Table.from_pylist(rows, schema=schema), keys=["symbol"])
    a.applied_at = now
    write_actions(store, [a])
    report.applied.append(f"rename {old} -> {new} on {a.date}")


def _apply_delisting(store: DeltaStore, a: Action, *, now: datetime, report: ApplyReport) -> None:
    schema = SUPPORT_SCHEMAS["symbols"]
    row = {n: _master(store).get(a.symbol, {}).get(n) for n in schema.names}
    row.update(symbol=a.symbol, active=False, inactive_reason=f"delisted on {a.date}", updated_at=now)
    store.upsert_support("symbols", pa.Table.from_pylist([row], schema=schema), keys=["symbol"])
    a.applied_at = now
    write_actions(store, [a])
    report.applied.append(f"delisting {a.symbol} on {a.date}")


def apply_pending(store: DeltaStore, *, now: datetime | None = None, progress: Progress | None = None,
                  only: set[str] | None = None) -> ApplyReport:
    """Apply every confirmed action without `applied_at` (or the ids in `only`); see the module doc.

    Order: splits (under the symbol as it was named on the split date), then renames in date order,
    then delistings; dividends are marked applied (stored prices never include them).
    """
    say = progress or (lambda _m: None)
    stamp = now or datetime.now(UTC)
    report = ApplyReport()
    with store.writer_lock():
        if not store.exists("corporate_actions"):
            return report
        pending = [a for a in read_actions(store) if a.status == "confirmed" and a.applied_at is None
                   and (only is None or a.id in only)]
        if not pending:
            return report
        tables = [t for t in TABLE_NAMES if store.exists(t)]
        splits = [a for a in pending if a.kind == "split"]
        if splits:
            _apply_splits(store, tables, splits, now=stamp, report=report, say=say)
        for a in (x for x in pending if x.kind == "rename"):
            _apply_rename(store, tables, a, now=stamp, report=report, say=say)
        for a in (x for x in pending if x.kind == "delisting"):
            _apply_delisting(store, a, now=stamp, report=report)
        dividends = [a for a in pending if a.kind == "dividend"]
        for a in dividends:
            a.applied_at = stamp
        write_actions(store, dividends)
        report.applied += [f"dividend {a.symbol} {a.amount:g} {a.currency or ''} ex {a.date}".replace("  ", " ")
                           for a in dividends]
    return report


def record(store: DeltaStore, actions: list[Action], *, apply: bool = True, now: datetime | None = None,
           progress: Progress | None = None, conflicts: list[str] | None = None) -> tuple[int, ApplyReport]:
    """Upsert the actions that are new or changed (one commit; none if nothing is new), then apply
    what is pending. Returns (actions recorded, application report). `conflicts`: see `merge_new`."""
    from marketlake.actions.records import merge_new

    with store.writer_lock():
        stored = read_actions(store) if store.exists("corporate_actions") else []
        fresh = merge_new(stored, actions, conflicts=conflicts)
        stamp = now or datetime.now(UTC)
        for a in fresh:
            a.recorded_at = stamp
        write_actions(store, fresh)
        report = apply_pending(store, now=stamp, progress=progress) if apply else ApplyReport()
    return len(fresh), report


__all__ = ["ApplyReport", "apply_pending", "record", "recompute_rows"]
