"""A load in symbol groups under a memory budget: stage -> light pass -> group by group -> ONE commit.

`load_bars` holds every bar of the load and of the stored history it recomputes, with their 97 computed
columns, at once (~2.6 KB per bar: 13 M one-minute bars do not fit in 24 GB). Here:

1. Stage: each source batch is converted, validated and spilled to a Parquet file in a hidden directory
   of the warehouse (only per-symbol counts and the metadata stay in memory).
2. Light passes: the stored index (symbol, last bar, sector) decides which symbols are recomputed, as in
   `load_bars`; then, sector by sector, only (symbol, datetime, close) of the members give each row's
   rs_sector_20 (the median needs every member at each datetime, so a group cannot compute it unless it
   holds the whole sector). The benchmark's bars go with every group (rs_benchmark_20 and beta_60 read
   its returns), and are written once, by the group it belongs to.
3. Groups: contiguous runs of symbols (so every file's symbol statistics prune reads) of at most
   `memory_budget.group_rows(budget)` bars: read history, combine with the staged bars, compute, take
   rs_sector_20 from step 2, diff against storage, and write data files of the changed rows straight
   into the table directory (a partition that already has files gets the group's complete content in it).
4. One Delta commit adds every group's files and retires the replaced partitions' files; the rows of
   symbols no group covered in a replaced partition are copied first, one partition at a time.

A crash before step 4 leaves the table at its previous version; the files already written are orphans
the janitor's vacuum removes. Every group's values equal those of `load_bars` on the same input.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake.transaction import AddAction, RemoveAction

from marketlake.actions.adjust import to_stored_convention
from marketlake.features import compute_table, cross_section, price
from marketlake.features._segments import Segments
from marketlake.features.registry import params
from marketlake.frames import concat_rows
from marketlake.pipeline import incremental
from marketlake.pipeline.core import (
    Progress,
    combine_bars,
    compute_set,
    last_per_symbol,
    stored_metadata,
    without_symbol,
)
from marketlake.pipeline.executors import Executor, LocalExecutor
from marketlake.pipeline.memory_budget import group_rows, parse_budget
from marketlake.pipeline.metadata import resolve_metadata, stored_metadata_differs
from marketlake.pipeline.report import LoadReport
from marketlake.pipeline.symbol_master import record_symbols
from marketlake.schema import BAR_COLUMNS, PARTITION_COLUMN, TableSpec, get_table
from marketlake.sources.base import RawBatch
from marketlake.storage import DeltaStore
from marketlake.storage.compaction import compact_partitions
from marketlake.storage.diff import diff_rows
from marketlake.storage.layout import (
    conform_bars,
    dedupe,
    partition_bounds,
    sort_rows,
    to_utc,
    with_partition,
)
from marketlake.storage.parquet_commit import commit_files, remove_action, row_group_rows, write_files
from marketlake.storage.writer import stored_rows
from marketlake.validate import validate_bars

STAGING_DIR = ".marketlake-staging"  # hidden from the inventory (its `.marketlake` prefix)
_BAR_COLS = [*BAR_COLUMNS, "source"]
_STAGE_ROW_GROUP = 65_536
GroupHook = Callable[[int, int], None]


@dataclass
class _Stage:
    """What step 1 keeps in memory: where the staged files are, and per-symbol counts."""

    root: str
    files: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, int] = field(default_factory=dict)  # symbol -> earliest staged datetime (us)
    metadata: list[pd.DataFrame] = field(default_factory=list)

    def read(self, symbols: list[str], columns: list[str]) -> pa.Table:
        """Staged rows of `symbols` in staging order (a later batch's duplicate comes later)."""
        if not self.files or not symbols:
            return _stage_schema().empty_table().select(columns)
        data = ds.dataset(self.files, format="parquet")
        return data.to_table(columns=columns, filter=pc.field("symbol").isin(symbols))


def load_grouped(
    store: DeltaStore,
    table: str | TableSpec,
    batches: Iterable[RawBatch],
    *,
    source: str,
    metadata: pd.DataFrame | None = None,
    benchmark: str | None = None,
    memory_budget: int | str | None = None,
    run_id: str | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    on_group: GroupHook | None = None,
    executor: Executor | None = None,
    peers: bool = True,
) -> LoadReport:
    """Load a stream of raw batches into a production table in symbol groups, as ONE Delta commit.

    Same result as `load_bars` on the concatenated batches (bars and quarantine), in memory bounded by
    `memory_budget` (bytes or `2G`-style text; None: `memory_budget.default_budget()`). `on_group(i, n)`
    runs after group i of n has written its files (tests kill the process there). `executor` runs the
    group tasks (default: one after the other here; `executors.DaskExecutor`: on a Dask cluster).
    `peers=False`: as `load_bars(peers=False)`, only the loaded symbols are computed and written (a
    vendor backfill page; the peers' cross-sectional fields wait for one `refresh_grouped` at the end).
    """
    spec = get_table(table) if isinstance(table, str) else table
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    report = LoadReport(table=spec.name, source=source)
    bench = benchmark or spec.default_benchmark
    stamp = now or datetime.now(UTC)
    budget = parse_budget(memory_budget)
    run = run_id or uuid.uuid4().hex
    with store.writer_lock():
        store.ensure_tables([spec.name])
        stage = _Stage(root=_staging_root(store, run))
        try:
            quarantine = _stage_batches(store, spec, batches, stage, source=source, run=run, report=report, say=say)
            if stage.counts:
                meta = metadata
                if stage.metadata:
                    meta = concat_rows([*([metadata] if metadata is not None else []), *stage.metadata],
                                     ignore_index=True).drop_duplicates("symbol", keep="last")
                _load_staged(store, spec, stage, source=source, metadata=meta, benchmark=bench, stamp=stamp,
                             budget=budget, report=report, say=say, on_group=on_group, executor=executor,
                             peers=peers)
            if quarantine:
                rows = pa.concat_tables(quarantine)
                say(f"quarantining {rows.num_rows} rows")
                store.upsert_support("quarantine", rows, keys=["row_id"])
        finally:
            shutil.rmtree(os.path.dirname(stage.root) if not store.remote else stage.root, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def refresh_grouped(
    store: DeltaStore,
    table: str | TableSpec,
    *,
    since: datetime | None = None,
    benchmark: str | None = None,
    symbols: list[str] | None = None,
    metadata: pd.DataFrame | None = None,
    memory_budget: int | str | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    on_group: GroupHook | None = None,
    executor: Executor | None = None,
) -> LoadReport:
    """`core.refresh_cross_section` in symbol groups: recompute stored symbols (all, or `symbols`; the
    benchmark's bars are always read) and write the rows that differ from `since` on, in one commit."""
    spec = get_table(table) if isinstance(table, str) else table
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    report = LoadReport(table=spec.name, source="refresh", rows_in=0)
    bench = benchmark or spec.default_benchmark
    stamp = now or datetime.now(UTC)
    cut = to_utc(since)
    with store.writer_lock():
        if not store.exists(spec.name):
            return report
        t = time.perf_counter()
        index_rows = store.read(spec.name, symbols=symbols, columns=["symbol", "datetime"], sort=False)
        if index_rows.num_rows == 0:
            return report
        counts = _counts(index_rows)
        last_bar = last_per_symbol(index_rows).set_index("symbol")["datetime"]
        del index_rows
        meta = stored_metadata(store, spec, last_bar)
        if metadata is not None:
            meta = resolve_metadata(meta["symbol"].tolist(), spec, provided=metadata, master=meta)
        report.symbols_computed = len(counts)
        report.timings["index"] = time.perf_counter() - t
        if bench not in counts and symbols is not None:
            counts_bench = _counts(store.read(spec.name, symbols=[bench], columns=["symbol"], sort=False))
        else:
            counts_bench = {}
        _run_groups(store, spec, _Stage(root=""), sorted(counts), meta, {**counts_bench, **counts}, since=cut,
                    benchmark=bench, stamp=stamp, budget=parse_budget(memory_budget), report=report, say=say,
                    on_group=on_group, executor=executor)
    report.seconds = time.perf_counter() - started
    return report


def needs_groups(
    store: DeltaStore, spec: TableSpec, incoming_rows: int, *, moves_everyone: bool,
    memory_budget: int | str | None = None, bars: pd.DataFrame | None = None,
) -> bool:
    """Whether a load must go in symbol groups: its own bars exceed one group, or it recomputes every
    stored symbol (the benchmark moved, a full refresh) and the table with them does.

    A benchmark bar that `bars` (the incoming symbol and datetime) shows to be an append continued from
    the feature state (`appends_from_state`) moves only the cross-sectional columns at the new datetimes
    (`incremental`): no group. Without that check every minute's update of a full 1-minute tier (the
    benchmark has a new bar each minute) recomputed the whole table in groups (~4 GB, minutes)."""
    limit = group_rows(parse_budget(memory_budget))
    if incoming_rows > limit:
        return True
    if not moves_everyone or not store.exists(spec.name):
        return False
    if bars is not None and appends_from_state(store, spec, bars):
        return False
    return incoming_rows + int(store.file_index(spec.name).records.sum()) > limit


def appends_from_state(store: DeltaStore, spec: TableSpec, bars: pd.DataFrame) -> bool:
    """True when every incoming symbol has a `feature_state` row of this engine dated before its first
    incoming bar: the incremental path continues it (metadata only: the small state table is read)."""
    if bars.empty or "symbol" not in bars or "datetime" not in bars or not store.exists(incremental.STATE_TABLE):
        return False
    from marketlake.features import state as fstate

    when = pd.to_datetime(bars["datetime"], utc=True, errors="coerce")
    if when.isna().any():
        return False
    first_new = when.groupby(bars["symbol"].to_numpy()).min()
    st = incremental.read_states(store).select(["table", "symbol", "datetime", "engine"]).to_pandas()
    st = st[(st["table"] == spec.name) & (st["engine"] == fstate.fingerprint())]
    last = pd.to_datetime(st.drop_duplicates("symbol", keep="last").set_index("symbol")["datetime"], utc=True)
    known = last.reindex(first_new.index)
    return bool(known.notna().all() and (known < first_new).all())


def _staging_root(store: DeltaStore, run: str) -> str:
    if store.remote:  # pragma: no cover - object stores: stage on the local disk
        import tempfile

        return tempfile.mkdtemp(prefix="marketlake-stage-")
    base = os.path.join(store.root, STAGING_DIR)
    shutil.rmtree(base, ignore_errors=True)  # a killed load's leftovers: we hold the writer lock, none is running
    root = os.path.join(base, run)
    os.makedirs(root, exist_ok=True)
    return root


def _stage_batches(
    store: DeltaStore, spec: TableSpec, batches: Iterable[RawBatch], stage: _Stage, *, source: str, run: str,
    report: LoadReport, say: Progress,
) -> list[pa.Table]:
    """Step 1: convert, validate and spill each batch; returns the quarantine rows (rejected bars only)."""
    quarantine: list[pa.Table] = []
    t = time.perf_counter()
    for i, batch in enumerate(batches, start=1):
        raw = batch.bars
        report.rows_in += len(raw)
        if batch.metadata is not None:
            stage.metadata.append(batch.metadata)
        if raw.empty:
            continue
        raw = to_stored_convention(store, spec, raw, source=source)
        checked = validate_bars(raw, spec, source=source, run_id=run)
        report.rows_valid += len(checked.good)
        report.quarantined += checked.quarantined.num_rows
        for k, v in checked.counts.items():
            if v and k not in ("input", "good", "quarantined"):
                report.rejected_by_rule[k] = report.rejected_by_rule.get(k, 0) + int(v)
        if checked.quarantined.num_rows:
            quarantine.append(checked.quarantined)
        if checked.good.empty:
            continue
        good = checked.good.assign(source=source)[_BAR_COLS]
        rows = sort_rows(pa.Table.from_pandas(good, preserve_index=False).cast(_stage_schema()))
        path = os.path.join(stage.root, f"batch-{i:06d}.parquet")
        pq.write_table(rows, path, row_group_size=_STAGE_ROW_GROUP, compression="lz4")
        stage.files.append(path)
        counts = rows.group_by("symbol").aggregate([("datetime", "count"), ("datetime", "min")])
        first = counts["datetime_min"].cast(pa.int64()).to_pylist()
        for sym, n, lo in zip(counts["symbol"].to_pylist(), counts["datetime_count"].to_pylist(), first):
            stage.counts[sym] = stage.counts.get(sym, 0) + int(n)
            stage.first[sym] = min(stage.first.get(sym, lo), lo)
        say(f"staged batch {i} ({report.rows_valid:,} valid bars)")
    report.timings["stage"] = time.perf_counter() - t
    return quarantine


def _stage_schema() -> pa.Schema:
    ts = pa.timestamp("us", tz="UTC")
    return pa.schema([("symbol", pa.string()), ("datetime", ts), *[(c, pa.float64()) for c in
                      ("open", "high", "low", "close", "volume")], ("source", pa.string())])


def _load_staged(
    store: DeltaStore, spec: TableSpec, stage: _Stage, *, source: str, metadata: pd.DataFrame | None,
    benchmark: str, stamp: datetime, budget: int, report: LoadReport, say: Progress,
    on_group: GroupHook | None, executor: Executor | None = None, peers: bool = True,
) -> None:
    """Steps 2-4 (the caller holds the writer lock)."""
    t = time.perf_counter()
    touched = sorted(stage.counts)
    report.symbols_loaded = len(touched)
    master = store.read_support("symbols").to_pandas()
    resolved = resolve_metadata(touched, spec, provided=metadata, master=master)
    index_rows = store.read(spec.name, columns=["symbol", "datetime", "sector"], sort=False)
    stored_counts = _counts(index_rows)
    stored_index = last_per_symbol(index_rows)
    del index_rows
    compute = sorted(compute_set(touched, resolved, stored_index, benchmark=benchmark)) if peers else touched
    report.peers_deferred = not peers and (benchmark in touched or bool(resolved["sector"].notna().any()))
    in_store = sorted(set(compute) & set(stored_counts))
    last_bar = stored_index.set_index("symbol")["datetime"].reindex(in_store) if in_store else pd.Series(dtype=object)
    stored_meta = stored_metadata(store, spec, last_bar)
    meta = _compute_metadata(compute, resolved, stored_meta, spec, master)
    since = _since(stage, resolved, stored_meta) if in_store else None
    report.symbols_computed = len(compute)
    report.timings["index"] = time.perf_counter() - t

    sizes = {s: stored_counts.get(s, 0) + stage.counts.get(s, 0) for s in {*compute, benchmark}}
    spans = _run_groups(store, spec, stage, compute, meta, sizes, since=since, benchmark=benchmark, stamp=stamp,
                        budget=budget, report=report, say=say, on_group=on_group, executor=executor)
    t = time.perf_counter()
    span = concat_rows(spans, ignore_index=True) if spans else pd.DataFrame({"symbol": [], "datetime": []})
    record_symbols(store, spec, span, resolved, master=master, now=stamp)
    report.timings["symbols"] = time.perf_counter() - t


def _run_groups(
    store: DeltaStore, spec: TableSpec, stage: _Stage, compute: list[str], meta: pd.DataFrame,
    sizes: dict[str, int], *, since: datetime | None, benchmark: str, stamp: datetime, budget: int,
    report: LoadReport, say: Progress, on_group: GroupHook | None, executor: Executor | None = None,
) -> list[pd.DataFrame]:
    """Steps 2 (sector aggregates) to 4 (the commit, then compaction) for the symbols `compute`;
    returns each computed symbol's first and last bar (for the symbol master)."""
    t = time.perf_counter()
    say(f"sector aggregates of {len(compute)} symbols")
    sector_rs = _sector_pass(store, spec, stage, meta, sizes, since=since, budget=budget)
    report.timings["sectors"] = time.perf_counter() - t

    groups = plan_groups(compute, sizes, budget=budget, benchmark=benchmark)
    writer = _GroupWriter(store, spec, since=since)
    spans: list[pd.DataFrame] = []
    t_compute = t_write = 0.0
    tasks = [
        GroupTask(root=store.root, storage_options=dict(store.storage_options or {}), table=spec.name,
                  stage_files=list(stage.files), members=list(members), benchmark=benchmark, since=since,
                  stamp=stamp, meta=meta[meta["symbol"].isin({*members, benchmark})],
                  sector_rs={s: sector_rs[s] for s in members if s in sector_rs},
                  stored_parts=frozenset(writer.stored_parts))
        for members in groups
    ]
    for g, result in enumerate((executor or LocalExecutor()).map(run_group, tasks), start=1):
        members = groups[g - 1]
        say(f"group {g}/{len(groups)}: computed {len(members)} symbols ({sum(sizes[s] for s in members):,} bars)")
        writer.merge(result)
        if result.span is not None:
            spans.append(result.span)
        t_compute += result.seconds_compute
        t_write += result.seconds_write
        if on_group is not None:
            on_group(g, len(groups))
    report.timings["compute"] = t_compute
    t = time.perf_counter()
    say(f"committing {len(writer.adds)} files of {len(groups)} groups")
    incremental.forget_states(store, spec, compute)  # their history changed: no state may outlive the commit
    parts = writer.commit()
    incremental.save_states(store, spec, writer.states)  # after the bars commit (a kill in between: recomputed)
    report.inserted, report.updated, report.unchanged = writer.inserted, writer.updated, writer.unchanged
    report.version = store.version(spec.name)
    report.timings["write"] = t_write + time.perf_counter() - t
    report.timings["groups"] = float(len(groups))
    if parts:
        t = time.perf_counter()
        compact_partitions(store, spec, parts, rows_limit=group_rows(budget))
        report.version = store.version(spec.name)
        report.timings["compact"] = time.perf_counter() - t
    return spans


def plan_groups(symbols: list[str], sizes: dict[str, int], *, budget: int, benchmark: str | None = None) -> list[list[str]]:
    """Contiguous runs of the sorted `symbols`, each of at most `group_rows(budget)` bars (counting the
    benchmark's, which every group carries); a symbol larger than that is a group of its own."""
    limit = group_rows(budget)
    extra = sizes.get(benchmark, 0) if benchmark is not None else 0  # (counted twice in its own group)
    groups: list[list[str]] = []
    filled = 0
    for sym in sorted(symbols):
        n = sizes.get(sym, 0)
        if groups and filled + n + extra <= limit:
            groups[-1].append(sym)
            filled += n
            continue
        groups.append([sym])
        filled = n
    return groups


def _counts(index_rows: pa.Table) -> dict[str, int]:
    if index_rows.num_rows == 0:
        return {}
    vc = pc.value_counts(index_rows.column("symbol"))
    return dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()))


def _compute_metadata(
    compute: list[str], resolved: pd.DataFrame, stored_meta: pd.DataFrame, spec: TableSpec, master: pd.DataFrame
) -> pd.DataFrame:
    """One row per computed symbol: resolved for loaded ones, stored (then master) for peers."""
    peers = sorted(set(compute) - set(resolved["symbol"]))
    if not peers:
        return resolved
    return concat_rows([resolved, resolve_metadata(peers, spec, provided=stored_meta, master=master)], ignore_index=True)


def _since(stage: _Stage, resolved: pd.DataFrame, stored_meta: pd.DataFrame) -> datetime | None:
    """Rows before the earliest staged bar cannot change (features are causal), unless a symbol's metadata
    changed: then every row is compared (None)."""
    if stored_metadata_differs(resolved, stored_meta):
        return None
    first = min(stage.first.values())
    return pd.Timestamp(first, unit="us", tz="UTC").to_pydatetime()


def _sector_pass(
    store: DeltaStore, spec: TableSpec, stage: _Stage, meta: pd.DataFrame, sizes: dict[str, int], *,
    since: datetime | None, budget: int,
) -> dict[str, np.ndarray]:
    """rs_sector_20 of every computed symbol with a sector, sector by sector from closes alone.

    Returns symbol -> its values at its bars at or after `since`, in datetime order (what the group's
    `compute_table(since=...)` returns for it). The same kernels as the feature engine: return_20 by
    `price.simple_return`, the median by `cross_section.sector_relative_strength`."""
    out: dict[str, np.ndarray] = {}
    sectors = meta.dropna(subset=["sector"]).groupby("sector")["symbol"].apply(sorted)
    cut = None if since is None else pd.Timestamp(since).value // 1000
    period = int(params("return_20")["timeperiod"])
    for _sector, members in sectors.items():
        cols = ["symbol", "datetime", "close"]
        stored = store.read(spec.name, symbols=members, columns=cols, sort=False)
        staged = stage.read(members, cols).cast(stored.schema)
        both = dedupe(pa.concat_tables([stored, staged])) if staged.num_rows else stored
        both = sort_rows(both)
        sym = both.column("symbol").combine_chunks().dictionary_encode()
        codes = sym.indices.to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.array([], np.int64)
        lengths = np.diff(np.r_[starts, len(codes)])
        seg = Segments.from_lengths(lengths)
        close = both.column("close").to_numpy().astype(np.float64)
        dt = both.column("datetime").cast(pa.int64()).to_numpy()
        ret = price.simple_return(close, timeperiod=period, seg=seg)
        uniq, time_codes = np.unique(dt, return_inverse=True)
        names = np.asarray(sym.dictionary.to_pylist(), dtype=object)[codes[starts]]
        lay = cross_section.layout(dt, seg, names, np.zeros(len(dt), np.int32), time_codes, len(uniq), None)
        rs = cross_section.sector_relative_strength(ret, lay)
        for k, name in enumerate(names):
            a, b = int(starts[k]), int(starts[k] + lengths[k])
            vals, stamps = rs[a:b], dt[a:b]
            out[str(name)] = vals if cut is None else vals[stamps >= cut]
        del both, close, dt, ret, rs
    return out


def _with_sector_rs(rows: pa.Table, sector_rs: dict[str, np.ndarray]) -> pa.Table:
    """`rows` (sorted by symbol, datetime) with rs_sector_20 taken from the sector pass."""
    if rows.num_rows == 0:
        return rows
    sym = rows.column("symbol").combine_chunks().dictionary_encode()
    codes = sym.indices.to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    stops = np.r_[starts[1:], len(codes)]
    names = sym.dictionary.to_pylist()
    col = rows.column("rs_sector_20")
    values = col.to_numpy().astype(np.float64) if col.null_count == 0 else \
        pc.fill_null(col, np.nan).to_numpy().astype(np.float64)
    values = values.copy()
    for a, b in zip(starts.tolist(), stops.tolist()):
        name = names[int(codes[a])]
        got = sector_rs.get(name)
        if got is None:
            continue
        if len(got) != b - a:  # pragma: no cover - the passes disagree on a symbol's bars: a bug
            raise RuntimeError(f"sector pass has {len(got)} rows for {name}, the group {b - a}")
        values[a:b] = got
    arr = pa.array(values, type=col.type, mask=~np.isfinite(values))
    return rows.set_column(rows.schema.get_field_index("rs_sector_20"), "rs_sector_20", arr)


@dataclass(frozen=True)
class GroupTask:
    """Everything one group needs, picklable: a Dask worker reopens the table from `root` itself.

    The driver holds the writer lock for the whole load, so the table a worker reads is the version the
    driver planned on. `storage_options` carries the driver's object-store options (a local cluster's
    workers inherit the environment, a remote cluster's need the same variables)."""

    root: str
    storage_options: dict[str, str]
    table: str
    stage_files: list[str]
    members: list[str]
    benchmark: str
    since: datetime | None
    stamp: datetime
    meta: pd.DataFrame
    sector_rs: dict[str, np.ndarray]
    stored_parts: frozenset[str]


@dataclass
class GroupResult:
    """What a group sends back to the driver: file actions and counts, never the rows themselves."""

    adds: list[AddAction] = field(default_factory=list)
    covered: dict[str, set[str]] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    span: pd.DataFrame | None = None
    states: pa.Table | None = None  # feature state at each member's last bar (`compute_table(state_out=True)`)
    seconds_compute: float = 0.0
    seconds_write: float = 0.0


def run_group(task: GroupTask) -> GroupResult:
    """One group: read its history and staged bars, compute the 97 fields, write the changed rows' files.

    Runs in the driver (local executor) or on a Dask worker; the same code either way, so the results
    are identical value for value. Writes only new data files: nothing is visible until the driver's
    one commit."""
    t = time.perf_counter()
    store = DeltaStore(task.root, storage_options=task.storage_options or None)
    spec = get_table(task.table)
    stage = _Stage(root="", files=task.stage_files)
    result = GroupResult()
    wanted = sorted({*task.members, task.benchmark})
    history = store.read(spec.name, symbols=wanted, columns=_BAR_COLS, sort=False).to_pandas()
    incoming = stage.read(wanted, _BAR_COLS).to_pandas()
    bars = combine_bars(history, incoming) if not incoming.empty else history
    del history, incoming
    if bars.empty:
        return result
    own = bars[bars["symbol"].isin(task.members)]
    result.span = (own.groupby("symbol", sort=False)["datetime"].agg(["min", "max"]).reset_index()
                   .melt(id_vars="symbol", value_name="datetime")[["symbol", "datetime"]])
    del own
    rows, states = compute_table(bars, spec, benchmark=task.benchmark, updated_at=task.stamp, metadata=task.meta,
                                 since=task.since, state_out=True)
    del bars
    if task.benchmark not in task.members:
        rows = without_symbol(rows, task.benchmark)
        states = states.filter(pc.not_equal(states["symbol"], task.benchmark))
    result.states = states  # one row per symbol: the next append continues from it
    rows = _with_sector_rs(rows, task.sector_rs)
    result.seconds_compute = time.perf_counter() - t
    t = time.perf_counter()
    _write_group(store, spec, rows, task.members, since=task.since, stored_parts=task.stored_parts, result=result)
    result.seconds_write = time.perf_counter() - t
    return result


def _write_group(store: DeltaStore, spec: TableSpec, rows: pa.Table, members: list[str], *,
                 since: datetime | None, stored_parts: frozenset[str], result: GroupResult) -> None:
    """Step 3 for one group: files of its changed rows; a partition with stored files gets the group's
    complete new content there (the driver retires the old files at the commit)."""
    rows = dedupe(conform_bars(rows, table=spec.name))
    if since is not None and rows.num_rows:
        recent = pc.greater_equal(rows.column("datetime"), pa.scalar(since, pa.timestamp("us", tz="UTC")))
        result.unchanged += rows.num_rows - int(pc.sum(recent).as_py() or 0)
        rows = rows.filter(recent)
    if rows.num_rows == 0:
        return
    stored = stored_rows(store, spec, rows, since=since) if stored_parts else rows.schema.empty_table()
    diff = diff_rows(rows, stored)
    del stored
    result.inserted += int(diff.new.size)
    result.updated += int(diff.changed.size)
    result.unchanged += int(diff.unchanged)
    if diff.new.size == 0 and diff.changed.size == 0:
        return
    picks = np.sort(np.concatenate([diff.new, diff.changed]))
    chosen = rows if len(picks) == rows.num_rows else rows.take(pa.array(picks))
    out = with_partition(sort_rows(chosen), spec)
    del rows, chosen
    parts = set(pc.unique(out.column(PARTITION_COLUMN)).to_pylist())
    result.touched |= parts
    replaced = sorted(parts & stored_parts)
    if replaced:
        lo = partition_bounds(replaced[0], spec)[0]
        hi = partition_bounds(replaced[-1], spec)[1]
        old = store.read(spec.name, symbols=members, start=lo, end=hi, sort=False)
        old = with_partition(old, spec)
        old = old.filter(pc.is_in(old.column(PARTITION_COLUMN), value_set=pa.array(replaced, pa.string())))
        if old.num_rows:
            old = old.join(out.select(["symbol", "datetime"]), ["symbol", "datetime"], join_type="left anti")
            out = pa.concat_tables([old.select(out.column_names).cast(out.schema), out])
        del old
        for p in replaced:
            result.covered.setdefault(p, set()).update(members)
    result.adds += write_files(sort_rows(out), table_root=store.table_root(spec.name), filesystem=store.filesystem,
                               group_rows=row_group_rows(spec.partitioning))


class _GroupWriter:
    """Step 4: gathers the groups' file actions; at the commit, a partition with stored files has its old
    files retired, after the stored rows of the symbols no group covered are copied into one more file."""

    def __init__(self, store: DeltaStore, spec: TableSpec, *, since: datetime | None) -> None:
        self.store, self.spec, self.since = store, spec, since
        self.index = store.file_index(spec.name)
        self.stored_parts = {p for p in self.index.partitions if p is not None}
        self.covered: dict[str, set[str]] = {}
        self.adds: list[AddAction] = []
        self.inserted = self.updated = self.unchanged = 0
        self.touched: set[str] = set()
        self.states: list[pa.Table] = []

    def _write(self, rows: pa.Table) -> None:
        self.adds += write_files(rows, table_root=self.store.table_root(self.spec.name),
                                 filesystem=self.store.filesystem, group_rows=row_group_rows(self.spec.partitioning))

    def merge(self, result: GroupResult) -> None:
        self.adds += result.adds
        for p, members in result.covered.items():
            self.covered.setdefault(p, set()).update(members)
        self.touched |= result.touched
        if result.states is not None and result.states.num_rows:
            self.states.append(result.states)
        self.inserted += result.inserted
        self.updated += result.updated
        self.unchanged += result.unchanged

    def commit(self) -> list[str]:
        """One commit of every group's files; returns the partitions written (none: no commit)."""
        if not self.adds:
            return []
        index = self.index
        removes: list[RemoveAction] = []
        by_part: dict[str, list[int]] = {}
        for i, p in enumerate(index.partitions):
            if p in self.covered:
                by_part.setdefault(p, []).append(i)
        for p, picks in sorted(by_part.items()):
            rest = self.store.read_files(self.spec.name, picks)
            keep = pc.invert(pc.is_in(rest.column("symbol"), value_set=pa.array(sorted(self.covered[p]), pa.string())))
            rest = rest.filter(keep)
            if rest.num_rows:
                self._write(with_partition(sort_rows(rest), self.spec))
            del rest
            removes += [remove_action(index.paths[i], int(index.sizes[i]), p) for i in picks]
        dt = self.store.table(self.spec.name, refresh=False)
        commit_files(dt, self.adds, removes, operation="grouped_load",
                     metrics={"rowsInserted": self.inserted, "rowsUpdated": self.updated})
        dt.update_incremental()
        return sorted(self.touched)


def iter_batches(frames: Iterable[pd.DataFrame]) -> Iterator[RawBatch]:
    """Raw-bar frames as batches (for callers holding frames rather than a source)."""
    for frame in frames:
        yield RawBatch(bars=frame)


__all__ = ["STAGING_DIR", "GroupResult", "appends_from_state", "GroupTask", "iter_batches", "load_grouped", "needs_groups", "plan_groups", "refresh_grouped", "run_group"]
