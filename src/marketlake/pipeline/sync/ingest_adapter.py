"""The clients of one sync pass, shared by every table: one fetcher (and so one credit budget) per vendor.

`sync` calls the vendor-agnostic ingestion verb (`pipeline.ingestion`) directly: dry runs through
`ingest(..., dry_run=True)` (stored state only, no client), real runs through `ingest_with` over the
session's fetcher. Why a session: the per-minute limit of a vendor spans tables, so every table a pass
serves from one vendor must spend from one budget; a client per call would each believe it had the
whole minute. Nothing here names a vendor: each comes from the registry (`sources.registry.vendor`).

`day_left(source)` is the credits the vendor's plan has left today (None: no daily cap), re-read from
the shared `api_usage` table before each action, so every process's spend adds up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from marketlake.config import MarketlakeConfig
from marketlake.pipeline.executors import Executor
from marketlake.pipeline.ingestion import RECHECK_INACTIVE_DAYS, StoreUsage, ingest_with
from marketlake.pipeline.window import IngestResult, Window
from marketlake.schema import get_table
from marketlake.sources import registry
from marketlake.sources.vendor import Fetcher
from marketlake.storage import DeltaStore

Progress = Callable[[str], None]


class IngestSession:
    """One fetcher per vendor, made on first use from the registry and reused by every `ingest` call."""

    def __init__(self, config: MarketlakeConfig, store: DeltaStore, *, executor: Executor | None = None) -> None:
        self.config, self.store = config, store
        self.executor = executor  # the loads' compute (`--executor dask`); the fetchers stay here
        self._fetchers: dict[str, Fetcher] = {}

    def fetcher(self, source: str) -> Fetcher:
        """`source`'s fetcher over a client whose budget persists to `api_usage` (made once per session)."""
        if source not in self._fetchers:
            vendor = registry.vendor(source)
            client = vendor.make_client(self.config, {}, usage=StoreUsage(self.store))
            self._fetchers[source] = vendor.fetcher(client, {})
        return self._fetchers[source]

    def ingest(self, source: str, table: str, symbols: Sequence[str], *, window: Window,
               now: Callable[[], datetime], progress: Progress | None = None) -> IngestResult:
        """Bring `symbols` of `table` up to date from `source`, spending from the session's budget.

        Raises what `ingest_with` raises (a MarketlakeError: vendor unreachable, key refused, daily
        credits spent, warehouse locked); whatever was committed before stays committed.
        """
        vendor = registry.vendor(source)
        spec = get_table(table)
        vendor.check_table(spec)
        recheck = float(getattr(vendor.settings(self.config), "recheck_inactive_days", RECHECK_INACTIVE_DAYS))
        return ingest_with(self.store, self.fetcher(source), spec, symbols, window=window, now=now,
                           progress=progress, recheck_inactive_days=recheck, unit=vendor.cost_unit,
                           executor=self.executor, memory_budget=self.config.memory_budget)

    def day_left(self, source: str) -> int | None:
        """Credits left today on `source`'s plan (None: no daily cap), re-read from `api_usage`."""
        if registry.vendor(source).limits(self.config, {}).credits_per_day is None:
            return None  # no cap: no client needed to say so
        budget = self.fetcher(source).budget
        budget.reload_day()
        return budget.day_left()

    def close(self) -> None:
        fetchers, self._fetchers = list(self._fetchers.values()), {}
        for fetcher in fetchers:
            try:
                fetcher.budget.flush()
            finally:
                fetcher.close()


@contextmanager
def session(config: MarketlakeConfig, store: DeltaStore, *,
            executor: Executor | None = None) -> Iterator[IngestSession]:
    """Share fetchers (and credit budgets) between the `ingest` calls inside the block; closed at its end."""
    current = IngestSession(config, store, executor=executor)
    try:
        yield current
    finally:
        current.close()


__all__ = ["IngestSession", "session"]
