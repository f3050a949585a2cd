"""`marketlake status` as a library call: coverage, freshness, backlog and credits of the warehouse.

Read-only and bounded: per table, one DuckDB aggregate over the `symbol` and `datetime` columns of the
active files (the newest bar of every symbol, never the rows themselves); today's credits are the sum of
the `api_usage` increments (several processes append their own rows; a refund is a negative row).

Which tables are judged: those of the coverage plan when one is given (`covered`), otherwise every
production table present. A judged table that is missing or empty is stale (the plan expects bars);
the others are listed for information. Tier targets (`targets`, table -> symbols) default to the
original design's (tables.md).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.capacity.planner import DEFAULT_TIERS
from marketlake.monitor.freshness import judge
from marketlake.schema import TABLE_NAMES, get_table
from marketlake.storage import DeltaStore

State = Literal["fresh", "stale", "empty", "missing"]


@dataclass(frozen=True)
class TableStatus:
    """One production table against its tier target and its calendar.

    `covered`: symbols with at least one bar; `current`: active symbols whose last bar is the expected
    one; `backlog`: active symbols behind it. `lag_s` and `bars_behind` measure the table's newest bar.
    """

    table: str
    monitored: bool
    state: State
    target: int
    covered: int
    current: int
    backlog: int
    last_bar: datetime | None
    expected_bar: datetime | None
    lag_s: float
    bars_behind: int

    @property
    def failing(self) -> bool:
        """What `status --check` fails on: a judged table that is stale, empty or missing."""
        return self.monitored and self.state != "fresh"


@dataclass(frozen=True)
class CreditStatus:
    """Credits (Binance: request weight) one vendor spent today (UTC) against the plan's daily budget."""

    vendor: str
    used_today: int
    requests_today: int
    budget_per_day: int | None

    @property
    def left_today(self) -> int | None:
        return None if self.budget_per_day is None else self.budget_per_day - self.used_today


@dataclass(frozen=True)
class StatusReport:
    now: datetime
    tables: list[TableStatus]
    credits: list[CreditStatus] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return any(t.failing for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        """The `status --json` object (datetimes as ISO strings)."""

        def iso(v: datetime | None) -> str | None:
            return v.isoformat() if v is not None else None

        tables = []
        for t in self.tables:
            row = asdict(t)
            row["last_bar"], row["expected_bar"] = iso(t.last_bar), iso(t.expected_bar)
            tables.append(row)
        credits = [{**asdict(c), "left_today": c.left_today} for c in self.credits]
        return {"now": self.now.isoformat(), "stale": self.stale, "tables": tables, "credits": credits}


def last_bars(store: DeltaStore, table: str) -> pa.Table:
    """`symbol, last_bar` of every symbol of a production table (DuckDB aggregate over two columns)."""
    empty = pa.table({"symbol": pa.array([], pa.string()), "last_bar": pa.array([], pa.timestamp("us", tz="UTC"))})
    if not store.exists(table):
        return empty
    files = store.active_files(table)
    if not files:
        return empty
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        out = con.sql("SELECT symbol, max(datetime) AS last_bar FROM read_parquet(?, hive_partitioning = false) "
                      "GROUP BY symbol ORDER BY symbol", params=[files]).to_arrow_table()
    finally:
        con.close()
    return out.cast(empty.schema)


def _inactive(store: DeltaStore) -> set[str]:
    """Symbols the master marks inactive (delisted, unknown to the vendor): not a backlog."""
    if not store.exists("symbols"):
        return set()
    t = store.read_support("symbols", columns=["symbol", "active"])
    if t.num_rows == 0:
        return set()
    mask = pc.equal(pc.fill_null(t["active"], True), False)
    return set(t.filter(mask)["symbol"].to_pylist())


def table_status(store: DeltaStore, table: str, *, now: datetime, target: int, monitored: bool,
                 grace: timedelta | None = None, inactive: set[str] | None = None,
                 bars: pa.Table | None = None) -> TableStatus:
    """Status of one table at `now` (`bars`: its `last_bars`, when the caller has them already)."""
    spec = get_table(table)
    exists = store.exists(table)
    if exists and bars is None:
        bars = last_bars(store, table)
    if bars is None or bars.num_rows == 0:
        fresh = judge(spec, None, now, grace=grace)
        state: State = "missing" if not exists else "empty"
        return TableStatus(table, monitored, state, target, 0, 0, 0, None, fresh.expected_bar, 0.0, 0)
    lasts = bars["last_bar"].to_pylist()
    newest = max(lasts)
    fresh = judge(spec, newest, now, grace=grace)
    inactive = inactive or set()
    active = [(s, b) for s, b in zip(bars["symbol"].to_pylist(), lasts) if s not in inactive]
    expected = fresh.expected_bar
    behind = 0 if expected is None else sum(1 for _s, b in active if b < expected)
    return TableStatus(
        table=table, monitored=monitored, state="stale" if fresh.stale else "fresh", target=target,
        covered=bars.num_rows, current=len(active) - behind, backlog=behind, last_bar=newest,
        expected_bar=expected, lag_s=fresh.lag.total_seconds(), bars_behind=fresh.bars_behind,
    )


def credits_today(store: DeltaStore, day: date, budgets: Mapping[str, int | None] | None = None) -> list[CreditStatus]:
    """Per vendor: the sum of today's `api_usage` increments, against `budgets` (vendor -> credits per day).

    Every vendor named in `budgets` is listed (zero when nothing was spent); vendors found in the table
    without a budget are listed with `budget_per_day` None.
    """
    budgets = dict(budgets or {})
    used: dict[str, tuple[int, int]] = {}
    if store.exists("api_usage"):
        t = store.read_support("api_usage", columns=["vendor", "day", "credits", "requests"])
        if t.num_rows:
            t = t.filter(pc.equal(t["day"], pa.scalar(day, pa.date32())))
            if t.num_rows:
                grouped = t.group_by("vendor").aggregate([("credits", "sum"), ("requests", "sum")])
                for v, c, n in zip(grouped["vendor"].to_pylist(), grouped["credits_sum"].to_pylist(),
                                   grouped["requests_sum"].to_pylist()):
                    used[v] = (int(c or 0), int(n or 0))
    vendors = list(budgets) + sorted(v for v in used if v not in budgets)
    return [CreditStatus(v, *used.get(v, (0, 0)), budgets.get(v)) for v in vendors]


def warehouse_status(
    store: DeltaStore,
    *,
    now: datetime | None = None,
    targets: Mapping[str, int] | None = None,
    covered: Collection[str] | None = None,
    tables: list[str] | None = None,
    grace: Mapping[str, timedelta] | None = None,
    budgets: Mapping[str, int | None] | None = None,
    bars: Mapping[str, pa.Table] | None = None,
) -> StatusReport:
    """Status of the production tables at `now` (default: the current time).

    Args:
        store: the warehouse.
        now: the instant judged (UTC).
        targets: table -> target symbol count, over the original design's tiers (tables.md).
        covered: the coverage plan's tables: the judged ones, and the only ones shown. None: every
            production table is shown and those present are judged.
        tables: show only these tables.
        grace: per table, how long a complete bar may be missing (default per timeframe, see freshness).
        budgets: vendor -> credits per day of its plan (None: no daily budget).
        bars: table -> its `last_bars`, when the caller read them already (the report does).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    goal = {**DEFAULT_TIERS, **(targets or {})}
    plan = None if covered is None else {get_table(n).name for n in covered}
    names = [n for n in TABLE_NAMES if plan is None or n in plan]
    if tables:
        names = [get_table(t).name for t in tables]
    inactive = _inactive(store)
    rows = []
    for name in names:
        monitored = name in plan if plan is not None else store.exists(name)
        rows.append(table_status(store, name, now=now, target=int(goal.get(name, 0)), monitored=monitored,
                                 grace=(grace or {}).get(name), inactive=inactive, bars=(bars or {}).get(name)))
    return StatusReport(now, rows, credits_today(store, now.date(), budgets))


def plan_budgets(config: Any) -> dict[str, int | None]:
    """Vendor -> daily credit budget from a `MarketlakeConfig` (TwelveData plan; Binance weight a day)."""
    from marketlake.capacity.planner import daily_capacity
    from marketlake.sources.budget import plan_limits

    td = config.twelvedata
    custom = td.plan == "custom"
    limits = plan_limits(td.plan, credits_per_minute=td.credits_per_minute if custom else None,
                         credits_per_day=td.credits_per_day if custom else None)
    return {"twelvedata": daily_capacity(limits), "binance": int(config.binance.weight_per_minute) * 1_440}


__all__ = [
    "CreditStatus",
    "StatusReport",
    "TableStatus",
    "credits_today",
    "last_bars",
    "plan_budgets",
    "table_status",
    "warehouse_status",
]
