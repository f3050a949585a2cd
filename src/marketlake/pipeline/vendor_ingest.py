"""Vendor ingestion: backfill to the table's history target, then incremental updates, resumable.

Why the watermark comes from the stored bars: after `kill -9` the last thing that happened may be a
Delta commit whose `ingest_state` row was never written. Reading each symbol's first/last stored
bar (the data itself) means a re-run never re-requests a window whose bars are stored; `ingest_state`
adds what the data cannot say (backfill complete, earliest bar the vendor has, 404s, messages).

Crash safety by construction: every load keeps each symbol's stored bars one contiguous range.
- Backfill pages go from the newest stored (or now) *backwards*, each page loaded as it arrives.
- Incremental windows (from the last stored bar, with `overlap_bars` so vendor revisions are picked
  up) are collected for a whole group and loaded in one commit, so a crash cannot leave a hole
  between old and new bars.
A symbol whose next bar cannot be complete yet is not requested at all (a re-run right after a run
spends no credits). One run per warehouse: the writer lock is held throughout.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.pipeline.core import load_bars, refresh_cross_section
from marketlake.pipeline.ingest_state import IngestState, read_states, write_states
from marketlake.pipeline.report import LoadReport
from marketlake.schema import SUPPORT_SCHEMAS, TableSpec, get_table
from marketlake.sources.redact import redact
from marketlake.sources.twelvedata.client import MAX_BATCH, MAX_OUTPUTSIZE, TwelveDataClient
from marketlake.sources.twelvedata.fetcher import EarliestBars, SeriesResult, fetch_window
from marketlake.sources.twelvedata.wire import WireError
from marketlake.storage import DeltaStore

if TYPE_CHECKING:
    from marketlake.sources.binance import BinanceSource

SOURCE = "twelvedata"
RECHECK_INACTIVE_DAYS = 30
"""Days after which a symbol deactivated by the vendor's 404 is asked again (`[twelvedata] recheck_inactive_days`)."""
PREFETCH = 1
"""Backfill pages fetched ahead of the one being loaded (see `sources.ahead`)."""
Progress = Callable[[str], None]


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


@dataclass
class IngestReport:
    """What one vendor ingest run did: symbols asked, those the vendor does not know, loads, requests.

    `not_found`: symbols the vendor said it does not know (deactivated); `failed`: symbols whose last
    answer in this run was another error (missing from a batch answer, malformed, 5xx): kept active and
    asked again on the next run.
    """

    table: str
    symbols: int = 0
    not_found: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    loads: list[LoadReport] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0

    @property
    def rows_changed(self) -> int:
        return sum(r.changed for r in self.loads)

    @property
    def all_failed(self) -> bool:
        """Every requested symbol failed or is unknown: nothing this run was asked for could be served."""
        return self.symbols > 0 and len(self.not_found.keys() | self.failed.keys()) >= self.symbols


@dataclass
class VendorIngestReport(IngestReport):
    """What one `ingest twelvedata` run did."""

    requested: int = 0
    up_to_date: int = 0
    credits: int = 0


@dataclass(frozen=True)
class _Plan:
    incremental: dict[datetime, list[str]]  # start -> symbols
    backfill_new: list[str]  # nothing stored: from now back to the target
    backfill_older: dict[datetime, list[str]]  # first stored bar -> symbols still short of the target
    up_to_date: list[str]


def stored_extents(store: DeltaStore, table: TableSpec, symbols: Sequence[str]) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """First and last stored bar per symbol: the watermark, read from the data itself."""
    if not store.exists(table.name):
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
) -> _Plan:
    """Which window each symbol needs (pure)."""
    target = pd.Timestamp(now - timedelta(days=table.history_days))
    slack = max(timedelta(days=5), 5 * table.bar_interval)
    plan = _Plan({}, [], {}, [])
    for s in symbols:
        if s not in extents:
            plan.backfill_new.append(s)
            continue
        first, last = extents[s]
        st = state.get(s)
        earliest = st.earliest_available if st else None
        done = bool(st and st.backfill_complete) or first <= target + slack or (
            earliest is not None and first <= pd.Timestamp(earliest))
        if not done:
            plan.backfill_older.setdefault(first.to_pydatetime(), []).append(s)
        if _next_bar_complete(table, last, now):
            start = (last - overlap_bars * table.bar_interval).to_pydatetime()
            plan.incremental.setdefault(start, []).append(s)
        elif done:
            plan.up_to_date.append(s)
    return plan


@dataclass(frozen=True)
class FetchPlan:
    """What an ingest would fetch and spend, computed from stored state alone (`--dry-run`)."""

    vendor: str
    table: str
    symbols: int
    backfill: int  # nothing stored yet
    extend: int  # stored, but short of the history target
    update: int  # a newer bar is due
    up_to_date: int
    skipped_inactive: int
    requests: int
    credits: int
    bars: int  # estimated bars to fetch
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _bars_between(spec: TableSpec, start: datetime, end: datetime) -> int:
    """Bars of `spec` in [start, end): the table's bars per year, pro rata (sessions and 24/7 alike)."""
    seconds = max((end - start).total_seconds(), 0.0)
    return math.ceil(seconds / (365.25 * 86_400) * spec.bars_per_year)


def plan_twelvedata(
    store: DeltaStore,
    table: str | TableSpec,
    symbols: Sequence[str],
    *,
    per_minute: int,
    now: datetime | None = None,
    overlap_bars: int = 3,
    batch_size: int | None = None,
    outputsize: int = MAX_OUTPUTSIZE,
    recheck_inactive_days: float = RECHECK_INACTIVE_DAYS,
) -> FetchPlan:
    """The requests and credits `ingest_twelvedata` would spend now; reads the warehouse only.

    One credit per symbol per `/time_series` request (batched up to 120 symbols); a backfill needs
    ceil(bars / 5,000) pages per symbol, and a symbol needing a second page costs one more credit for
    its `/earliest_timestamp` (asked once, then kept in `ingest_state`). Estimates use the table's bars
    per year; holidays and a vendor's shorter history make the real figure lower, never higher.
    """
    spec = get_table(table) if isinstance(table, str) else table
    moment = now or datetime.now(UTC)
    wanted = list(dict.fromkeys(symbols))
    report = VendorIngestReport(spec.name, symbols=len(wanted))
    asked, _ = _skip_inactive(store, wanted, report, recheck_after=timedelta(days=recheck_inactive_days)) \
        if store.exists("symbols") else (wanted, [])
    extents = stored_extents(store, spec, asked) if store.exists(spec.name) else {}
    state = read_states(store, spec.name) if store.exists("ingest_state") else {}
    state.pop(PEERS_MARKER, None)
    plan = plan_symbols(spec, asked, extents, state, now=moment, overlap_bars=overlap_bars)
    batch = max(1, min(batch_size or MAX_BATCH, MAX_BATCH, per_minute))
    target = moment - timedelta(days=spec.history_days)
    requests = credits = bars = 0
    for start, group in plan.incremental.items():
        n = _bars_between(spec, start, moment) + 1
        pages = max(1, -(-n // outputsize))
        requests += -(-len(group) // batch) * pages
        credits += len(group) * pages
        bars += n * len(group)
    windows = [(target, moment, plan.backfill_new)] + [(target, first, g) for first, g in plan.backfill_older.items()]
    for lo, hi, group in windows:
        if not group:
            continue
        n = _bars_between(spec, lo, hi)
        pages = max(1, -(-n // outputsize))
        known_floor = sum(1 for s in group if state.get(s) is not None and state[s].earliest_available is not None)
        requests += -(-len(group) // batch) * pages + (len(group) - known_floor if pages > 1 else 0)
        credits += len(group) * pages + (len(group) - known_floor if pages > 1 else 0)
        bars += n * len(group)
    notes = []
    if report.not_found:
        notes.append(f"{len(report.not_found)} symbols skipped: deactivated by the vendor's 404 "
                     f"less than {recheck_inactive_days:g} days ago")
    return FetchPlan("twelvedata", spec.name, len(wanted), len(plan.backfill_new),
                     sum(map(len, plan.backfill_older.values())), sum(map(len, plan.incremental.values())),
                     len(plan.up_to_date), len(report.not_found), requests, credits, bars, tuple(notes))


def plan_binance(
    store: DeltaStore,
    table: str | TableSpec,
    symbols: Sequence[str],
    *,
    now: datetime | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    overlap_bars: int = 3,
    weight_per_request: int = 2,
    limit: int = 1000,
) -> FetchPlan:
    """The kline requests and weight `ingest_binance` would spend now (symbols as stored, `BTC/USD`).

    Binance pages forward up to `limit` klines per request at `weight_per_request` each; a run without
    `start` resumes each symbol from its last stored bar, or backfills it to the history target.
    """
    spec = get_table(table) if isinstance(table, str) else table
    moment = now or datetime.now(UTC)
    names = list(dict.fromkeys(symbols))
    extents = stored_extents(store, spec, names) if store.exists(spec.name) else {}
    target = moment - timedelta(days=spec.history_days)
    requests = bars = backfill = update = 0
    for s in names:
        if start is not None:
            lo = start
        elif s in extents:
            lo = (extents[s][1] - overlap_bars * spec.bar_interval).to_pydatetime()
            update += 1
        else:
            lo, backfill = target, backfill + 1
        n = _bars_between(spec, lo, end or moment) + 1
        requests += max(1, -(-n // limit))
        bars += n
    return FetchPlan("binance", spec.name, len(names), backfill, 0, update, 0, 0, requests,
                     requests * weight_per_request, bars, ("weight, not credits: Binance's per-minute limit",))


def ingest_twelvedata(
    store: DeltaStore,
    table: str | TableSpec,
    symbols: Sequence[str],
    *,
    client: TwelveDataClient,
    now: Callable[[], datetime] | None = None,
    overlap_bars: int = 3,
    batch_size: int | None = None,
    outputsize: int = MAX_OUTPUTSIZE,
    lock_wait: bool | float | None = None,
    progress: Progress | None = None,
    prefetch: int = PREFETCH,
    recheck_inactive_days: float = RECHECK_INACTIVE_DAYS,
) -> VendorIngestReport:
    """Backfill and update `symbols` in `table` from TwelveData; safe to kill and re-run.

    Backfill pages are fetched `prefetch` pages ahead of the one being loaded, so credits keep being
    spent while a page is validated and written; a kill can therefore waste the page being loaded and
    `prefetch` more (never a page already stored).

    A symbol deactivated by the vendor's 404 is skipped (no credits) until `recheck_inactive_days` have
    passed since it was marked; then it is asked again: reactivated if the vendor now serves it, marked
    again (for another period) if it still answers 404.

    Raises:
        WarehouseLocked: another run holds the warehouse past `lock_wait` (None: the default wait).
        AuthError, BudgetExceeded: the key/plan is wrong or the day's credits are spent; stored
            progress is kept and a re-run continues from there.
    """
    spec = get_table(table) if isinstance(table, str) else table
    clock_now = now or (lambda: datetime.now(UTC))
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    credits0, requests0 = client.budget.total_credits, client.requests_sent
    report = VendorIngestReport(spec.name, symbols=len(dict.fromkeys(symbols)))
    batch = max(1, min(batch_size or MAX_BATCH, MAX_BATCH, client.budget.per_minute))
    with store.writer_lock(wait=lock_wait):
        client.budget.reload_day()  # another run may have spent today's credits while this one waited
        store.ensure_tables([spec.name])
        symbols, rechecked = _skip_inactive(store, list(dict.fromkeys(symbols)), report,
                                            recheck_after=timedelta(days=recheck_inactive_days))
        if rechecked:
            say(f"re-checking {len(rechecked)} symbols deactivated over {recheck_inactive_days:g} days ago")
        extents = stored_extents(store, spec, symbols)
        state = read_states(store, spec.name)
        stale_before = _peers_stale(state.pop(PEERS_MARKER, None))
        deferred = _Deferred(store, spec, stale=stale_before)
        plan = plan_symbols(spec, symbols, extents, state, now=clock_now(), overlap_bars=overlap_bars)
        report.up_to_date = len(plan.up_to_date)
        target = clock_now() - timedelta(days=spec.history_days)
        say(f"{len(plan.backfill_new)} to backfill, {sum(map(len, plan.backfill_older.values()))} to extend, "
            f"{sum(map(len, plan.incremental.values()))} to update, {len(plan.up_to_date)} up to date")
        floors = _floors(store, spec, client, state, report, say=say)
        # 1. incremental first (fresh data matters most), each group loaded in one commit
        for start, group in plan.incremental.items():
            results = list(fetch_window(client, group, spec, start=start, now=clock_now, batch_size=batch,
                                        earliest=floors, outputsize=outputsize))
            _load(store, spec, results, report, state, target=target, backfill=False, say=say)
        # 2. backfill: page backwards to the target or to the vendor's earliest bar (asked once per symbol,
        #    only when a symbol needs an older page, and kept in ingest_state), each page loaded as it
        #    arrives. A symbol with stored bars short of the target continues from its first stored bar.
        older = floors.resolve([s for g in plan.backfill_older.values() for s in g])
        jobs = [(None, plan.backfill_new)] + [(end, g) for end, g in plan.backfill_older.items()]
        for end, group in jobs:
            group = [s for s in group if s not in report.not_found
                     and not (end is not None and s in older and pd.Timestamp(end) <= older[s])]
            if not group:
                continue
            for result in fetch_window(client, group, spec, start=target, end=end, now=clock_now, batch_size=batch,
                                       earliest=floors, outputsize=outputsize, prefetch=prefetch):
                deferred.before_load()
                _load(store, spec, [result], report, state, target=target, backfill=True, say=say,
                      earliest=floors.known, peers=False)
        # 3. the pages above left sector peers' / everyone's benchmark fields stale: one refresh for all
        deferred.finish(report, say=say)
        # 4. the vendor's metadata refreshed the master: the same symbols' bars in the other tables follow it
        _follow_master_elsewhere(store, spec, [s for s in symbols if s not in report.not_found], say=say)
        revived = [s for s in rechecked if s not in report.not_found and s not in report.failed
                   and state.get(s) is not None and state[s].status == "ok"]
        if revived:
            mark_active(store, revived, now=datetime.now(UTC))
    client.budget.flush()
    report.credits = client.budget.total_credits - credits0
    report.requests = client.requests_sent - requests0
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class BinanceIngestReport(IngestReport):
    """What one `ingest binance` run did (`weight`: Binance's request weight spent)."""

    weight: int = 0


def ingest_binance(
    store: DeltaStore,
    table: str | TableSpec,
    symbols: Sequence[str],
    *,
    source: BinanceSource,
    start: datetime | None = None,
    end: datetime | None = None,
    overlap_bars: int = 3,
    lock_wait: bool | float | None = None,
    progress: Progress | None = None,
) -> BinanceIngestReport:
    """Load Binance klines through `ingest_source` (validate, quarantine, features, write).

    `symbols` may be `BTC/USD` or `BTCUSDT`; they are stored under the source's names (`BTC/USD` by
    default, see `sources.binance.symbols`). Without `start`, each symbol resumes from its last stored
    bar (minus `overlap_bars`, so revised klines are picked up) or, when nothing is stored, from the
    table's history target. Symbols sharing a start are fetched and loaded together (one commit per
    group). Pairs Binance rejects as invalid (-1121) are marked inactive in the symbol master.
    """
    from marketlake.pipeline.ingest import ingest_source
    from marketlake.sources.binance.fetcher import binance_interval
    from marketlake.sources.binance.wire import INVALID_SYMBOL

    spec = get_table(table) if isinstance(table, str) else table
    binance_interval(spec)  # ConfigError for a stocks table
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    budget = source.client.budget
    weight0, requests0 = budget.total_credits, source.client.requests_sent
    report = BinanceIngestReport(spec.name, symbols=len(dict.fromkeys(symbols)))
    pairs = source.resolve(list(symbols))  # one exchangeInfo request at most, before the lock
    names = [p.symbol for p in pairs]
    bench = next((p.symbol for p in pairs if p.pair == "BTCUSDT"), None)
    with store.writer_lock(wait=lock_wait):
        store.ensure_tables([spec.name])
        groups: dict[datetime | None, list[str]] = {}
        if start is not None:
            groups[start] = names
        else:
            extents = stored_extents(store, spec, names)
            target = source.now() - timedelta(days=spec.history_days)
            for s in names:
                at = (extents[s][1] - overlap_bars * spec.bar_interval).to_pydatetime() if s in extents else target
                groups.setdefault(at, []).append(s)
        for at, group in groups.items():
            say(f"{len(group)} symbols from {at:%Y-%m-%d %H:%M}" if at else f"{len(group)} symbols")
            report.loads += ingest_source(store, source, [spec], symbols=group, start=at, end=end,
                                          benchmark=bench, include_benchmark=False, progress=say)
        report.not_found = dict(source.not_found)
        invalid = {s: r for s, r in source.not_found.items() if f"binance {INVALID_SYMBOL}:" in r}
        if invalid:
            mark_inactive(store, invalid, now=datetime.now(UTC), source="binance")
        _follow_master_elsewhere(store, spec, [s for s in names if s not in report.not_found], say=say)
    report.weight = budget.total_credits - weight0
    report.requests = source.client.requests_sent - requests0
    report.seconds = time.perf_counter() - started
    return report


def _follow_master_elsewhere(store: DeltaStore, spec: TableSpec, symbols: list[str], *, say: Progress) -> None:
    """Rewrite the bars of `symbols` in the other production tables whose metadata now differs from the master."""
    from marketlake.pipeline.metadata import follow_master
    from marketlake.schema import TABLE_NAMES

    others = [t for t in TABLE_NAMES if t != spec.name and store.exists(t)]
    if symbols and others:
        follow_master(store, tables=others, symbols=symbols, progress=say)


def _floors(store: DeltaStore, spec: TableSpec, client: TwelveDataClient, state: dict[str, IngestState],
            report: VendorIngestReport, *, say: Progress) -> EarliestBars:
    """The pager's floors: each symbol's earliest bar from `ingest_state`, else asked when paging needs it.

    Every batch of answers is stored in `ingest_state.earliest_available` at once (a killed run never
    asks twice); a symbol whose stored history already reaches its floor is marked complete, and a 404
    marks the symbol inactive.
    """
    known: dict[str, pd.Timestamp] = {}
    for symbol, row in state.items():
        if row.earliest_available is not None:
            known[symbol] = pd.Timestamp(row.earliest_available)

    def persist(found: dict[str, pd.Timestamp], errors: dict[str, WireError]) -> None:
        now = datetime.now(UTC)
        rows, missing = [], {}
        for symbol, floor in found.items():
            old = state.get(symbol)
            first = old.first_bar if old else None
            reached = first is not None and pd.Timestamp(first) <= floor
            rows.append(_state_row(spec, symbol, state, status=(old.status if old else None) or "ok",
                                   message=old.message if old else None, now=now, earliest=floor, complete=reached))
        for symbol, err in errors.items():
            if err.code == 404:
                missing[symbol] = redact(f"twelvedata {err.code}: {err.message}")[:300]
                rows.append(_state_row(spec, symbol, state, status="error", message=missing[symbol], now=now))
        _record(store, rows, missing, report, now=now)
        say(f"earliest bars asked for {len(found) + len(errors)} symbols, {len(missing)} unknown to twelvedata")

    return EarliestBars(client, spec, known=known, on_answer=persist)


PEERS_MARKER = "*"
"""`ingest_state` row (table, "*"): backfill pages were loaded without refreshing their peers."""


def _peers_stale(row: IngestState | None) -> bool:
    return row is not None and row.status == "peers_stale"


class _Deferred:
    """Backfill pages load only their own symbols (`load_bars(peers=False)`); the peers' cross-sectional
    fields are refreshed once at the end. A marker row in `ingest_state` is written before the first such
    page and cleared after the refresh, so a run killed in between refreshes on the next run."""

    def __init__(self, store: DeltaStore, spec: TableSpec, *, stale: bool) -> None:
        self.store, self.spec = store, spec
        self.stale_before = stale  # a killed run left it stale: refresh whatever this run loads
        self.marked = stale

    def before_load(self) -> None:
        if not self.marked:
            self._mark(stale=True)

    def finish(self, report: VendorIngestReport, *, say: Progress) -> None:
        if not self.marked:
            return
        if self.stale_before or any(load.peers_deferred for load in report.loads):
            say("refreshing sector and benchmark fields of the stored symbols")
            report.loads.append(refresh_cross_section(self.store, self.spec, progress=say))
        self._mark(stale=False)

    def _mark(self, *, stale: bool) -> None:
        write_states(self.store, [IngestState(
            self.spec.name, PEERS_MARKER, source="marketlake", status="peers_stale" if stale else "peers_fresh",
            message="cross-sectional fields of stored peers await a refresh" if stale else None,
            updated_at=datetime.now(UTC))])
        self.marked = stale


def _load(store: DeltaStore, spec: TableSpec, results: list[SeriesResult], report: VendorIngestReport,
          state: dict[str, IngestState], *, target: datetime, backfill: bool, say: Progress,
          earliest: dict[str, pd.Timestamp] | None = None, peers: bool = True) -> None:
    """Load fetched bars (one commit), then record state and 404s. Order matters for resume."""
    report.requested += sum(len(r.request.symbols) for r in results)
    frames = [r.bars for r in results if len(r.bars)]
    metas = [r.metadata for r in results if len(r.metadata)]
    if frames:
        raw = pd.concat(frames, ignore_index=True)
        meta = pd.concat(metas, ignore_index=True).drop_duplicates("symbol") if metas else None
        load = load_bars(store, spec, raw, source=SOURCE, metadata=meta, peers=peers)
        report.loads.append(load)
        say(f"loaded {len(raw):,} bars of {raw['symbol'].nunique()} symbols ({load.changed:,} changed)")
    now = datetime.now(UTC)
    rows, missing = [], {}
    for r in results:
        for s in r.request.symbols:
            if s in r.errors:
                err = r.errors[s]
                if err.code == 404:  # the vendor's own "unknown symbol": deactivated
                    missing[s] = redact(f"twelvedata {err.code}: {err.message}")[:300]
                else:  # missing from a batch answer, malformed, 5xx: kept active, asked again next run
                    report.failed[s] = redact(f"twelvedata {err.code}: {err.message}")[:300]
                rows.append(_state_row(spec, s, state, status="error", message=redact(f"{err.code}: {err.message}")[:300],
                                       now=now))
                continue
            report.failed.pop(s, None)
            complete = None
            if backfill:
                oldest = r.oldest.get(s)
                short = r.counts.get(s, 0) < r.request.outputsize
                floor = (earliest or {}).get(s)
                complete = short or (oldest is not None and (
                    oldest <= pd.Timestamp(target) or (floor is not None and oldest <= floor)))
            sym_bars = r.bars[r.bars["symbol"] == s]["datetime"] if len(r.bars) else pd.Series([], dtype="datetime64[us, UTC]")
            rows.append(_state_row(spec, s, state, status="ok", message=None, now=now, complete=complete,
                                   first=sym_bars.min() if len(sym_bars) else None,
                                   last=sym_bars.max() if len(sym_bars) else None))
    _record(store, rows, missing, report, now=now)


def _record(store: DeltaStore, rows: list[IngestState], missing: dict[str, str], report: VendorIngestReport,
            *, now: datetime) -> None:
    """Write `ingest_state` rows (one commit), then mark the 404s inactive and report them."""
    write_states(store, rows)
    if missing:
        mark_inactive(store, missing, now=now)
        report.not_found.update(missing)


def _state_row(spec: TableSpec, symbol: str, state: dict[str, IngestState], *, status: str,
               message: str | None, now: datetime, complete: bool | None = None,
               first: object = None, last: object = None, earliest: object = None) -> IngestState:
    """`symbol`'s record updated: bar extent widened, floor and completeness kept once known."""
    old = state.get(symbol) or IngestState(spec.name, symbol)

    def pick(new: datetime | None, prev: datetime | None, fn: Callable[[datetime, datetime], datetime]) -> datetime | None:
        if new is None or prev is None:
            return new if prev is None else prev
        return fn(prev, new)

    row = old.updated(
        source=SOURCE, first_bar=pick(_py(first), old.first_bar, min), last_bar=pick(_py(last), old.last_bar, max),
        earliest_available=_py(earliest) if earliest is not None else old.earliest_available,
        backfill_complete=bool(complete) or old.backfill_complete, status=status, message=message, updated_at=now)
    state[symbol] = row
    return row


def _py(value: object) -> datetime | None:
    """A bar time (Timestamp, datetime, NaT or None) as a UTC datetime or None."""
    if value is None or value is pd.NaT:
        return None
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    if pd.isna(ts):
        return None
    return (ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")).to_pydatetime()


def _skip_inactive(store: DeltaStore, symbols: list[str], report: VendorIngestReport, *,
                   recheck_after: timedelta) -> tuple[list[str], list[str]]:
    """(symbols to request, those among them being re-checked).

    Symbols marked inactive by an earlier 404 are not requested again (no credits spent) until
    `recheck_after` has passed since they were marked (`symbols.updated_at`): a vendor may list a
    symbol later (an IPO's ticker in use, a data gap fixed), so a 404 is not forever.
    """
    master = store.read_support("symbols", columns=["symbol", "active", "inactive_reason", "updated_at"])
    if master.num_rows == 0:
        return symbols, []
    wanted = set(symbols)
    due = datetime.now(UTC) - recheck_after
    reasons, rechecked = {}, []
    for row in master.to_pylist():
        reason = row["inactive_reason"] or ""
        if row["symbol"] not in wanted or row["active"] is not False or not reason.startswith("twelvedata"):
            continue
        marked = row["updated_at"]
        if marked is not None and marked > due:
            reasons[row["symbol"]] = reason
        else:
            rechecked.append(row["symbol"])
    report.not_found.update({s: reasons[s] for s in symbols if s in reasons})
    return [s for s in symbols if s not in reasons], rechecked


def mark_active(store: DeltaStore, symbols: Sequence[str], *, now: datetime) -> None:
    """Set `active = true` and clear the reason of `symbols` (a re-checked symbol the vendor serves again)."""
    master = store.read_support("symbols")
    rows = [{**row, "active": True, "inactive_reason": None, "updated_at": now}
            for row in master.to_pylist() if row["symbol"] in set(symbols)]
    if rows:
        store.upsert_support("symbols", pa.Table.from_pylist(rows, schema=SUPPORT_SCHEMAS["symbols"]), keys=["symbol"])


def mark_inactive(store: DeltaStore, reasons: dict[str, str], *, now: datetime, source: str = SOURCE) -> None:
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


__all__ = ["PREFETCH", "BinanceIngestReport", "IngestReport", "StoreUsage", "VendorIngestReport", "ingest_binance", "ingest_twelvedata", "mark_active", "mark_inactive", "plan_symbols", "stored_extents"]
