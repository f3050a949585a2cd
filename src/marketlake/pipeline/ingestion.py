"""One ingestion verb for every vendor: backfill to the history target, then update; resumable; vendor-agnostic.

`ingest(store, "twelvedata", "stocks_daily_clean", ["AAPL"])` looks the vendor up in the registry
(`sources.registry.vendor`), builds its client and fetch interface from the configuration, and runs the
same algorithm whatever the vendor; paging, limits, credits and wire formats stay in `sources/<vendor>/`.

Why the watermark comes from the stored bars: after `kill -9` the last thing that happened may be a
Delta commit whose `ingest_state` row was never written. Reading each symbol's first/last stored bar
(the data itself) means a re-run never re-requests a window whose bars are stored; the typed
`ingest_state` (one `IngestState` per (table, symbol)) adds what the data cannot say: backfill
complete, the earliest bar the vendor has (the floor), errors.

Crash safety by construction: every load keeps each symbol's stored bars one contiguous range.
- Pages that move away from the stored range are loaded as they arrive: a backward pager's backfill
  (from now, or the first stored bar, towards the target), a forward pager's backfill of a new symbol
  (from the target towards now).
- Pages that move towards the stored range are collected and loaded in one commit: incremental
  windows (from the last stored bar minus `overlap_bars`, so vendor revisions are picked up) and a
  forward pager's extension of older history.
Earliest-bar floors for every vendor: a vendor with an endpoint for it answers through `FloorBook`
(persisted at once); for a forward pager the first page from the target starts at the floor.
A symbol whose next bar cannot be complete yet is not requested at all (a re-run right after a run
spends nothing). One run per warehouse: the writer lock is held from the first read to the last commit.

Where the compute runs (`executor`): fetching always stays here, in the driver, under the one credit
budget; with a distributed executor (`--executor dask`) each load of fetched pages and the final
cross-section refresh run as symbol-group tasks on the cluster (`pipeline.grouped`), and the driver
makes each load's one Delta commit. The stored rows equal the local executor's value for value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.frames import concat_rows
from marketlake.pipeline.core import load_bars, refresh_cross_section
from marketlake.pipeline.executors import Executor
from marketlake.pipeline.ingest_state import IngestState, read_states, write_states
from marketlake.pipeline.report import LoadReport
from marketlake.pipeline.window import FetchPlan, IngestResult, SymbolOutcome, Window
from marketlake.schema import SUPPORT_SCHEMAS, TableSpec, get_table
from marketlake.sources import registry
from marketlake.sources.base import RawBatch
from marketlake.sources.vendor import BarPage, EstimateJob, Fetcher, FloorBook, SymbolError, bars_between
from marketlake.storage import DeltaStore

if TYPE_CHECKING:
    from marketlake.config import MarketlakeConfig
    from marketlake.sources.vendor import Vendor

RECHECK_INACTIVE_DAYS = 30
"""Days after which a symbol deactivated by the vendor is asked again (`[<vendor>] recheck_inactive_days`)."""
OVERLAP_BARS = 3
Progress = Callable[[str], None]
PEERS_MARKER = "*"
"""`ingest_state` row (table, "*"): backfill pages were loaded without refreshing their peers."""


def ingest(
    store: DeltaStore,
    source: str,
    table: str,
    symbols: list[str],
    *,
    window: Window | None = None,
    config: MarketlakeConfig | None = None,
    progress: Progress | None = None,
    dry_run: bool = False,
    options: Mapping[str, Any] | None = None,
    lock_wait: bool | float | None = None,
    now: Callable[[], datetime] | None = None,
    executor: Executor | None = None,
    memory_budget: int | str | None = None,
) -> IngestResult:
    """Bring `symbols` of `table` up to date (or load `window`) from the registered vendor `source`.

    Args:
        store: the warehouse.
        source: a registered vendor (`sources.registry.vendors()`).
        table: a production table the vendor serves.
        symbols: as the user gives them (the vendor maps them to stored names, e.g. BTCUSDT -> BTC/USD).
        window: None or `Window.up_to_date()`: each symbol from its watermark; `Window.between(a, b)`.
        config: the configuration (default: `load_config()`); the vendor's `[<source>]` section.
        progress: called with one line per step.
        dry_run: compute the plan (requests, cost) from stored state alone; send and write nothing.
        options: the vendor's own options (`--plan`, `keep_vendor_symbols`, `batch_size`, ...).
        lock_wait: seconds to wait for another writer (False: refuse at once; None: the configured wait).
        now: the clock deciding which bars are complete and due (default: UTC wall clock; simulations).
        executor: where the loads' compute and writes run (None: here; `executors.DaskExecutor`: as
            symbol-group tasks on a Dask cluster); fetching stays here whatever it is.
        memory_budget: bytes or `4G` for each load (None: the default); bigger loads go in symbol groups.

    Raises:
        ConfigError: unknown vendor, or a table it does not serve. WarehouseLocked, AuthError,
        BudgetExceeded, RateLimitError, VendorError: as raised by the lock and the vendor's client;
        stored progress is kept and a re-run continues from there.
    """
    from marketlake.config import load_config

    vendor = registry.vendor(source)
    spec = get_table(table)
    vendor.check_table(spec)
    cfg = config or load_config()
    opts = dict(options or {})
    recheck = float(getattr(vendor.settings(cfg), "recheck_inactive_days", RECHECK_INACTIVE_DAYS))
    if dry_run:
        return plan_ingest(store, vendor, spec, symbols, window=window, config=cfg, options=opts,
                           recheck_inactive_days=recheck, now=now() if now else None)
    fetcher = vendor.fetcher(vendor.make_client(cfg, opts, usage=StoreUsage(store)), opts)
    try:
        return ingest_with(store, fetcher, spec, symbols, window=window, progress=progress, lock_wait=lock_wait,
                           recheck_inactive_days=recheck, unit=vendor.cost_unit, now=now, executor=executor,
                           memory_budget=memory_budget)
    finally:
        fetcher.close()


# -- the algorithm ------------------------------------------------------------------------------------
def ingest_with(
    store: DeltaStore,
    fetcher: Fetcher,
    table: str | TableSpec,
    symbols: Sequence[str],
    *,
    window: Window | None = None,
    now: Callable[[], datetime] | None = None,
    overlap_bars: int = OVERLAP_BARS,
    lock_wait: bool | float | None = None,
    progress: Progress | None = None,
    recheck_inactive_days: float = RECHECK_INACTIVE_DAYS,
    unit: str = "credits",
    executor: Executor | None = None,
    memory_budget: int | str | None = None,
) -> IngestResult:
    """`ingest` over an existing fetch interface (the caller owns its client): the whole algorithm.

    A symbol deactivated by the vendor (unknown) is skipped, spending nothing, until
    `recheck_inactive_days` have passed since it was marked; then it is asked again: reactivated if the
    vendor serves it now, marked again otherwise.
    """
    spec = get_table(table) if isinstance(table, str) else table
    win = window or Window()
    clock_now = now or (lambda: datetime.now(UTC))
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    source = fetcher.name
    credits0, requests0 = fetcher.budget.total_credits, fetcher.requests_sent
    wanted = list(dict.fromkeys(symbols))
    run = _Run(store, spec, fetcher, IngestResult(source, spec.name, symbols=len(wanted), unit=unit), say, clock_now)
    run.loader = _Loader(executor, memory_budget)
    names, unknown = fetcher.resolve(wanted)  # may ask the vendor (Binance's exchangeInfo): before the lock
    with store.writer_lock(wait=lock_wait):
        fetcher.budget.reload_day()  # another run may have spent today's credits while this one waited
        store.ensure_tables([spec.name])
        run.rejected(unknown)
        names, rechecked = _skip_inactive(store, names, run.result, source=source,
                                          recheck_after=timedelta(days=recheck_inactive_days))
        if rechecked:
            say(f"re-checking {len(rechecked)} symbols deactivated over {recheck_inactive_days:g} days ago")
        run.state = read_states(store, spec.name)
        deferred = _Deferred(store, spec, stale=_peers_stale(run.state.pop(PEERS_MARKER, None)), loader=run.loader)
        floors = run.floor_book()
        if win.explicit:
            say(f"{len(names)} symbols from {win.start:%Y-%m-%d %H:%M}")
            for s in names:
                run.outcome(s, "window")
            run.load(list(fetcher.fetch(names, spec, start=win.start, end=win.end, now=clock_now, floors=floors)),
                     target=None)
        else:
            _resume(run, names, win, floors, deferred, overlap_bars=overlap_bars)
        deferred.finish(run.result, say=say)
        # the vendor's metadata refreshed the master: the same symbols' bars in the other tables follow it
        _follow_master_elsewhere(store, spec, [s for s in names if s not in run.result.not_found], say=say)
        revived = [s for s in rechecked if s not in run.result.not_found and s not in run.result.failed
                   and run.state.get(s) is not None and run.state[s].status == "ok"]
        if revived:
            mark_active(store, revived, now=datetime.now(UTC))
    fetcher.budget.flush()
    res = run.result
    res.credits = fetcher.budget.total_credits - credits0
    res.requests = fetcher.requests_sent - requests0
    res.seconds = time.perf_counter() - started
    return res


def _resume(run: _Run, names: list[str], win: Window, floors: FloorBook, deferred: _Deferred, *,
            overlap_bars: int) -> None:
    """Each symbol from its watermark: updates first (fresh data matters most), then backfills."""
    spec, fetcher, say = run.spec, run.fetcher, run.say
    moment = run.now()
    extents = stored_extents(run.store, spec, names)
    target = win.target(spec, moment)
    # `backfill_complete` always means "to the table's history target (or the vendor's floor)": a shorter
    # target neither records it nor needs it, a longer one cannot trust it
    run.full_target = win.history_days is None or win.history_days >= spec.history_days
    plan = plan_symbols(spec, names, extents, run.state, now=moment, overlap_bars=overlap_bars, target=target,
                        trust_complete=win.history_days is None or win.history_days <= spec.history_days)
    run.result.up_to_date = len(plan.up_to_date)
    for kind, group in (("up_to_date", plan.up_to_date), ("backfill", plan.backfill_new),
                        ("extend", [s for g in plan.backfill_older.values() for s in g]),
                        ("update", [s for g in plan.incremental.values() for s in g])):
        for s in group:
            run.outcome(s, kind)
    say(f"{len(plan.backfill_new)} to backfill, {sum(map(len, plan.backfill_older.values()))} to extend, "
        f"{sum(map(len, plan.incremental.values()))} to update, {len(plan.up_to_date)} up to date")
    # 1. incremental, each group loaded in one commit (pages come towards the stored range)
    for start, group in plan.incremental.items():
        run.load(list(fetcher.fetch(group, spec, start=start, end=win.end, now=run.now, floors=floors)), target=None)
    older_symbols = [s for g in plan.backfill_older.values() for s in g]
    if fetcher.direction == "backward":
        # 2. page backwards to the target or the floor, each page loaded as it arrives; a symbol short
        #    of the target continues from its first stored bar. Floors are asked first for those (one
        #    credit can save a page) and kept in ingest_state.
        fetcher.earliest(older_symbols, spec, floors)
        jobs: list[tuple[datetime | None, list[str]]] = [(win.end, plan.backfill_new)]
        jobs += [(end, g) for end, g in plan.backfill_older.items()]
        for end, group in jobs:
            group = [s for s in group if s not in run.result.not_found
                     and not (end is not None and s in floors.known and pd.Timestamp(end) <= floors.known[s])]
            if not group:
                continue
            for page in fetcher.fetch(group, spec, start=target, end=end, now=run.now, floors=floors):
                deferred.before_load()
                run.load([page], target=target, backfill=True, peers=False)
    else:
        # 2. forward from the target: a new symbol's pages are loaded as they arrive (its stored bars
        #    stay one range starting at the target); older history before a stored first bar is
        #    collected into one commit (loading it page by page would leave a hole after a kill)
        if plan.backfill_new:
            for page in fetcher.fetch(plan.backfill_new, spec, start=target, end=win.end, now=run.now, floors=floors):
                deferred.before_load()
                run.load([page], target=target, backfill=True, peers=False, from_target=True)
        for end, group in plan.backfill_older.items():
            group = [s for s in group if s not in run.result.not_found]
            if group:
                pages = list(fetcher.fetch(group, spec, start=target, end=end, now=run.now, floors=floors))
                deferred.before_load()
                run.load(pages, target=target, backfill=True, peers=False, from_target=True)


class _Run:
    """One run's shared state: the result, the typed `ingest_state` rows, and how pages are recorded."""

    def __init__(self, store: DeltaStore, spec: TableSpec, fetcher: Fetcher, result: IngestResult, say: Progress,
                 now: Callable[[], datetime]) -> None:
        self.store, self.spec, self.fetcher, self.result, self.say, self.now = store, spec, fetcher, result, say, now
        self.state: dict[str, IngestState] = {}
        self.full_target = True  # the target is the table's (or older): `backfill_complete` may be recorded
        self.loader = _Loader(None, None)

    @property
    def source(self) -> str:
        return self.fetcher.name

    def outcome(self, symbol: str, action: str) -> SymbolOutcome:
        found = self.result.outcomes.get(symbol)
        if found is None:
            found = self.result.outcomes[symbol] = SymbolOutcome(symbol, action)
        return found

    def rejected(self, unknown: Mapping[str, SymbolError]) -> None:
        """Inputs the vendor does not serve at all (resolution): reported, and deactivated when unknown."""
        missing = {s: e.message for s, e in unknown.items() if e.unknown}
        for s, err in unknown.items():
            (self.result.not_found if err.unknown else self.result.failed)[s] = err.message
            o = self.outcome(s, "resolve")
            o.status, o.message = ("unknown" if err.unknown else "failed"), err.message
        if missing:
            mark_inactive(self.store, missing, now=datetime.now(UTC), source=self.source)

    def floor_book(self) -> FloorBook:
        """Known floors from `ingest_state`; each new batch of answers stored at once (never asked twice)."""
        known = {s: pd.Timestamp(r.earliest_available) for s, r in self.state.items() if r.earliest_available}

        def persist(found: dict[str, pd.Timestamp], errors: dict[str, SymbolError]) -> None:
            now = datetime.now(UTC)
            rows, missing = [], {}
            for symbol, floor in found.items():
                old = self.state.get(symbol)
                first = old.first_bar if old else None
                reached = first is not None and pd.Timestamp(first) <= floor
                rows.append(self.row(symbol, status=(old.status if old else None) or "ok",
                                     message=old.message if old else None, now=now, earliest=floor, complete=reached))
            for symbol, err in errors.items():
                if err.unknown:
                    missing[symbol] = err.message
                    rows.append(self.row(symbol, status="error", message=err.message, now=now))
                    o = self.outcome(symbol, "extend")
                    o.status, o.message = "unknown", err.message
            self.record(rows, missing, now=now)
            self.say(f"earliest bars asked for {len(found) + len(errors)} symbols, {len(missing)} unknown to {self.source}")

        return FloorBook(known, persist)

    def load(self, pages: list[BarPage], *, target: datetime | None, backfill: bool = False, peers: bool = True,
             from_target: bool = False) -> None:
        """Load fetched pages (one commit), then record state and unknown symbols. Order matters for resume."""
        res = self.result
        res.requested += sum(len(p.symbols) for p in pages)
        frames = [p.bars for p in pages if len(p.bars)]
        metas = [p.metadata for p in pages if p.metadata is not None and len(p.metadata)]
        if frames:
            raw = concat_rows(frames, ignore_index=True)
            meta = concat_rows(metas, ignore_index=True).drop_duplicates("symbol") if metas else None
            report = self.loader.load(self.store, self.spec, raw, source=self.source, metadata=meta, peers=peers)
            res.loads.append(report)
            self.say(f"loaded {len(raw):,} bars of {raw['symbol'].nunique()} symbols ({report.changed:,} changed)")
        now = datetime.now(UTC)
        rows, missing = [], {}
        for page in pages:
            stamps = page.bars.groupby("symbol")["datetime"].agg(["min", "max"]) if len(page.bars) else None
            for s in page.symbols:
                o = self.outcome(s, "window")
                if s in page.errors:
                    err = page.errors[s]
                    if err.unknown:  # the vendor's own "unknown symbol": deactivated
                        missing[s] = err.message
                        o.status = "unknown"
                    else:  # missing from a batch answer, malformed, 5xx: kept active, asked again next run
                        res.failed[s] = err.message
                        o.status = "failed"
                    o.message = err.message
                    rows.append(self.row(s, status="error", message=err.message, now=now))
                    continue
                res.failed.pop(s, None)
                o.status, o.message = "ok", None
                lo = hi = None
                if stamps is not None and s in stamps.index:
                    lo, hi = stamps.at[s, "min"], stamps.at[s, "max"]
                    o.bars += int((page.bars["symbol"] == s).sum())
                complete, earliest = None, None
                if backfill and from_target and target is not None:
                    # forward from the target: on the symbol's first page (no bar stored before `lo`) the
                    # vendor has nothing in [target, lo); a first bar more than a bar after the target is
                    # its earliest (the floor), else its history may reach further back
                    old = self.state.get(s)
                    first_page = old is None or old.first_bar is None or lo is None or lo <= pd.Timestamp(old.first_bar)
                    if lo is not None and first_page and lo > pd.Timestamp(target) + self.spec.bar_interval and (
                            old is None or old.earliest_available is None):
                        earliest = lo
                    complete = earliest is not None or self.full_target
                elif backfill:
                    floor = self.fetcher_floor(s)
                    reached = lo is not None and target is not None and lo <= pd.Timestamp(target)
                    complete = (lo is not None and floor is not None and lo <= floor) or (
                        self.full_target and (s in page.exhausted or reached))
                rows.append(self.row(s, status="ok", message=None, now=now, complete=complete, first=lo, last=hi,
                                     earliest=earliest))
        self.record(rows, missing, now=now)

    def fetcher_floor(self, symbol: str) -> pd.Timestamp | None:
        row = self.state.get(symbol)
        return pd.Timestamp(row.earliest_available) if row is not None and row.earliest_available else None

    def record(self, rows: list[IngestState], missing: dict[str, str], *, now: datetime) -> None:
        """Write `ingest_state` rows (one commit), then mark the unknown symbols inactive and report them."""
        write_states(self.store, rows)
        if missing:
            mark_inactive(self.store, missing, now=now, source=self.source)
            self.result.not_found.update(missing)

    def row(self, symbol: str, *, status: str, message: str | None, now: datetime, complete: bool | None = None,
            first: object = None, last: object = None, earliest: object = None) -> IngestState:
        """`symbol`'s record updated: bar extent widened, floor and completeness kept once known."""
        old = self.state.get(symbol) or IngestState(self.spec.name, symbol)

        def pick(new: datetime | None, prev: datetime | None, fn: Callable[[datetime, datetime], datetime]) -> datetime | None:
            if new is None or prev is None:
                return new if prev is None else prev
            return fn(prev, new)

        row = old.updated(
            source=self.source, first_bar=pick(_py(first), old.first_bar, min),
            last_bar=pick(_py(last), old.last_bar, max),
            earliest_available=_py(earliest) if earliest is not None else old.earliest_available,
            backfill_complete=bool(complete) or old.backfill_complete, status=status, message=message, updated_at=now)
        self.state[symbol] = row
        return row


# -- planning (pure, and the dry run) -------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    incremental: dict[datetime, list[str]]  # start -> symbols
    backfill_new: list[str]  # nothing stored: from now back to (or from) the target
    backfill_older: dict[datetime, list[str]]  # first stored bar -> symbols still short of the target
    up_to_date: list[str]


def stored_extents(store: DeltaStore, table: TableSpec, symbols: Sequence[str]) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """First and last stored bar per symbol: the watermark, read from the data itself."""
    if not symbols or not store.exists(table.name):
        return {}
    data = store.read(table.name, symbols=list(symbols), columns=["symbol", "datetime"])
    if data.num_rows == 0:
        return {}
    frame = data.to_pandas()
    agg = frame.groupby("symbol")["datetime"].agg(["min", "max"])
    return {str(s): (pd.Timestamp(r["min"]), pd.Timestamp(r["max"])) for s, r in agg.iterrows()}


def _next_bar_complete(table: TableSpec, last: pd.Timestamp, now: datetime) -> bool:
    """Could a bar after `last` be complete by `now`? (False: requesting would buy nothing.)"""
    session = timedelta(hours=6, minutes=30) if table.asset == "stocks" and table.timeframe == "daily" else table.bar_interval
    return last.to_pydatetime() + table.bar_interval + session <= now


def plan_symbols(
    table: TableSpec,
    symbols: Sequence[str],
    extents: dict[str, tuple[pd.Timestamp, pd.Timestamp]],
    state: Mapping[str, IngestState],
    *,
    now: datetime,
    overlap_bars: int,
    target: datetime | None = None,
    trust_complete: bool = True,
) -> _Plan:
    """Which window each symbol needs (pure). `target`: the history target (default: the table's).

    `trust_complete=False` (a history target further back than the one `backfill_complete` was
    recorded against): only the stored bars and the vendor's floor say a symbol's history is done.
    """
    goal = pd.Timestamp(target if target is not None else now - timedelta(days=table.history_days))
    slack = max(timedelta(days=5), 5 * table.bar_interval)
    plan = _Plan({}, [], {}, [])
    for s in symbols:
        if s not in extents:
            plan.backfill_new.append(s)
            continue
        first, last = extents[s]
        st = state.get(s)
        earliest = st.earliest_available if st else None
        done = bool(trust_complete and st and st.backfill_complete) or first <= goal + slack or (
            earliest is not None and first <= pd.Timestamp(earliest))
        if not done:
            plan.backfill_older.setdefault(first.to_pydatetime(), []).append(s)
        if _next_bar_complete(table, last, now):
            start = (last - overlap_bars * table.bar_interval).to_pydatetime()
            plan.incremental.setdefault(start, []).append(s)
        elif done:
            plan.up_to_date.append(s)
    return plan


def plan_ingest(
    store: DeltaStore,
    vendor: Vendor,
    table: str | TableSpec,
    symbols: Sequence[str],
    *,
    window: Window | None = None,
    config: MarketlakeConfig,
    options: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    overlap_bars: int = OVERLAP_BARS,
    recheck_inactive_days: float = RECHECK_INACTIVE_DAYS,
) -> IngestResult:
    """What `ingest` would fetch and spend now (`result.plan`); reads the warehouse only, sends nothing.

    Estimates use the table's bars per year and the vendor's own cost model (`Vendor.estimate`);
    holidays and a vendor's shorter history make the real figure lower, never higher.
    """
    spec = get_table(table) if isinstance(table, str) else table
    opts = dict(options or {})
    win = window or Window()
    moment = now or datetime.now(UTC)
    wanted = list(dict.fromkeys(vendor.offline_names(list(dict.fromkeys(symbols)), opts)))
    result = IngestResult(vendor.name, spec.name, symbols=len(wanted), unit=vendor.cost_unit, dry_run=True)
    asked, _ = _skip_inactive(store, wanted, result, source=vendor.name,
                              recheck_after=timedelta(days=recheck_inactive_days)) \
        if store.exists("symbols") else (wanted, [])
    extents = stored_extents(store, spec, asked) if store.exists(spec.name) else {}
    state = read_states(store, spec.name) if store.exists("ingest_state") else {}
    state.pop(PEERS_MARKER, None)
    jobs: list[EstimateJob] = []
    end = win.end or moment
    if win.explicit:
        assert win.start is not None
        plan = _Plan({}, [], {}, [])
        jobs.append(EstimateJob("window", len(asked), win.start, end))
        counts = (0, 0, 0, 0)
    else:
        target = win.target(spec, moment)
        plan = plan_symbols(spec, asked, extents, state, now=moment, overlap_bars=overlap_bars, target=target,
                            trust_complete=win.history_days is None or win.history_days <= spec.history_days)
        jobs += [EstimateJob("update", len(g), start, end) for start, g in plan.incremental.items()]
        known = {s for s, r in state.items() if r.earliest_available is not None}
        jobs.append(EstimateJob("backfill", len(plan.backfill_new), target, end,
                                sum(1 for s in plan.backfill_new if s in known)))
        jobs += [EstimateJob("extend", len(g), target, first, sum(1 for s in g if s in known))
                 for first, g in plan.backfill_older.items()]
        counts = (len(plan.backfill_new), sum(map(len, plan.backfill_older.values())),
                  sum(map(len, plan.incremental.values())), len(plan.up_to_date))
    jobs = [j for j in jobs if j.symbols]
    limits = vendor.limits(config, opts)
    requests, cost = vendor.estimate(spec, jobs, limits, opts)
    bars = sum((bars_between(spec, j.start, j.end) + (1 if j.kind in ("update", "window") else 0)) * j.symbols
               for j in jobs)
    notes = []
    if result.not_found:
        notes.append(f"{len(result.not_found)} symbols skipped: deactivated by {vendor.name} "
                     f"less than {recheck_inactive_days:g} days ago")
    result.plan = FetchPlan(vendor.name, spec.name, len(wanted), *counts[:3], counts[3], len(result.not_found),
                            requests, cost, bars, tuple(notes), unit=vendor.cost_unit)
    result.up_to_date = counts[3]
    # each symbol's action, first match wins like a real run's (`_resume`): a symbol short of its history
    # that also has a new bar due is "extend" (the run updates it too)
    kinds = {s: "window" for s in asked} if win.explicit else {
        **{s: "update" for g in plan.incremental.values() for s in g},
        **{s: "extend" for g in plan.backfill_older.values() for s in g},
        **{s: "backfill" for s in plan.backfill_new}, **{s: "up_to_date" for s in plan.up_to_date}}
    for s in asked:
        result.outcomes[s] = SymbolOutcome(s, kinds.get(s, "up_to_date"), status="planned",
                                           last_bar=_py(extents[s][1]) if s in extents else None)
    return result


# -- credits, the symbol master, peers --------------------------------------------------------------------
class StoreUsage:
    """`UsageStore` over the `api_usage` support table (so a restart cannot overspend the day).

    Append-only: each flush of each process adds its own increment rows, and a day's spend is their
    sum. Overwriting a (vendor, minute) row would drop what an earlier run spent in that minute, and
    a read-modify-write would race with another process; appending has neither problem.
    """

    def __init__(self, store: DeltaStore) -> None:
        self.store = store

    def credits_on(self, vendor: str, day: date) -> int:
        t = self.store.read_support("api_usage")
        if t.num_rows == 0:
            return 0
        mask = pc.and_(pc.equal(t["vendor"], vendor), pc.equal(t["day"], pa.scalar(day, pa.date32())))
        return int(pc.sum(t.filter(mask)["credits"]).as_py() or 0)

    def record(self, vendor: str, minute: datetime, *, credits: int, requests: int) -> None:
        row = {"vendor": [vendor], "day": [minute.date()], "minute": [minute], "credits": [credits],
               "requests": [requests], "updated_at": [datetime.now(UTC)]}
        self.store.append_support("api_usage", pa.table(row, schema=SUPPORT_SCHEMAS["api_usage"]))


def _skip_inactive(store: DeltaStore, symbols: list[str], result: IngestResult, *, source: str,
                   recheck_after: timedelta) -> tuple[list[str], list[str]]:
    """(symbols to request, those among them being re-checked).

    Symbols this vendor deactivated (their `inactive_reason` starts with its name) are not requested
    again (nothing spent) until `recheck_after` has passed since they were marked (`symbols.updated_at`):
    a vendor may list a symbol later (an IPO's ticker in use, a data gap fixed), so a 404 is not forever.
    """
    master = store.read_support("symbols", columns=["symbol", "active", "inactive_reason", "updated_at"])
    if master.num_rows == 0:
        return symbols, []
    wanted = set(symbols)
    due = datetime.now(UTC) - recheck_after
    reasons, rechecked = {}, []
    for row in master.to_pylist():
        reason = row["inactive_reason"] or ""
        if row["symbol"] not in wanted or row["active"] is not False or not reason.startswith(source):
            continue
        marked = row["updated_at"]
        if marked is not None and marked > due:
            reasons[row["symbol"]] = reason
        else:
            rechecked.append(row["symbol"])
    result.not_found.update({s: reasons[s] for s in symbols if s in reasons})
    for s in symbols:
        if s in reasons:
            result.outcomes[s] = SymbolOutcome(s, "skipped", status="skipped", message=reasons[s])
    return [s for s in symbols if s not in reasons], rechecked


def mark_active(store: DeltaStore, symbols: Sequence[str], *, now: datetime) -> None:
    """Set `active = true` and clear the reason of `symbols` (a re-checked symbol the vendor serves again)."""
    master = store.read_support("symbols")
    rows = [{**row, "active": True, "inactive_reason": None, "updated_at": now}
            for row in master.to_pylist() if row["symbol"] in set(symbols)]
    if rows:
        store.upsert_support("symbols", pa.Table.from_pylist(rows, schema=SUPPORT_SCHEMAS["symbols"]), keys=["symbol"])


def mark_inactive(store: DeltaStore, reasons: dict[str, str], *, now: datetime, source: str) -> None:
    """Set `active = false` and the reason in `symbols`, keeping every other column.

    Rows go Arrow -> Python -> Arrow (`to_pylist`: NULL stays None), never through pandas, where a NULL
    string or timestamp would come back as NaN/NaT and fail the write.
    """
    schema = SUPPORT_SCHEMAS["symbols"]
    old = {r["symbol"]: r for r in store.read_support("symbols").to_pylist() if r["symbol"] in reasons}
    rows = []
    for symbol, reason in reasons.items():
        row = {name: old.get(symbol, {}).get(name) for name in schema.names}
        row.update(symbol=symbol, active=False, inactive_reason=reason, updated_at=now)
        row["metadata_source"] = row.get("metadata_source") or source
        rows.append(row)
    store.upsert_support("symbols", pa.Table.from_pylist(rows, schema=schema), keys=["symbol"])


def _follow_master_elsewhere(store: DeltaStore, spec: TableSpec, symbols: list[str], *, say: Progress) -> None:
    """Rewrite the bars of `symbols` in the other production tables whose metadata now differs from the master."""
    from marketlake.pipeline.metadata import follow_master
    from marketlake.schema import TABLE_NAMES

    others = [t for t in TABLE_NAMES if t != spec.name and store.exists(t)]
    if symbols and others:
        follow_master(store, tables=others, symbols=symbols, progress=say)


def _peers_stale(row: IngestState | None) -> bool:
    return row is not None and row.status == "peers_stale"


class _Deferred:
    """Backfill pages load only their own symbols (`load_bars(peers=False)`); the peers' cross-sectional
    fields are refreshed once at the end. A marker row in `ingest_state` is written before the first such
    page and cleared after the refresh, so a run killed in between refreshes on the next run."""

    def __init__(self, store: DeltaStore, spec: TableSpec, *, stale: bool, loader: _Loader | None = None) -> None:
        self.store, self.spec = store, spec
        self.loader = loader or _Loader(None, None)
        self.stale_before = stale  # a killed run left it stale: refresh whatever this run loads
        self.marked = stale

    def before_load(self) -> None:
        if not self.marked:
            self._mark(stale=True)

    def finish(self, result: IngestResult, *, say: Progress) -> None:
        if not self.marked:
            return
        if self.stale_before or any(load.peers_deferred for load in result.loads):
            say("refreshing sector and benchmark fields of the stored symbols")
            result.loads.append(self.loader.refresh(self.store, self.spec, progress=say))
        self._mark(stale=False)

    def _mark(self, *, stale: bool) -> None:
        write_states(self.store, [IngestState(
            self.spec.name, PEERS_MARKER, source="marketlake", status="peers_stale" if stale else "peers_fresh",
            message="cross-sectional fields of stored peers await a refresh" if stale else None,
            updated_at=datetime.now(UTC))])
        self.marked = stale


class _Loader:
    """Loads fetched pages and refreshes peers here (`load_bars`, `refresh_cross_section`), or, with a
    distributed executor, as symbol-group tasks on it (`load_grouped`, `refresh_grouped`: the driver
    plans, gathers the groups' file actions and commits once). Same stored values either way."""

    def __init__(self, executor: Executor | None, memory_budget: int | str | None) -> None:
        self.executor, self.memory_budget = executor, memory_budget

    @property
    def distributed(self) -> bool:
        return self.executor is not None and self.executor.name != "local"

    def load(self, store: DeltaStore, spec: TableSpec, raw: pd.DataFrame, *, source: str,
             metadata: pd.DataFrame | None, peers: bool) -> LoadReport:
        if not self.distributed:
            return load_bars(store, spec, raw, source=source, metadata=metadata, peers=peers,
                             memory_budget=self.memory_budget)
        from marketlake.pipeline import incremental
        from marketlake.pipeline.grouped import load_grouped

        # the grouped plan recomputes from the first stored bar and keeps no feature state: drop any
        # state of these symbols so a later local append cannot continue one their new bars contradict
        incremental.forget_states(store, spec, sorted(raw["symbol"].dropna().unique().tolist()))
        return load_grouped(store, spec, [RawBatch(bars=raw, metadata=metadata)], source=source, peers=peers,
                            memory_budget=self.memory_budget, executor=self.executor)

    def refresh(self, store: DeltaStore, spec: TableSpec, *, progress: Progress) -> LoadReport:
        if not self.distributed:
            return refresh_cross_section(store, spec, progress=progress, memory_budget=self.memory_budget)
        from marketlake.pipeline.grouped import refresh_grouped

        return refresh_grouped(store, spec, progress=progress, memory_budget=self.memory_budget,
                               executor=self.executor)


def _py(value: object) -> datetime | None:
    """A bar time (Timestamp, datetime, NaT or None) as a UTC datetime or None."""
    if value is None or value is pd.NaT:
        return None
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    if pd.isna(ts):
        return None
    return (ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")).to_pydatetime()


__all__ = ["OVERLAP_BARS", "PEERS_MARKER", "RECHECK_INACTIVE_DAYS", "FetchPlan", "IngestResult", "StoreUsage",
           "SymbolOutcome", "Window", "ingest", "ingest_with", "mark_active", "mark_inactive", "plan_ingest",
           "plan_symbols", "stored_extents"]
