"""Stand-in for the vendor-agnostic ingestion verb, over today's `pipeline.vendor_ingest` functions.

`sync` is written against this one signature only:

    ingest(store, source, table, symbols, *, window=None, config=None, progress=None, dry_run=False)
        -> IngestResult

so the real verb (`marketlake.pipeline.ingestion.ingest`) can replace this module without touching
`sync`. What `sync` relies on:

- `dry_run=True` sends nothing and writes nothing; it returns one `SymbolOutcome` per asked symbol with
  `status` in {"backfill" (nothing stored), "extend" (stored, short of the history target), "update"
  (a newer bar may be complete), "up_to_date", "inactive" (deactivated by the vendor, not asked)},
  `last_bar` (newest stored bar, UTC, None when nothing is stored), and `credits` / `requests`: what a
  real run over the same symbols would spend now (an estimate that may be high, never low).
- a real run returns `rows` written, `credits` and `requests` spent, and per symbol "loaded",
  "up_to_date", "not_found" (the vendor does not know it) or "failed" (asked again next time), with
  `errors` (symbol -> redacted reason) for the last two. A failure of the whole call (vendor
  unreachable after retries, key refused, daily credits spent, warehouse locked) raises a
  MarketlakeError; whatever was committed before it stays committed (each commit is atomic).
- `window.history_days` overrides the table's history target and `window.now` is the clock bars are
  judged by (an injectable clock: tests simulate a trading day).
- Clients, and so the credit budget, are shared by every call inside `with session(config, store):`:
  one budget per vendor for all tables of a sync (the per-minute limit spans tables). Outside a
  session each call opens its own clients. `day_left(source)` is the credits the vendor's plan has
  left today (None: no daily cap), from the shared `api_usage` table (every process's spend adds).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from marketlake.config import MarketlakeConfig, load_config
from marketlake.schema import TableSpec, get_table
from marketlake.storage import DeltaStore

Status = Literal["backfill", "extend", "update", "up_to_date", "inactive", "loaded", "not_found", "failed"]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Window:
    """What part of history to bring in: the history target (days) and the clock that says what "now" is."""

    history_days: int | None = None
    now: Callable[[], datetime] | None = None


@dataclass(frozen=True)
class SymbolOutcome:
    symbol: str
    status: Status
    last_bar: datetime | None = None
    message: str | None = None


@dataclass
class IngestResult:
    """What one call did (or, dry run, would do)."""

    source: str
    table: str
    dry_run: bool
    outcomes: dict[str, SymbolOutcome] = field(default_factory=dict)
    rows: int = 0
    credits: int = 0
    requests: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    def symbols(self, *statuses: Status) -> list[str]:
        return [s for s, o in self.outcomes.items() if o.status in statuses]


class IngestSession:
    """The clients of one sync: one per vendor, with its credit budget, reused by every call."""

    def __init__(self, config: MarketlakeConfig, store: DeltaStore) -> None:
        self.config, self.store = config, store
        self._clients: dict[str, Any] = {}
        self._binance: Any = None

    def twelvedata(self) -> Any:
        if "twelvedata" not in self._clients:
            from marketlake.pipeline.vendor_ingest import StoreUsage
            from marketlake.sources.twelvedata import make_client

            self._clients["twelvedata"] = make_client(self.config, usage=StoreUsage(self.store))
        return self._clients["twelvedata"]

    def binance(self, now: Callable[[], datetime]) -> Any:
        if self._binance is None:
            from marketlake.sources.binance import BinanceSource, make_client

            self._clients["binance"] = make_client(self.config)
            self._binance = BinanceSource(client=self._clients["binance"], now=now)
        self._binance.now = now
        return self._binance

    def day_left(self, source: str) -> int | None:
        """Credits left today on `source`'s plan (None: no daily cap), re-read from `api_usage`."""
        if source != "twelvedata":
            return None
        budget = self.twelvedata().budget
        budget.reload_day()
        return budget.day_left()  # type: ignore[no-any-return]

    def close(self) -> None:
        for client in self._clients.values():
            try:
                client.budget.flush()
            finally:
                client.close()
        self._clients.clear()
        self._binance = None


_SESSION: ContextVar[IngestSession | None] = ContextVar("marketlake_ingest_session", default=None)


@contextmanager
def session(config: MarketlakeConfig, store: DeltaStore) -> Iterator[IngestSession]:
    """Share clients (and credit budgets) between the `ingest` calls inside the block."""
    current = IngestSession(config, store)
    token = _SESSION.set(current)
    try:
        yield current
    finally:
        _SESSION.reset(token)
        current.close()


def day_left(source: str) -> int | None:
    active = _SESSION.get()
    return active.day_left(source) if active else None


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
) -> IngestResult:
    """Bring `symbols` of `table` up to date from `source` (see the module docstring for the contract)."""
    from marketlake.errors import ConfigError

    win = window or Window()
    spec = get_table(table)
    if win.history_days is not None:
        spec = dataclasses.replace(spec, history_days=win.history_days)
    now = win.now or (lambda: datetime.now(UTC))
    if source not in ("twelvedata", "binance"):
        raise ConfigError(f"source {source!r} has no ingestion here; use twelvedata or binance")
    active = _SESSION.get()
    own = None
    if active is None:
        own = active = IngestSession(config or load_config(), store)
    try:
        if source == "twelvedata":
            return _twelvedata(store, spec, symbols, active, now=now, progress=progress, dry_run=dry_run)
        return _binance(store, spec, symbols, active, now=now, progress=progress, dry_run=dry_run)
    finally:
        if own is not None:
            own.close()


def _stored(store: DeltaStore, spec: TableSpec, symbols: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    from marketlake.pipeline.vendor_ingest import stored_extents

    return stored_extents(store, spec, symbols) if store.exists(spec.name) else {}


def _twelvedata(store: DeltaStore, spec: TableSpec, symbols: list[str], active: IngestSession, *,
                now: Callable[[], datetime], progress: Progress | None, dry_run: bool) -> IngestResult:
    from marketlake.pipeline.ingest_state import read_states
    from marketlake.pipeline.vendor_ingest import (
        PEERS_MARKER,
        ingest_twelvedata,
        plan_symbols,
        plan_twelvedata,
    )

    td = active.config.twelvedata
    result = IngestResult("twelvedata", spec.name, dry_run)
    if dry_run:
        moment = now()
        client = active.twelvedata()
        plan = plan_twelvedata(store, spec, symbols, per_minute=client.budget.per_minute, now=moment,
                               recheck_inactive_days=td.recheck_inactive_days)
        extents = _stored(store, spec, symbols)
        state = read_states(store, spec.name) if store.exists("ingest_state") else {}
        state.pop(PEERS_MARKER, None)
        inactive = _inactive(store, symbols, td.recheck_inactive_days)
        asked = [s for s in symbols if s not in inactive]
        p = plan_symbols(spec, asked, extents, state, now=moment, overlap_bars=3)
        older = {s for g in p.backfill_older.values() for s in g}
        update = {s for g in p.incremental.values() for s in g}
        for s in symbols:
            last = extents[s][1].to_pydatetime() if s in extents else None
            status: Status = ("inactive" if s in inactive else "backfill" if s in p.backfill_new
                              else "extend" if s in older else "update" if s in update else "up_to_date")
            result.outcomes[s] = SymbolOutcome(s, status, last)
        result.credits, result.requests = plan.credits, plan.requests
        return result
    client = active.twelvedata()
    report = ingest_twelvedata(store, spec, symbols, client=client, now=now, progress=progress,
                               recheck_inactive_days=td.recheck_inactive_days)
    client.budget.flush()
    for s in symbols:
        if s in report.not_found:
            result.outcomes[s] = SymbolOutcome(s, "not_found", message=report.not_found[s])
        elif s in report.failed:
            result.outcomes[s] = SymbolOutcome(s, "failed", message=report.failed[s])
        else:
            result.outcomes[s] = SymbolOutcome(s, "loaded")
    result.errors = {**report.not_found, **report.failed}
    result.rows, result.credits, result.requests = report.rows_changed, report.credits, report.requests
    return result


def _inactive(store: DeltaStore, symbols: Sequence[str], recheck_days: float) -> set[str]:
    """Symbols a TwelveData 404 deactivated less than `recheck_days` ago (not asked, no credits)."""
    if not store.exists("symbols"):
        return set()
    master = store.read_support("symbols", columns=["symbol", "active", "inactive_reason", "updated_at"])
    due = datetime.now(UTC) - timedelta(days=recheck_days)
    wanted = set(symbols)
    return {r["symbol"] for r in master.to_pylist() if r["symbol"] in wanted and r["active"] is False
            and (r["inactive_reason"] or "").startswith("twelvedata") and r["updated_at"] is not None
            and r["updated_at"] > due}


def _binance(store: DeltaStore, spec: TableSpec, symbols: list[str], active: IngestSession, *,
             now: Callable[[], datetime], progress: Progress | None, dry_run: bool) -> IngestResult:
    from marketlake.pipeline.vendor_ingest import ingest_binance, plan_binance

    result = IngestResult("binance", spec.name, dry_run)
    extents = _stored(store, spec, symbols)
    moment = now()
    if dry_run:
        due = []
        for s in symbols:
            last = extents[s][1].to_pydatetime() if s in extents else None
            # Binance pages forward from the last stored bar: an interrupted backfill resumes as an update
            status: Status = "backfill" if last is None else \
                "update" if last + 2 * spec.bar_interval <= moment else "up_to_date"
            result.outcomes[s] = SymbolOutcome(s, status, last)
            if status != "up_to_date":
                due.append(s)
        if due:
            plan = plan_binance(store, spec, due, now=moment)
            result.credits, result.requests = plan.credits, plan.requests
        return result
    source = active.binance(now)
    report = ingest_binance(store, spec, symbols, source=source, progress=progress)
    source.client.budget.flush()
    for s in symbols:
        reason = report.not_found.get(s)
        result.outcomes[s] = SymbolOutcome(s, "not_found" if reason else "loaded", message=reason)
    result.errors = dict(report.not_found)
    result.rows, result.credits, result.requests = report.rows_changed, report.weight, report.requests
    return result


__all__ = ["IngestResult", "IngestSession", "SymbolOutcome", "Window", "day_left", "ingest", "session"]
