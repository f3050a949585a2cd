"""Run the checks over the warehouse, store the run (`quality_runs`, `quality_issues`), optionally fix.

A table is read in symbol groups under the memory budget (`quality.groups`: a few light passes for the
facts that span symbols, then all 97 columns of one group at a time); every check works on one group's
Arrow table through `quality.frame`. Runs are appended to the support tables so trends
can be queried: `SELECT run_id, check, count(*) FROM quality_issues GROUP BY ALL`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from marketlake.actions.quality import known_splits, record_suspected
from marketlake.config import MarketlakeConfig
from marketlake.errors import CorruptTable
from marketlake.quality import checks_rows as rows
from marketlake.quality.checks_corruption import check_corruption, corruption_issue
from marketlake.quality.checks_jumps import KnownSplit, check_jumps
from marketlake.quality.checks_time import (
    check_coverage,
    check_missing_bars,
    check_staleness,
    coverage_table_wide,
)
from marketlake.quality.frame import Frame
from marketlake.quality.groups import TableContext, iter_frames, table_context
from marketlake.quality.issues import CHECKS, SEVERITY_ORDER, Issue, QualityConfig, issues_table
from marketlake.schema import SUPPORT_SCHEMAS, TABLE_NAMES, TABLES, get_table, storage_schema
from marketlake.storage import DeltaStore
from marketlake.storage import maintenance as mt

Progress = Callable[[str], None]


@dataclass
class QualityReport:
    """The outcome of one run."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    tables: list[str]
    issues: list[Issue]
    repairs: list[Issue] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    plan: list[Any] = field(default_factory=list)  # fix.Planned: what `--fix` would do (nothing applied)

    def summary(self) -> list[tuple[str, dict[str, int]]]:
        """Open issues per check and severity, checks in catalogue order: what a person reads first."""
        counts: dict[str, dict[str, int]] = {}
        for i in self.issues:
            if not i.fixed:
                row = counts.setdefault(i.check, {"error": 0, "warning": 0, "info": 0})
                row[i.severity] += 1
        order = {c: n for n, c in enumerate(CHECKS)}
        return sorted(counts.items(), key=lambda kv: order.get(kv[0], len(order)))

    def count(self, severity: str) -> int:
        return sum(1 for i in self.issues if i.severity == severity and not i.fixed)

    @property
    def ok(self) -> bool:
        return self.count("error") == 0

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id, "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(), "tables": self.tables,
            "errors": self.count("error"), "warnings": self.count("warning"), "infos": self.count("info"),
            "fixed": sum(1 for i in self.issues if i.fixed), "ok": self.ok,
            "summary": {check: row for check, row in self.summary()},
            "issues": [i.to_dict() for i in self.issues], "repairs": [r.to_dict() for r in self.repairs],
            "plan": [{"action": p.action, "check": p.check, "table": p.table, "symbols": list(p.symbols),
                      "detail": p.detail} for p in self.plan],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def check_schema(store: DeltaStore, table: str) -> list[Issue]:
    """The stored schema against the catalogue: 97 columns (+ partition), names, order, types."""
    got = mt.table_schema(store, table)
    want = storage_schema()
    have = [(f.name, str(f.type)) for f in got]
    need = [(f.name, str(f.type)) for f in want]
    if have == need:
        return []
    out = []
    names = [n for n, _ in have]
    for n, t in need:
        if n not in names:
            out.append(Issue("schema", "error", table, None, n, f"column {n} ({t}) is missing"))
    for i, (n, t) in enumerate(have):
        wanted = dict(need).get(n)
        if wanted is None:
            out.append(Issue("schema", "error", table, None, n, f"unexpected column {n} ({t})"))
        elif wanted != t:
            out.append(Issue("schema", "error", table, None, n, f"type {t}, catalogue says {wanted}"))
        elif i < len(need) and need[i][0] != n:
            out.append(Issue("schema", "error", table, None, n, f"at position {i + 1}, catalogue position "
                                                               f"{[m for m, _ in need].index(n) + 1}"))
    return out or [Issue("schema", "error", table, None, None, "schema differs from the catalogue")]


def universes_from_config(cfg: MarketlakeConfig) -> dict[str, tuple[str, ...]]:
    """table -> configured universe symbols (a universe named like a table, else the asset's daily table)."""
    out: dict[str, set[str]] = {}
    for name, uni in cfg.universes.items():
        symbols = set(uni.symbols)
        if uni.file:
            frame = pd.read_csv(Path(uni.file).expanduser())
            symbols |= set(frame[uni.column or frame.columns[0]].dropna().astype(str))
        table = name if name in TABLES else f"{uni.asset}_daily_clean"
        out.setdefault(table, set()).update(symbols)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def check_table(store: DeltaStore, table: str, config: QualityConfig, *, master: pd.DataFrame,
                benchmark: str | None = None, timings: dict[str, float] | None = None,
                seen: set[str] | None = None) -> list[Issue]:
    """Every check on one production table (its symbols are added to `seen`), in symbol groups.

    Light passes first (`quality.groups.table_context`: symbols and counts, the benchmark's datetimes,
    sector-peer counts), then one group of at most `group_rows(config.memory_budget)` rows at a time
    (`quality.groups.iter_frames`): the table is never held whole. `timings` gets `<table>.groups` and
    `<table>.max_group_rows` (the most rows held at once) beside the seconds per check."""
    spec = get_table(table)
    bench = benchmark or spec.default_benchmark
    tm = timings if timings is not None else {}
    t = time.perf_counter()
    issues = check_schema(store, table)
    if issues:
        return issues  # reading through the catalogue schema would fail or mislead
    try:
        context = table_context(store, spec, benchmark=bench, with_peers=True)
    except Exception as exc:  # noqa: BLE001 - DuckDB/Arrow errors on a garbled data file
        return corruption_issue(store, table, exc)
    if seen is not None:
        seen.update(context.symbols)
    tm[f"{table}.read"] = time.perf_counter() - t
    inactive = set(master.loc[master.get("active", pd.Series(dtype=bool)).eq(False), "symbol"]) if not master.empty else set()
    universe = config.universes.get(table, ())
    known = known_splits(store, table)
    issues += coverage_table_wide(spec, context.symbols, config, universe=universe)
    frames = iter_frames(store, spec, context, memory_budget=config.memory_budget)
    groups = held = 0
    while True:
        t = time.perf_counter()
        try:
            frame = next(frames, None)
        except Exception as exc:  # noqa: BLE001 - a garbled data file of this group
            return corruption_issue(store, table, exc)
        tm[f"{table}.read"] += time.perf_counter() - t
        if frame is None:
            break
        groups += 1
        held = max(held, frame.data.num_rows)
        issues += _check_group(store, frame, config, context, inactive=inactive, known=known, timings=tm)
        del frame
    tm[f"{table}.groups"] = float(groups)
    tm[f"{table}.max_group_rows"] = float(held)
    return issues


def _check_group(store: DeltaStore, frame: Frame, config: QualityConfig, context: TableContext, *,
                 inactive: set[str], known: list[KnownSplit], timings: dict[str, float]) -> list[Issue]:
    """The per-symbol checks on one group's frame (timings add up over the groups)."""
    table = frame.spec.name
    steps: list[tuple[str, Callable[[], list[Issue]]]] = [
        ("nulls", lambda: rows.check_nulls(frame)),
        ("dependency", lambda: rows.check_dependencies(frame, benchmark=context.benchmark, context=context)),
        ("metadata", lambda: rows.check_bar_metadata(frame)),
        ("duplicates", lambda: rows.check_duplicates(frame)),
        ("ohlc", lambda: rows.check_ohlc(frame)),
        ("coverage", lambda: check_coverage(frame, config, stored=context.symbols)),
        ("missing_bars", lambda: check_missing_bars(frame, tolerance=config.missing_tolerance)),
        ("staleness", lambda: check_staleness(frame, as_of=config.as_of, max_sessions=config.stale_sessions,
                                              inactive=inactive)),
        ("jumps", lambda: check_jumps(frame, sigma=config.outlier_sigma, tolerance=config.split_tolerance,
                                      known=known)),
    ]
    issues: list[Issue] = []
    for name, step in steps:
        t = time.perf_counter()
        issues += step()
        timings[f"{table}.{name}"] = timings.get(f"{table}.{name}", 0.0) + time.perf_counter() - t
    return issues


def check_all(store: DeltaStore, tables: Sequence[str], config: QualityConfig,
              timings: dict[str, float] | None = None) -> list[Issue]:
    """Checks over the given tables plus the symbol master; sorted by severity, table, symbol.

    Corruption is checked first: a damaged table is left out of the other checks. The master's
    completeness is checked only for the symbols a person uses: those with bars in the checked tables or
    in a configured universe. A master loaded from the full NASDAQ Trader lists holds ~12,000 symbols;
    reporting their gaps buried the few that matter (6 stored symbols, 14,960 warnings).
    """
    issues = check_corruption(store)
    damaged = {i.table for i in issues}
    master = pd.DataFrame()
    if store.exists("symbols") and "symbols" not in damaged:
        master = store.read_support("symbols").to_pandas()
    used: set[str] = set()
    for table in tables:
        if store.exists(table) and table not in damaged:
            issues += check_table(store, table, config, master=master, timings=timings, seen=used)
    for symbols in config.universes.values():
        used.update(symbols)
    if not master.empty:
        issues += rows.check_symbol_master(master, symbols=used)
    issues.sort(key=lambda i: (SEVERITY_ORDER[i.severity], i.table, i.check, i.symbol or "", i.field or ""))
    return issues


def run_quality(
    store: DeltaStore,
    *,
    tables: Sequence[str] | None = None,
    config: QualityConfig | None = None,
    fix: bool = False,
    plan_only: bool = False,
    record: bool = True,
    progress: Progress | None = None,
    symbols: Sequence[str] | None = None,
) -> QualityReport:
    """Check (and with `fix`, repair then re-check) and store the run.

    With `symbols`, only those symbols' issues (and table-wide ones, which have no symbol) are reported
    and repaired; the checks still read whole tables, since coverage and outliers compare symbols.

    With `plan_only` (and `fix`) the repairs are planned and returned in `report.plan`, and no
    production table is written: `quality --fix` previews, `quality --fix --yes` applies.
    """
    cfg = config or QualityConfig()
    say = progress or (lambda _m: None)
    names = list(tables) if tables else [t for t in TABLE_NAMES if store.exists(t)]
    for t in names:
        get_table(t)
    started = datetime.now(UTC)
    run_id = uuid.uuid4().hex
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    say(f"checking {', '.join(names) or 'no tables'}")
    issues = check_all(store, names, cfg, timings)
    if symbols:
        chosen = set(symbols)
        issues = [i for i in issues if i.symbol is None or i.symbol in chosen]
    repairs: list[Issue] = []
    planned: list[Any] = []
    if fix and issues:
        from marketlake.quality.fix import apply_repairs, plan_repairs

        say("planning repairs")
        planned = plan_repairs(store, issues, cfg)
    if planned and not plan_only:
        say("repairing")
        repairs, attempted = apply_repairs(store, planned, cfg, progress=say)
        after = {i.key for i in check_all(store, names, cfg)}
        for i in issues:
            i.fixed = i.key not in after and i.key in attempted
    timings["total"] = time.perf_counter() - t0
    report = QualityReport(run_id, started, datetime.now(UTC), names, issues, repairs, timings, planned)
    if record:
        try:
            _record(store, report)
        except CorruptTable:  # quality_runs/quality_issues damaged: reported as corruption above
            pass
    return report


def _record(store: DeltaStore, report: QualityReport) -> None:
    run = {"run_id": report.run_id, "started_at": report.started_at, "finished_at": report.finished_at,
           "tables": ",".join(report.tables), "errors": report.count("error"), "warnings": report.count("warning"),
           "infos": report.count("info"), "fixed": sum(1 for i in report.issues if i.fixed)}
    store.append_support("quality_runs", pa.Table.from_pylist([run], schema=SUPPORT_SCHEMAS["quality_runs"]))
    record_suspected(store, report.issues)  # detected splits stay `suspected` in corporate_actions until confirmed
    rows_ = report.issues + report.repairs
    if rows_:
        store.append_support("quality_issues", issues_table(rows_, report.run_id))


__all__ = ["QualityReport", "check_all", "check_schema", "check_table", "run_quality", "universes_from_config"]
