"""What a vendor gives the ingestion verb: a registry entry (`Vendor`) and a fetch interface (`Fetcher`).

Why this split: everything that differs between vendors (paging direction and size, batching, request
limits, credit costs, wire format, symbol names, how the earliest bar is learned) lives behind these two
objects, in `sources/<vendor>/`. Everything that is the same (which window each symbol needs, the typed
`ingest_state`, deactivating unknown symbols, loading, the writer lock, dry-run plans) lives once, in
`pipeline/ingestion.py`, which only ever talks to a `Vendor` from the registry. Adding a vendor is one
folder (or one test module) and one `register_vendor(...)` call or entry point: see docs/vendors.md.

Nothing here imports storage or the pipeline (sources never do): the verb hands the fetcher a `FloorBook`
whose callback persists what the vendor said about earliest bars.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import pandas as pd
from pydantic import BaseModel

from marketlake.errors import ConfigError
from marketlake.sources.budget import CreditBudget, PlanLimits

if TYPE_CHECKING:
    from marketlake.config import MarketlakeConfig
    from marketlake.schema import TableSpec
    from marketlake.sources.budget import UsageStore

Direction = Literal["backward", "forward"]


@dataclass(frozen=True)
class SymbolError:
    """One symbol's failure in a page: `unknown` (the vendor does not serve it: deactivate) or not (retry).

    `message` starts with the vendor's name (`twelvedata 404: ...`, `binance -1121: ...`): the symbol
    master's `inactive_reason` is matched on that prefix to re-check the symbol later.
    """

    message: str
    unknown: bool = False


@dataclass
class BarPage:
    """One answer of a fetcher: raw bars (docs/internals.md contract), metadata, per-symbol outcomes.

    Attributes:
        symbols: the (stored) symbols this page answered for, errors included.
        bars: raw bars of those symbols (may be empty).
        metadata: `symbol` + metadata columns, or None.
        errors: symbols whose answer was an error.
        exhausted: symbols for which the vendor has nothing further in the paging direction within
            the window (a short page): with backward paging, their history is complete.
    """

    symbols: tuple[str, ...]
    bars: pd.DataFrame
    metadata: pd.DataFrame | None = None
    errors: dict[str, SymbolError] = field(default_factory=dict)
    exhausted: frozenset[str] = frozenset()


FloorsAnswered = Callable[[dict[str, pd.Timestamp], dict[str, SymbolError]], None]


class FloorBook:
    """Each symbol's earliest bar at the vendor (UTC): known ones, and a callback for new answers.

    The verb fills `known` from `ingest_state` and persists every new answer at once (a killed run
    never pays twice for one); a fetcher with a dedicated endpoint (TwelveData's `/earliest_timestamp`)
    calls `answered`, one paging forward from the history target needs none (the verb derives it).
    """

    def __init__(self, known: Mapping[str, pd.Timestamp] | None = None, on_answer: FloorsAnswered | None = None) -> None:
        self.known: dict[str, pd.Timestamp] = dict(known or {})
        self.on_answer = on_answer

    def answered(self, found: dict[str, pd.Timestamp], errors: dict[str, SymbolError]) -> None:
        self.known.update(found)
        if (found or errors) and self.on_answer is not None:
            self.on_answer(found, errors)


class Fetcher(Protocol):
    """The fetch interface of one vendor over one client: what the ingestion verb calls.

    `direction`: the order pages come in (`backward`: newest first; `forward`: oldest first); the verb
    chooses how to commit pages so a crash never leaves a hole between stored bars.
    `budget`, `requests_sent`: the shared credit budget (`sources.budget`) and a request counter, read
    before and after a run to report what it spent.
    """

    name: str
    direction: Direction
    budget: CreditBudget

    @property
    def requests_sent(self) -> int: ...

    def resolve(self, symbols: Sequence[str]) -> tuple[list[str], dict[str, SymbolError]]:
        """(stored names of the symbols the vendor serves, in order; inputs it does not serve)."""
        ...

    def fetch(self, symbols: Sequence[str], table: TableSpec, *, start: datetime | None, end: datetime | None,
              now: Callable[[], datetime], floors: FloorBook, batched: bool = True) -> Iterator[BarPage]:
        """Every complete bar of `symbols` in [start, end] (end None: up to now), page by page.

        `batched`: the symbols share one window and may be asked together (False: one symbol at a time
        is fine too; a vendor ignores it when it has no batch endpoint).
        """
        ...

    def earliest(self, symbols: Sequence[str], table: TableSpec, floors: FloorBook) -> None:
        """Ask for the earliest bar of `symbols` not in `floors` yet, where the vendor can (else no-op)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class EstimateJob:
    """One window a dry run would fetch for a group of symbols (for `Vendor.estimate`)."""

    kind: str  # backfill, extend, update, window
    symbols: int
    start: datetime
    end: datetime
    floors_known: int = 0  # symbols whose earliest bar is known already


@dataclass(frozen=True)
class CliOption:
    """A vendor-specific option of `marketlake ingest <vendor>` (its value reaches `options`)."""

    name: str  # the key in `options`
    flag: str  # e.g. "--plan"
    type: type
    default: Any = None
    help: str = ""


def bars_between(spec: TableSpec, start: datetime, end: datetime) -> int:
    """Bars of `spec` in [start, end): the table's bars per year, pro rata (sessions and 24/7 alike)."""
    seconds = max((end - start).total_seconds(), 0.0)
    return math.ceil(seconds / (365.25 * 86_400) * spec.bars_per_year)


class Vendor:
    """A registry entry: one vendor's config model, client factory, tables, fetch interface and costs.

    Subclass it in `sources/<vendor>/`, set the class attributes, implement `make_client` and
    `fetcher`, and register an instance (`registry.register_vendor(MyVendor())`, or an entry point in
    the group `marketlake.sources`). See docs/vendors.md.
    """

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    """The pydantic model of the `[<name>]` section of `marketlake.toml` (`extra="forbid"`, frozen)."""
    assets: ClassVar[frozenset[str]] = frozenset({"stocks", "crypto"})
    timeframes: ClassVar[frozenset[str]] = frozenset({"daily", "hourly", "1min"})
    cost_unit: ClassVar[str] = "credits"
    """What the budget counts (`credits`, or Binance's request `weight`)."""
    env: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(environment variable, key of the `[<name>]` section) pairs that override the file."""
    cli_options: ClassVar[tuple[CliOption, ...]] = ()
    help: ClassVar[str] = ""
    symbols_help: ClassVar[str] = "Comma-separated symbols."
    refetchable: ClassVar[bool] = True
    """`quality --fix` may re-fetch a gap from it (through `bar_source`)."""
    sync_chunk: ClassVar[int] = 50
    """Symbols per backfill action of `marketlake sync`: small enough that due updates get their turn between
    chunks, large enough to fill the vendor's batches (e.g. TwelveData's 120 symbols per request)."""

    # -- configuration and tables ------------------------------------------------------------------
    def settings(self, config: MarketlakeConfig) -> Any:
        """This vendor's section of `config` (the `config_model` instance; defaults when absent)."""
        return config.source_config(self.name)

    def check_table(self, table: TableSpec) -> None:
        """Refuse a table the vendor cannot serve, before anything is sent or opened."""
        if table.asset not in self.assets or table.timeframe not in self.timeframes:
            raise ConfigError(f"{self.name} serves {'/'.join(sorted(self.assets))} tables "
                              f"({', '.join(sorted(self.timeframes))}) only; {table.name} is a {table.asset} "
                              f"{table.timeframe} table (use another table or source)")

    def limits(self, config: MarketlakeConfig, options: Mapping[str, Any]) -> PlanLimits:
        """The per-minute (and per-day) limits the budget enforces."""
        raise NotImplementedError

    # -- client and fetcher ------------------------------------------------------------------------
    def make_client(self, config: MarketlakeConfig, options: Mapping[str, Any], *,
                    usage: UsageStore | None = None) -> Any:
        """A client wired from `config` (key, base URL, limits), its budget persisted through `usage`."""
        raise NotImplementedError

    def fetcher(self, client: Any, options: Mapping[str, Any]) -> Fetcher:
        """The fetch interface over `client` (which the caller owns and closes)."""
        raise NotImplementedError

    def bar_source(self, config: MarketlakeConfig, options: Mapping[str, Any]) -> Any:
        """A `BarSource` over this vendor (for `quality --fix`); None when it has none."""
        return None

    # -- dry runs ----------------------------------------------------------------------------------
    def offline_names(self, symbols: Sequence[str], options: Mapping[str, Any]) -> list[str]:
        """The names `symbols` would be stored under, without asking the vendor (dry runs)."""
        return list(symbols)

    def estimate(self, table: TableSpec, jobs: Sequence[EstimateJob], limits: PlanLimits,
                 options: Mapping[str, Any]) -> tuple[int, int]:
        """(requests, cost in `cost_unit`) the jobs would need: an upper bound, never an understatement."""
        raise NotImplementedError

    def universe(self, name: str, config: MarketlakeConfig, *, table: str | None = None) -> list[str]:
        """The symbols of universe `name` (`--universe`): the config's and the built-in named lists."""
        from marketlake.sources.twelvedata.universes import resolve_universe  # generic lists, historic home

        return resolve_universe(name, config, table=table)


__all__ = ["BarPage", "CliOption", "Direction", "EstimateJob", "Fetcher", "FloorBook", "SymbolError", "Vendor",
           "bars_between"]
