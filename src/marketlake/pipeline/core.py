"""One load into one table: validate -> merge with stored history -> compute features -> write.

Correctness rests on two facts:
- features are causal, so rows before the earliest changed input bar cannot change: only rows at or
  after that instant are recomputed-and-compared (`compare_since`), yet every touched symbol is
  recomputed from its first stored bar, so recursive indicators (EMA, RSI, ADX, ...) equal a full rebuild;
- cross-sectional fields depend on peers: a touched symbol pulls in its sector peers, and a touched
  benchmark pulls in the whole table, so their rs/beta values at the new datetimes are refreshed too.
Storage writes only rows that differ (one commit), so a re-run changes nothing and makes no commit.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from marketlake.actions.adjust import to_stored_convention
from marketlake.features import compute_table
from marketlake.frames import concat_rows, isin
from marketlake.pipeline import incremental
from marketlake.pipeline.metadata import resolve_metadata, stored_metadata_differs
from marketlake.pipeline.report import LoadReport
from marketlake.pipeline.symbol_master import record_symbols
from marketlake.schema import BAR_COLUMNS, METADATA_COLUMNS, TableSpec, get_table
from marketlake.sources.base import RawBatch
from marketlake.storage import DeltaStore
from marketlake.validate import validate_bars

Progress = Callable[[str], None]
_PRICE_COLUMNS = ["open", "high", "low", "close", "volume"]


def load_bars(
    store: DeltaStore,
    table: str | TableSpec,
    raw: pd.DataFrame,
    *,
    source: str,
    metadata: pd.DataFrame | None = None,
    benchmark: str | None = None,
    run_id: str | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    peers: bool = True,
    memory_budget: int | str | None = None,
) -> LoadReport:
    """Load raw bars into a production table (one Delta commit for the bars).

    Args:
        store: the warehouse storage.
        table: production table name or spec.
        raw: raw bars (docs/internals.md): validated here, bad rows go to `quarantine`.
        source: the `source` value stored on the bars (`synthetic`, `csv`, `twelvedata`, ...).
        metadata: symbol metadata from the source; gaps are filled from the symbol master.
        benchmark: benchmark symbol for rs_benchmark_20 / beta_60 (default: the table's).
        run_id: ties quarantined rows to this load.
        progress: optional callback receiving stage messages.
        now: the `updated_at` stamp (default: the current UTC time).
        peers: also recompute the symbols whose cross-sectional fields the new bars move (sector peers;
            everyone when the benchmark is loaded). False computes and writes the loaded symbols only and
            leaves the peers' rs_sector_20 / rs_benchmark_20 / beta_60 stale until `refresh_cross_section`
            runs: a bulk backfill defers that once to its end instead of rewriting the table every page.
        memory_budget: bytes or `4G` (None: the default); a load bigger than it (with the peers it
            recomputes) goes in symbol groups (`pipeline.grouped`).
    """
    spec = get_table(table) if isinstance(table, str) else table
    bench = benchmark or spec.default_benchmark
    from marketlake.pipeline import grouped

    moves = "symbol" in raw.columns and bool((raw["symbol"] == bench).any())  # validation reports a missing one
    big = peers and grouped.needs_groups(store, spec, len(raw), moves_everyone=moves, memory_budget=memory_budget)

    def in_groups() -> LoadReport:
        return grouped.load_grouped(store, spec, [RawBatch(bars=raw_in, metadata=metadata)], source=source,
                                    benchmark=bench, memory_budget=memory_budget, run_id=run_id,
                                    progress=progress, now=now)

    raw_in = raw
    if big and grouped.needs_groups(store, spec, len(raw), moves_everyone=False, memory_budget=memory_budget):
        return in_groups()  # its own bars exceed a group
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    report = LoadReport(table=spec.name, source=source, rows_in=len(raw))
    stamp = now or datetime.now(UTC)
    raw = to_stored_convention(store, spec, raw, source=source)  # as-traded vendor bars rescaled like stored ones

    say("validating")
    t = time.perf_counter()
    checked = validate_bars(raw, spec, source=source, run_id=run_id or uuid.uuid4().hex)
    good = checked.good
    report.rows_valid = len(good)
    report.quarantined = checked.quarantined.num_rows
    report.rejected_by_rule = {
        k: v for k, v in checked.counts.items() if v and k not in ("input", "good", "quarantined")
    }
    report.timings["validate"] = time.perf_counter() - t

    # From the first read of stored history and master to the last commit: a writer committing in between
    # would otherwise be overwritten with what this load read before it (a lost update).
    with store.writer_lock():
        store.ensure_tables([spec.name])
        if big:  # big only because the benchmark moves every stored symbol: an append continues from state
            if good.empty or not _appended(store, spec, good, source=source, metadata=metadata, benchmark=bench,
                                           stamp=stamp, report=report, say=say, peers=peers)[0]:
                return in_groups()  # recompute every symbol in groups (validates and quarantines itself)
        elif not good.empty:
            _load_valid(store, spec, good, source=source, metadata=metadata, benchmark=bench, stamp=stamp,
                        report=report, say=say, peers=peers)
        if checked.quarantined.num_rows:
            say(f"quarantining {checked.quarantined.num_rows} rows")
            store.upsert_support("quarantine", checked.quarantined, keys=["row_id"])
    report.seconds = time.perf_counter() - started
    return report


def _load_valid(
    store: DeltaStore,
    spec: TableSpec,
    good: pd.DataFrame,
    *,
    source: str,
    metadata: pd.DataFrame | None,
    benchmark: str,
    stamp: datetime,
    report: LoadReport,
    say: Progress,
    peers: bool = True,
) -> None:
    t = time.perf_counter()
    done, touched, master, resolved = _appended(store, spec, good, source=source, metadata=metadata,
                                                benchmark=benchmark, stamp=stamp, report=report, say=say,
                                                peers=peers)
    if done:
        return  # every bar after its symbol's last stored bar: computed from the feature state
    bar_cols = [*BAR_COLUMNS, "source"]
    if not peers or benchmark in touched:  # no index read: the symbols to read are known already
        wanted = sorted({*touched, benchmark}) if not peers else None  # None: the whole table
        history = store.read(spec.name, symbols=wanted, columns=bar_cols, sort=False).to_pandas()
        last_bar = history.groupby("symbol", sort=False)["datetime"].max()
    else:
        stored_index = last_per_symbol(store.read(spec.name, columns=["symbol", "datetime", "sector"], sort=False))
        to_compute = compute_set(touched, resolved, stored_index, benchmark=benchmark)
        say(f"reading stored history of {len(to_compute)} symbols")
        wanted = sorted(to_compute & set(stored_index["symbol"]))
        history = store.read(spec.name, symbols=wanted, columns=bar_cols, sort=False).to_pandas()
        last_bar = stored_index.set_index("symbol")["datetime"].reindex(wanted)
    stored_meta = stored_metadata(store, spec, last_bar)
    report.timings["read_history"] = time.perf_counter() - t

    incoming = good.assign(source=source)
    since = _earliest_change(incoming, history, resolved, stored_meta)
    if isinstance(since, _NoChange):
        report.unchanged = len(good)
        say("nothing changed")
        # A load is two commits (bars, then the symbol master): a run killed between them left the bars
        # stored and the master stale, and its re-run ends here. Bring the master up to date from the
        # stored bars (no commit when it already is).
        record_symbols(store, spec, history[isin(history["symbol"], touched)], resolved, master=master, now=stamp)
        return

    t = time.perf_counter()
    bars = combine_bars(history, incoming)
    del history
    meta = _metadata_for_compute(bars, stored_meta, resolved, spec, master)
    report.symbols_computed = len(meta)
    say(f"computing 97 fields for {report.symbols_computed} symbols ({len(bars):,} bars)")
    states: list[pa.Table] = []  # the feature state of every computed symbol, for the next append
    rows = compute_in_chunks(bars, spec, benchmark=benchmark, updated_at=stamp, metadata=meta, since=since,
                             states=states)
    report.timings["compute"] = time.perf_counter() - t

    t = time.perf_counter()
    say(f"writing {rows.num_rows:,} candidate rows")
    incremental.forget_states(store, spec, touched)  # their history changed: no state may outlive the commit
    result = store.write_bars(spec.name, rows, compare_since=since)
    report.inserted, report.updated, report.unchanged = result.inserted, result.updated, result.unchanged
    report.version = result.version
    report.timings["write"] = time.perf_counter() - t
    incremental.save_states(store, spec, states)  # after the bars commit (a kill in between: recomputed)

    t = time.perf_counter()
    record_symbols(store, spec, bars, resolved, master=master, now=stamp)
    report.timings["symbols"] = time.perf_counter() - t


def _appended(
    store: DeltaStore, spec: TableSpec, good: pd.DataFrame, *, source: str, metadata: pd.DataFrame | None,
    benchmark: str, stamp: datetime, report: LoadReport, say: Progress, peers: bool,
) -> tuple[bool, list[str], pd.DataFrame, pd.DataFrame]:
    """Try `good` as an append continued from the feature state (`pipeline.incremental`): (done, touched
    symbols, symbol master, resolved metadata); nothing is written when not done."""
    touched = sorted(good["symbol"].unique().tolist())
    report.symbols_loaded = len(touched)
    master = store.read_support("symbols").to_pandas()
    resolved = resolve_metadata(touched, spec, provided=metadata, master=master)
    report.peers_deferred = not peers and (benchmark in touched or resolved["sector"].notna().any())
    done = incremental.load_appended(store, spec, good, source=source, resolved=resolved, master=master,
                                     benchmark=benchmark, stamp=stamp, report=report, say=say, peers=peers)
    return done, touched, master, resolved


def refresh_cross_section(
    store: DeltaStore,
    table: str | TableSpec,
    *,
    since: datetime | None = None,
    benchmark: str | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    symbols: list[str] | None = None,
    metadata: pd.DataFrame | None = None,
    memory_budget: int | str | None = None,
) -> LoadReport:
    """Recompute every stored symbol from its stored bars and write the rows that differ (one commit).

    What `load_bars(peers=False)` deferred: the peers' cross-sectional fields. Rows before `since` are
    not compared (None: all rows). A table that is already consistent gets no commit. `symbols`
    limits the recompute to those symbols (they must include the peers whose fields they move);
    `metadata` (symbol + metadata columns) replaces the stored metadata where it has a value: how
    bars follow the symbol master (`pipeline.metadata.follow_master`). A table bigger than
    `memory_budget` (None: the default) is refreshed in symbol groups (`pipeline.grouped`).
    """
    spec = get_table(table) if isinstance(table, str) else table
    from marketlake.pipeline import grouped

    if grouped.needs_groups(store, spec, 0, moves_everyone=True, memory_budget=memory_budget):
        return grouped.refresh_grouped(store, spec, since=since, benchmark=benchmark, symbols=symbols,
                                       metadata=metadata, memory_budget=memory_budget, progress=progress, now=now)
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    stamp = now or datetime.now(UTC)
    report = LoadReport(table=spec.name, source="refresh", rows_in=0)
    with store.writer_lock():  # the read, the recompute and the commit: nothing may land in between
        _refresh(store, spec, report, since=since, benchmark=benchmark, say=say, stamp=stamp, symbols=symbols,
                 metadata=metadata)
    report.seconds = time.perf_counter() - started
    return report


def _refresh(store: DeltaStore, spec: TableSpec, report: LoadReport, *, since: datetime | None,
             benchmark: str | None, say: Progress, stamp: datetime, symbols: list[str] | None,
             metadata: pd.DataFrame | None) -> None:
    if not store.exists(spec.name):
        return
    t = time.perf_counter()
    bars = store.read(spec.name, symbols=symbols, columns=[*BAR_COLUMNS, "source"], sort=False).to_pandas()
    if bars.empty:
        return
    meta = stored_metadata(store, spec, bars.groupby("symbol", sort=False)["datetime"].max())
    if metadata is not None:
        meta = resolve_metadata(meta["symbol"].tolist(), spec, provided=metadata, master=meta)
    report.timings["read_history"] = time.perf_counter() - t
    report.symbols_computed = len(meta)
    t = time.perf_counter()
    say(f"recomputing cross-sectional fields of {len(meta)} symbols ({len(bars):,} bars)")
    rows = compute_in_chunks(bars, spec, benchmark=benchmark or spec.default_benchmark, updated_at=stamp, metadata=meta,
                         since=since)
    del bars
    report.timings["compute"] = time.perf_counter() - t
    t = time.perf_counter()
    result = store.write_bars(spec.name, rows, compare_since=since)
    report.inserted, report.updated, report.unchanged = result.inserted, result.updated, result.unchanged
    report.version = result.version
    report.timings["write"] = time.perf_counter() - t


CHUNK_ROWS = 2_000_000
"""Bars per `compute_table` call when a load recomputes many symbols (bounds peak memory, ~1 GB/M rows)."""


def compute_in_chunks(
    bars: pd.DataFrame,
    spec: TableSpec,
    *,
    benchmark: str,
    metadata: pd.DataFrame,
    updated_at: datetime,
    since: datetime | None,
    max_rows: int = CHUNK_ROWS,
    states: list[pa.Table] | None = None,
) -> pa.Table:
    """`compute_table` over runs of whole sectors of at most ~`max_rows` bars; the same rows, less memory.

    Values are per symbol except the cross-sectional ones: a sector's symbols stay in one run (the
    sector median needs them all) and the benchmark is computed with every run (rs/beta read its
    returns) but returned once. A sector larger than `max_rows` is a run of its own. `states`, when
    given, receives the feature state of the returned symbols (`compute_table(state_out=True)`).
    """
    if len(bars) <= max_rows:
        if states is None:
            return compute_table(bars, spec, benchmark=benchmark, updated_at=updated_at, metadata=metadata,
                                 since=since)
        rows, st = compute_table(bars, spec, benchmark=benchmark, updated_at=updated_at, metadata=metadata,
                                 since=since, state_out=True)
        states.append(st)
        return rows
    sizes = bars.groupby("symbol", sort=True).size()
    sector = metadata.drop_duplicates("symbol").set_index("symbol")["sector"].reindex(sizes.index)
    group = sector.where(sector.notna(), pd.Series(sizes.index, index=sizes.index).map(lambda s: f"\0{s}"))
    runs: list[list[str]] = [[]]
    filled = 0
    for _, members in sizes.groupby(group.to_numpy(), sort=True):
        rows = int(members.sum())
        if runs[-1] and filled + rows > max_rows:
            runs.append([])
            filled = 0
        runs[-1].extend(members.index.tolist())
        filled += rows
    out = []
    for _i, run in enumerate(runs):
        wanted = set(run) | {benchmark}
        chunk = bars[isin(bars["symbol"], wanted)]
        if states is None:
            part = compute_table(chunk, spec, benchmark=benchmark, updated_at=updated_at, metadata=metadata,
                                 since=since)
        else:
            part, st = compute_table(chunk, spec, benchmark=benchmark, updated_at=updated_at, metadata=metadata,
                                     since=since, state_out=True)
            states.append(st if benchmark in run else st.filter(pa.compute.not_equal(st["symbol"], benchmark)))
        if benchmark not in run:  # computed for its returns only; its own rows come from its run
            part = without_symbol(part, benchmark)
        out.append(part)
        del part
    return pa.concat_tables(out)


def without_symbol(rows: pa.Table, symbol: str) -> pa.Table:
    """`rows` (sorted by symbol) minus one symbol's contiguous block: two zero-copy slices, no column copies."""
    hits = pa.compute.indices_nonzero(pa.compute.equal(rows["symbol"], symbol)).to_numpy()
    if len(hits) == 0:
        return rows
    first, last = int(hits[0]), int(hits[-1]) + 1
    return pa.concat_tables([rows.slice(0, first), rows.slice(last)])


def stored_metadata(store: DeltaStore, spec: TableSpec, last_bar: pd.Series) -> pd.DataFrame:
    """Metadata on each stored symbol's latest bar (`last_bar`: symbol -> its latest datetime).

    A load rewrites every row of a symbol whose metadata changed, so one row per symbol tells the stored
    metadata; reading from the oldest of the latest bars onward skips decoding ~10 string columns over
    the whole history.
    """
    cols = ["symbol", "datetime", *METADATA_COLUMNS]
    if last_bar.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ["symbol", *METADATA_COLUMNS]})
    rows = store.read(spec.name, symbols=sorted(last_bar.index.tolist()), start=last_bar.min(), columns=cols,
                      sort=False)
    return last_per_symbol(rows)[["symbol", *METADATA_COLUMNS]]


def last_per_symbol(rows: pa.Table) -> pd.DataFrame:
    """One row per symbol: its latest stored bar (by datetime), as pandas, without sorting every row."""
    if rows.num_rows == 0:
        return rows.to_pandas()
    encoded = rows["symbol"].combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    dt = rows["datetime"].combine_chunks().cast(pa.int64()).to_numpy(zero_copy_only=False)
    latest = pd.DataFrame({"code": codes, "dt": dt}).groupby("code", sort=True)["dt"].idxmax().to_numpy()
    return rows.take(pa.array(latest)).to_pandas()


def compute_set(
    touched: list[str], resolved: pd.DataFrame, stored_index: pd.DataFrame, *, benchmark: str
) -> set[str]:
    """Symbols whose rows may change: touched ones, their sector peers, and everyone if the benchmark moved."""
    stored = set(stored_index["symbol"])
    if benchmark in touched:
        return set(touched) | stored
    sectors = set(resolved["sector"].dropna())
    peers = set(stored_index.loc[stored_index["sector"].isin(sectors), "symbol"])
    out = set(touched) | peers
    if benchmark in stored:
        out.add(benchmark)
    return out


class _NoChange:
    pass


_NO_CHANGE = _NoChange()


def _earliest_change(
    incoming: pd.DataFrame, history: pd.DataFrame, resolved: pd.DataFrame, stored_meta: pd.DataFrame
) -> datetime | None | _NoChange:
    """The earliest datetime at which an input differs from what is stored.

    None means "compare everything" (a symbol's metadata changed, so all its rows change);
    `_NO_CHANGE` means every incoming bar and every symbol's metadata equal what is stored.
    `stored_meta`: the metadata on each stored symbol's latest bar.
    """
    if history.empty:
        return None
    if stored_metadata_differs(resolved, stored_meta):
        return None
    overlap = history[history["datetime"] >= incoming["datetime"].min()]  # only these can share a key
    merged = incoming.merge(
        overlap[[*BAR_COLUMNS, "source"]], on=["symbol", "datetime"], how="left", suffixes=("", "_stored"),
        indicator=True,
    )
    differs = merged["_merge"].eq("left_only").to_numpy().copy()
    for col in [*_PRICE_COLUMNS, "source"]:
        new, old = merged[col], merged[f"{col}_stored"]
        if col == "source":
            differs = differs | (new.astype(object) != old.astype(object)).to_numpy()
        else:
            differs = differs | ~np.isclose(new.to_numpy(float), old.to_numpy(float), rtol=0, atol=0, equal_nan=True)
    if not differs.any():
        return _NO_CHANGE
    return merged.loc[differs, "datetime"].min().to_pydatetime()


def combine_bars(history: pd.DataFrame, incoming: pd.DataFrame) -> pd.DataFrame:
    """Stored bars plus incoming ones; an incoming bar replaces the stored bar with its key.

    Unsorted (the feature engine orders by integer codes); only stored bars at or after the earliest
    incoming datetime can share a key, so the key match runs on those alone.
    """
    cols = [*BAR_COLUMNS, "source"]
    if history.empty:
        return incoming[cols].drop_duplicates(["symbol", "datetime"], keep="last").reset_index(drop=True)
    incoming = incoming[cols].drop_duplicates(["symbol", "datetime"], keep="last")
    late = np.flatnonzero((history["datetime"] >= incoming["datetime"].min()).to_numpy())
    keys = pd.MultiIndex.from_frame(incoming[["symbol", "datetime"]].astype({"symbol": object}))
    late_keys = pd.MultiIndex.from_frame(history[["symbol", "datetime"]].iloc[late].astype({"symbol": object}))
    keep = np.ones(len(history), dtype=bool)
    keep[late[late_keys.isin(keys)]] = False
    kept = history[cols] if keep.all() else history.loc[keep, cols]
    return concat_rows([kept, incoming], ignore_index=True)


def _metadata_for_compute(
    bars: pd.DataFrame, stored_meta: pd.DataFrame, resolved: pd.DataFrame, spec: TableSpec, master: pd.DataFrame
) -> pd.DataFrame:
    """Metadata of every computed symbol (one row each): resolved for touched ones, stored (then master)
    for peers."""
    peers = sorted(set(bars["symbol"].unique().tolist()) - set(resolved["symbol"]))
    if not peers:
        return resolved
    peer_meta = resolve_metadata(peers, spec, provided=stored_meta, master=master)
    return concat_rows([resolved, peer_meta], ignore_index=True)


__all__ = ["combine_bars", "compute_in_chunks", "compute_set", "last_per_symbol", "load_bars", "refresh_cross_section",
           "stored_metadata", "without_symbol"]
