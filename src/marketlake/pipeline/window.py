"""The ingestion verb's small value types: what to fetch (`Window`) and what a run did (`IngestResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from marketlake.pipeline.report import LoadReport
    from marketlake.schema import TableSpec


@dataclass(frozen=True)
class Window:
    """What `ingest` fetches.

    `start` None (the default, `Window.up_to_date()`): each symbol from its own watermark, i.e. backfill
    to the history target (`history_days`, default the table's), then update from the last stored bar.
    `start` given (`Window.between(start, end)`): exactly [start, end] for every symbol, whatever is
    stored (a re-load; overlapping bars are replaced). `end` None: up to now.
    """

    start: datetime | None = None
    end: datetime | None = None
    history_days: float | None = None

    @classmethod
    def up_to_date(cls, *, history_days: float | None = None) -> Window:
        return cls(history_days=history_days)

    @classmethod
    def between(cls, start: datetime, end: datetime | None = None) -> Window:
        return cls(start=start, end=end)

    @property
    def explicit(self) -> bool:
        return self.start is not None

    def target(self, spec: TableSpec, now: datetime) -> datetime:
        """The oldest bar a backfill reaches for (`now` minus the history target)."""
        return now - timedelta(days=self.history_days if self.history_days is not None else spec.history_days)


@dataclass(frozen=True)
class FetchPlan:
    """What an ingest would fetch and spend, computed from stored state alone (`dry_run`)."""

    vendor: str
    table: str
    symbols: int
    backfill: int  # nothing stored yet
    extend: int  # stored, but short of the history target
    update: int  # a newer bar is due
    up_to_date: int
    skipped_inactive: int
    requests: int
    credits: int  # in the vendor's unit (credits, or Binance's weight)
    bars: int  # estimated bars to fetch
    notes: tuple[str, ...] = ()
    unit: str = "credits"

    def as_dict(self) -> dict[str, object]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass
class SymbolOutcome:
    """One symbol's part in a run.

    `action`: backfill, extend, update, window, up_to_date, skipped (inactive), resolve (not served).
    `status`: ok, unknown (deactivated), failed (asked again next run), skipped, planned (dry run: `action`
    is what the run would do, `last_bar` what is stored).
    """

    symbol: str
    action: str
    status: str = "ok"
    bars: int = 0  # bars fetched (before validation)
    message: str | None = None
    last_bar: datetime | None = None  # dry run: the newest stored bar (UTC), None when nothing is stored


@dataclass
class IngestResult:
    """What one `ingest` run did (or, with `dry_run`, would do: `plan`).

    `not_found`: symbols the vendor does not serve (deactivated in the symbol master); `failed`: symbols
    whose last answer was another error (kept active, asked again next run). `credits`: spent in the
    vendor's `unit` (`weight` for Binance). `rows_changed`: rows inserted or updated by the loads.
    """

    source: str
    table: str
    symbols: int = 0
    unit: str = "credits"
    outcomes: dict[str, SymbolOutcome] = field(default_factory=dict)
    not_found: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    loads: list[LoadReport] = field(default_factory=list)
    requested: int = 0
    up_to_date: int = 0
    credits: int = 0
    requests: int = 0
    seconds: float = 0.0
    plan: FetchPlan | None = None
    dry_run: bool = False

    @property
    def rows_changed(self) -> int:
        return sum(r.changed for r in self.loads)

    @property
    def weight(self) -> int:
        """Binance's name for what the budget counts."""
        return self.credits

    @property
    def errors(self) -> dict[str, str]:
        return {**self.failed, **self.not_found}

    @property
    def all_failed(self) -> bool:
        """Every requested symbol failed or is unknown: nothing this run was asked for could be served."""
        return self.symbols > 0 and len(self.not_found.keys() | self.failed.keys()) >= self.symbols


__all__ = ["FetchPlan", "IngestResult", "SymbolOutcome", "Window"]
