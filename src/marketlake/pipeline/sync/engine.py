"""The sync scheduler: plan what is due across every covered table, then spend the credits in order.

Order (when credits are short the tail is what waits):
1. incremental updates before backfills: fresh bars of covered symbols matter more than history;
2. within each, finer cadences first (1-minute before hourly before daily): a 1-minute bar not fetched
   now costs more to catch up, and a daily table can wait an hour without anyone noticing.

One credit budget per vendor for the whole sync (the ingest session's clients), and the daily cap read
from the shared `api_usage` table before each action, so several processes on one warehouse add up.
A due request is one whose answer can change the table: an update only once a newer bar is complete by
the exchange calendar (`due.next_bar_complete`), so a sync with nothing due sends no request at all.

Each action is one `ingest(...)` call, which takes the writer lock for its own commits and releases it
before returning: between actions other writers and readers proceed. A stop request (SIGTERM, SIGINT)
is honoured at the next progress callback inside an action (after a commit, never inside one) and
between actions; `watchdog` bounds the wait when an action is stuck on a slow vendor.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from marketlake.config import MarketlakeConfig
from marketlake.coverage.plan import CoveredTable, covered_tables, parse_duration
from marketlake.coverage.universe import resolve_symbols
from marketlake.errors import MarketlakeError
from marketlake.pipeline.executors import Executor
from marketlake.pipeline.ingestion import ingest
from marketlake.pipeline.sync.clock import SyncClock, WallClock
from marketlake.pipeline.sync.due import lag, last_complete_bar, next_bar_complete
from marketlake.pipeline.sync.ingest_adapter import IngestSession, session
from marketlake.pipeline.sync.notify import Notifier
from marketlake.pipeline.sync.runs import ActionRecord, last_updates, record
from marketlake.pipeline.window import IngestResult, Window
from marketlake.sources import registry
from marketlake.sources.redact import redact
from marketlake.storage import DeltaStore

RETRY_GAP = timedelta(minutes=5)
"""After an update, the same table is not asked again before this (or its bar interval, if shorter)."""
BACKOFF_BASE_S = 30.0


class SyncStopped(Exception):  # noqa: N818 - a signal, not an error
    """A stop was requested: raised from a progress callback, after a commit, to end the action early."""


@dataclass(frozen=True)
class Action:
    covered: CoveredTable
    kind: str  # update | backfill
    symbols: list[str]


@dataclass(frozen=True)
class Deferred:
    """Work the budget could not pay for in this pass, and when it can."""

    table: str
    kind: str
    symbols: int
    needed: int
    left: int
    allowed_at: datetime

    def describe(self, now: datetime) -> str:
        wait = max(self.allowed_at - now, timedelta(0))
        h, m = divmod(int(wait.total_seconds()) // 60, 60)
        return (f"{self.table}: {self.kind} of {self.symbols} symbols not done: needs ~{self.needed} credits, "
                f"{self.left} left today; the budget allows it after {self.allowed_at:%Y-%m-%d %H:%M} UTC "
                f"(in {h}h{m:02d}m)")


@dataclass
class PassResult:
    records: list[ActionRecord] = field(default_factory=list)
    deferred: list[Deferred] = field(default_factory=list)
    stopped: bool = False
    more: bool = False  # backfill left for the next pass

    @property
    def failed(self) -> list[ActionRecord]:
        return [r for r in self.records if r.status == "failed"]

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.records)


class EventLog:
    """One line per action: human text, or one JSON object (`--log-format json`)."""

    def __init__(self, fmt: str = "text", stream: TextIO | None = None,
                 echo: Callable[[str], None] | None = None) -> None:
        self.fmt, self.stream, self.echo = fmt, stream or sys.stdout, echo

    def emit(self, event: str, text: str, **fields: Any) -> None:
        if self.fmt == "json":
            line = json.dumps({"ts": datetime.now(UTC).isoformat(timespec="seconds"), "event": event, **fields},
                              default=str, separators=(",", ":"))
        else:
            line = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {text}"
        if self.echo is not None:
            self.echo(line)
        else:
            print(line, file=self.stream, flush=True)


class Syncer:
    """Runs sync passes over one warehouse and one configuration."""

    def __init__(self, store: DeltaStore, config: MarketlakeConfig, *, clock: SyncClock | None = None,
                 mode: str = "once", log: EventLog | None = None, stop: threading.Event | None = None,
                 executor: Executor | None = None) -> None:
        self.store, self.config = store, config
        self.executor = executor  # where the loads' compute runs (None: here); fetching always stays here
        self.clock = clock or WallClock()
        self.mode = mode
        self.log = log or EventLog()
        self.stop = stop or threading.Event()
        self.tables = covered_tables(config)
        self.notifier = Notifier(config.sync)
        self.retry_at: dict[str, datetime] = {}
        self.failures: dict[str, int] = {}
        self.last_update = last_updates(store)
        self._empty_rules: set[str] = set()

    # -- planning ----------------------------------------------------------------------------
    @staticmethod
    def _window(c: CoveredTable) -> Window:
        return Window.up_to_date(history_days=c.spec.history_days)

    def _dry_run(self, c: CoveredTable, symbols: list[str]) -> IngestResult:
        """What `ingest` would do now for `symbols` of `c` (stored state only: no client, no request)."""
        return ingest(self.store, c.source, c.name, symbols, window=self._window(c), config=self.config,
                      dry_run=True, now=self.clock.now)

    def plan(self, only: set[str] | None = None) -> tuple[list[Action], list[Action]]:
        """(updates, backfills) due now, in serving order. Reads the warehouse only."""
        now = self.clock.now()
        updates, backfills = [], []
        self._empty_rules = set()
        for c in self.tables:
            if only is not None and c.name not in only:
                continue
            symbols = resolve_symbols(c, self.config, self.store, now=now)
            if not symbols:
                if c.is_rule:
                    self._empty_rules.add(c.name)
                continue
            if now < self.retry_at.get(c.name, now):
                continue  # a recent failure or update: backoff / retry gap
            dry = self._dry_run(c, symbols)
            self._check_stale(c, dry, now)
            cadence_ok = c.cadence <= c.spec.bar_interval or \
                now >= self.last_update.get(c.name, datetime.min.replace(tzinfo=UTC)) + c.cadence
            due = [s for s in _planned(dry, "update")
                   if cadence_ok and (o := dry.outcomes[s]).last_bar is not None
                   and next_bar_complete(c.spec, o.last_bar) <= now]
            if due:
                updates.append(Action(c, "update", due))
            todo = _planned(dry, "backfill", "extend")
            chunk = registry.vendor(c.source).sync_chunk
            backfills += [Action(c, "backfill", todo[i:i + chunk]) for i in range(0, len(todo), chunk)]
        return updates, backfills

    def _check_stale(self, c: CoveredTable, dry: IngestResult, now: datetime) -> None:
        limit = parse_duration(self.config.sync.stale_after, what="[sync] stale_after") \
            if self.config.sync.stale_after else 3 * c.cadence
        lags = [lag(c.spec, o.last_bar, now) for o in dry.outcomes.values() if o.last_bar is not None]
        worst = max((x for x in lags if x is not None), default=None)
        if worst is not None and worst > limit:
            self.notifier.raise_("stale", c.name, {"lag_s": worst.total_seconds(), "limit_s": limit.total_seconds()})
        elif worst is not None:
            self.notifier.clear("stale", c.name)

    # -- one pass ----------------------------------------------------------------------------
    def run_pass(self, *, run_id: str | None = None, backfill_until: datetime | None = None) -> PassResult:
        """Every due update, then backfills (until `backfill_until` in watch mode, so updates get their turn).

        A rule universe over a table this pass backfilled from nothing (the hourly tier ranked from the
        daily one, on a first sync) is planned again at the end of the pass, so one `sync` fills every tier.
        """
        run_id = run_id or uuid.uuid4().hex[:12]
        result = PassResult()
        started = self.clock.now()
        only: set[str] | None = None
        with session(self.config, self.store, executor=self.executor) as sess:
            for _round in range(3):
                updates, backfills = self.plan(only=only)
                self._execute(updates, backfills, sess, run_id, result, backfill_until=backfill_until)
                filled = {r.table for r in result.records if r.action == "backfill" and r.status == "ok"}
                only = {name for name in self._empty_rules
                        if any(c.name == name and c.is_rule and c.universe.from_table in filled  # type: ignore[union-attr]
                               for c in self.tables)}
                if not only or result.stopped or result.more:
                    break
        if not result.records and not result.deferred and self.mode == "once":
            now = self.clock.now()
            record(self.store, [ActionRecord(run_id, self.mode, "*", None, "none", started, now,
                                             message="nothing due")])
            self.log.emit("none", "nothing due: no request sent", run_id=run_id, status="ok")
        return result

    def _execute(self, updates: list[Action], backfills: list[Action], sess: IngestSession, run_id: str,
                 result: PassResult, *, backfill_until: datetime | None) -> None:
        backfilled = 0
        for action in updates + backfills:
            if self.stop.is_set():
                result.stopped = True
                return
            if action.kind == "backfill":
                if backfilled and backfill_until is not None and self.clock.now() >= backfill_until:
                    result.more = True  # updates are due again: they go first, backfill continues after
                    return
                backfilled += 1
            rec = self._run_action(action, sess, run_id, result)
            if rec is not None:
                result.records.append(rec)
                record(self.store, [rec])
                if rec.status == "stopped":
                    result.stopped = True
                    return

    def _affordable(self, action: Action, sess: IngestSession, result: PassResult) -> list[str]:
        """The part of `action` today's credits pay for (the rest is reported as deferred)."""
        left = sess.day_left(action.covered.source)
        if left is None:
            return action.symbols
        plan = self._dry_run(action.covered, action.symbols).plan
        est = plan.credits if plan is not None else 0
        if est <= left:
            return action.symbols
        per_symbol = max(est / max(len(action.symbols), 1), 1e-9)
        fit = min(len(action.symbols), math.floor(left / per_symbol))
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        d = Deferred(action.covered.name, action.kind, len(action.symbols) - fit, est - math.floor(fit * per_symbol),
                     left, tomorrow)
        result.deferred.append(d)
        self.log.emit("deferred", d.describe(datetime.now(UTC)), table=d.table, action=d.kind, symbols=d.symbols,
                      needed=d.needed, left=d.left, allowed_at=d.allowed_at.isoformat())
        return action.symbols[:fit]

    def _run_action(self, action: Action, sess: IngestSession, run_id: str,
                    result: PassResult) -> ActionRecord | None:
        c = action.covered
        symbols = self._affordable(action, sess, result)
        if not symbols:
            return None
        started, t0 = self.clock.now(), time.perf_counter()

        def progress(_msg: str) -> None:
            if self.stop.is_set():
                raise SyncStopped

        status, message, res = "ok", None, None
        try:
            res = sess.ingest(c.source, c.name, symbols, window=self._window(c), now=self.clock.now,
                              progress=progress)
            failed = list(res.failed)
            if failed:
                status, message = "failed", f"{len(failed)} symbols failed (asked again next time): " + \
                    "; ".join(f"{s}: {res.errors.get(s, '')}" for s in failed[:3])
        except SyncStopped:
            status, message = "stopped", "stop requested: stopped after the last commit"
        except MarketlakeError as exc:
            status, message = "failed", redact(str(exc))[:500]
        now = self.clock.now()
        if status == "failed":
            k = self.failures.get(c.name, 0) + 1
            self.failures[c.name] = k
            wait = min(BACKOFF_BASE_S * 2 ** (k - 1), self.config.sync.backoff_max_s)
            self.retry_at[c.name] = now + timedelta(seconds=wait)
            self.notifier.raise_("failure", c.name, {"action": action.kind, "message": message})
        elif status == "ok":
            self.failures.pop(c.name, None)
            self.notifier.clear("failure", c.name)
            if action.kind == "update":
                self.last_update[c.name] = now
                gap = min(RETRY_GAP, c.spec.bar_interval, c.cadence)  # counted from when the bars were asked
                self.retry_at[c.name] = max(self.retry_at.get(c.name, started), started + gap)
        rec = ActionRecord(run_id, self.mode, c.name, c.source, action.kind, started, now, symbols=len(symbols),
                           rows=res.rows_changed if res else 0, credits=res.credits if res else 0,
                           requests=res.requests if res else 0, status=status, message=message)
        text = (f"{action.kind} {c.name} ({c.source}): {len(symbols)} symbols, {rec.rows:,} rows, "
                f"{rec.credits} credits in {rec.requests} requests, {status}"
                + (f": {message}" if message else "") + f" ({time.perf_counter() - t0:.1f}s)")
        self.log.emit("action", text, **{k: v for k, v in rec.as_dict().items() if k not in ("mode",)},
                      seconds=round(time.perf_counter() - t0, 3))
        return rec

    # -- watch -------------------------------------------------------------------------------
    def next_wake(self) -> datetime:
        """When the next refresh is due: each table's next complete bar, its cadence, backoff or retry gap."""
        now = self.clock.now()
        best = now + timedelta(seconds=self.config.sync.max_sleep_s)
        for c in self.tables:
            last = last_complete_bar(c.spec, now)
            due = next_bar_complete(c.spec, last) if last is not None else now
            if c.cadence > c.spec.bar_interval and c.name in self.last_update:
                due = max(due, self.last_update[c.name] + c.cadence)
            due = max(due, self.retry_at.get(c.name, due))
            best = min(best, due)
        return max(best, now + timedelta(seconds=0.5))

    def watch(self, *, stop_after: timedelta | None = None) -> int:
        """Run passes until stopped (or `stop_after` of clock time); 0 on a clean stop."""
        end = self.clock.now() + stop_after if stop_after else None
        self.log.emit("start", f"sync --watch: {len(self.tables)} covered tables", tables=[c.name for c in self.tables])
        last_pass = self.clock.now()
        while not self.stop.is_set():
            wake_hint = self.next_wake()
            last_pass = self.clock.now()
            result = self.run_pass(backfill_until=wake_hint)
            if result.stopped or self.stop.is_set():
                break
            if end is not None and self.clock.now() >= end:
                break
            wake = self.next_wake()
            if result.more or any(r.action == "backfill" and r.status == "ok" for r in result.records):
                wake = self.clock.now()  # more backfill may be waiting (rule universes fill after theirs): re-plan
            if end is not None:
                wake = min(wake, end)
            if self.clock.sleep((wake - self.clock.now()).total_seconds(), self.stop):
                break
        self.log.emit("stop", f"sync --watch stopped (last pass began at {last_pass:%Y-%m-%d %H:%M:%S} UTC)",
                      status="ok", last_pass=last_pass.isoformat())
        return 0


def _planned(dry: IngestResult, *actions: str) -> list[str]:
    """The symbols a dry run would serve with one of `actions` (backfill, extend, update), in order."""
    return [s for s, o in dry.outcomes.items() if o.status == "planned" and o.action in actions]


def run_stoppable(work: Callable[[], int], stop: threading.Event, *, grace_s: float = 3.0) -> int:
    """Run `work` in a worker thread; SIGTERM/SIGINT set `stop`, and `grace_s` later the process exits 0.

    Why a worker thread: Python runs signal handlers in the main thread only, and not while it is inside
    a native call (a Delta write, a socket read), which can last seconds. The main thread here only
    waits, so a stop is noticed at once; the work sees `stop` at its next progress callback (after a
    commit) or between actions. Why the hard exit is safe: every commit is atomic (the table is either
    as it was or has the whole commit) and every ingest is crash-safe by construction (see
    pipeline.ingestion), so an action stuck on a slow vendor may be abandoned like a `kill -9`
    without losing or duplicating a bar.
    """
    import signal

    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["rc"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, raised there
            outcome["error"] = exc

    def handler(_sig: int, _frame: object) -> None:
        if stop.is_set():
            os._exit(0)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    worker = threading.Thread(target=target, name="marketlake-sync", daemon=True)
    worker.start()
    stopped_at: float | None = None
    while worker.is_alive():
        worker.join(0.1)
        if stop.is_set():
            stopped_at = stopped_at or time.monotonic()
            if time.monotonic() - stopped_at > grace_s:
                sys.stdout.flush()
                os._exit(0)
    if "error" in outcome:
        raise outcome["error"]
    return int(outcome.get("rc", 0))


def supervise(argv: list[str], *, env_flag: str, grace_s: float = 3.0) -> int:
    """Run the watch in a worker process and stop it within `grace_s` of SIGTERM/SIGINT; 0 on a stop.

    Why a process: a signal handler runs in Python's main thread and needs the GIL, which a native call
    (loading the compiled feature kernels, an Arrow computation) may hold for seconds on a loaded machine.
    This supervisor only waits, so it answers at once: it passes the signal on (the worker stops after its
    current commit), and if the worker is still running `grace_s` later it is killed, which is safe for the
    same reason `kill -9` is (atomic commits, crash-safe ingest: the table stays as it was).
    """
    import signal
    import subprocess

    child = subprocess.Popen(argv, env={**os.environ, env_flag: "1"})
    stop_at: list[float] = []

    def handler(sig: int, _frame: object) -> None:
        if not stop_at:
            stop_at.append(time.monotonic())
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while True:
        try:
            rc = child.wait(timeout=0.1)
            return 0 if stop_at else rc
        except subprocess.TimeoutExpired:
            pass
        if stop_at and time.monotonic() - stop_at[0] > grace_s:
            child.kill()
            child.wait()
            return 0


__all__ = ["Action", "Deferred", "EventLog", "PassResult", "SyncStopped", "Syncer", "run_stoppable", "supervise"]
