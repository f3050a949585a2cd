"""`marketlake report`: one self-contained HTML page about the warehouse (plotly.js inlined, no CDN).

Bounded on big tables: the coverage heatmap is a DuckDB aggregate (bars per symbol per day or week, over
the `symbol` and `datetime` columns only) of at most `max_symbols` symbols spread over the table; the
candlestick chart reads the last `candle_bars` bars of one symbol; quality and credit charts aggregate
support tables. Nothing reads a whole production table into memory.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from marketlake.monitor import charts
from marketlake.monitor.status import StatusReport, last_bars, warehouse_status
from marketlake.schema import TABLE_NAMES, get_table
from marketlake.storage import DeltaStore

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

CANDLE_COLUMNS = ["open", "high", "low", "close", "sma_20", "sma_50", "bb_upper", "bb_lower", "rsi_14"]
_CANDLE_WINDOW = {"daily": timedelta(days=500), "hourly": timedelta(days=90), "1min": timedelta(days=4)}


@dataclass(frozen=True)
class ReportInfo:
    """What `build_report` wrote: the file, its size, the charts in it and how long it took."""

    path: Path
    bytes: int
    charts: list[str]
    seconds: float


def _spread(items: Sequence[str], n: int, keep: Sequence[str] = ()) -> list[str]:
    """At most `n` of `items`, evenly spread over the sorted list (the `keep` ones first)."""
    first = [k for k in keep if k in items][:n]
    rest = [s for s in sorted(items) if s not in first]
    room = n - len(first)
    if len(rest) <= room:
        return first + rest
    step = len(rest) / room if room else 0
    return first + [rest[int(i * step)] for i in range(room)]


def _extent(store: DeltaStore, table: str) -> tuple[int, int] | None:
    """(first, last) bar of a table in epoch ns, from the file statistics in the Delta log (no data read)."""
    index = store.file_index(table)
    lo = index.min_dt[index.min_dt != np.iinfo(np.int64).min]
    hi = index.max_dt[index.max_dt != np.iinfo(np.int64).max]
    if len(lo) == 0 or len(hi) == 0:
        return None
    return int(lo.min()) * 1_000, int(hi.max()) * 1_000


def expected_per_period(table: str, first_ns: int, last_ns: int, *, bucket: str) -> pd.Series:
    """Bars the calendar expects per UTC day or week (Monday) between the table's first and last bar.

    The heatmap divides by it, so a holiday week or an early close reads as full coverage, not a gap.
    """
    import pandas as pd

    from marketlake.validate.grid import grid_between

    stamps = pd.DatetimeIndex(grid_between(get_table(table), first_ns, last_ns).astype("datetime64[ns]"))
    days = stamps.normalize()
    periods = days - pd.to_timedelta(days.day_of_week, unit="D") if bucket == "week" else days
    return pd.Series(1, index=periods).groupby(level=0).sum()


def coverage_counts(store: DeltaStore, table: str, symbols: list[str], *, bucket: str) -> pd.DataFrame:
    """`symbol, period, bars`: bars per symbol per UTC day or week (DuckDB over two columns)."""
    import pandas as pd

    files = store.active_files(table, symbols=symbols)
    if not files or not symbols:
        return pd.DataFrame({"symbol": [], "period": [], "bars": []})
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(
            f"SELECT symbol, CAST(date_trunc('{bucket}', datetime) AS DATE) AS period, count(*) AS bars "
            "FROM read_parquet(?, hive_partitioning = false) WHERE list_contains(?, symbol) "
            "GROUP BY ALL ORDER BY symbol, period", params=[files, symbols]).df()
    finally:
        con.close()


def quality_per_run(store: DeltaStore) -> pd.DataFrame:
    """`run_id, started_at, check, issues` for every recorded quality run (runs without issues included)."""
    import pandas as pd

    empty = pd.DataFrame({"run_id": [], "started_at": [], "check": [], "issues": []})
    if not store.exists("quality_runs"):
        return empty
    runs = store.read_support("quality_runs", columns=["run_id", "started_at"]).to_pandas()
    if runs.empty:
        return empty
    if store.exists("quality_issues"):
        issues = store.read_support("quality_issues", columns=["run_id", "check"]).to_pandas()
    else:
        issues = pd.DataFrame({"run_id": [], "check": []})
    counts = issues.groupby(["run_id", "check"]).size().rename("issues").reset_index()
    out = runs.merge(counts, on="run_id", how="left")
    out["issues"] = out["issues"].fillna(0).astype(int)
    return out


def credits_per_day(store: DeltaStore) -> pd.DataFrame:
    """`day, vendor, credits`: the sum of the `api_usage` increments per UTC day and vendor."""
    import pandas as pd

    if not store.exists("api_usage"):
        return pd.DataFrame({"day": [], "vendor": [], "credits": []})
    t = store.read_support("api_usage", columns=["day", "vendor", "credits"])
    if t.num_rows == 0:
        return pd.DataFrame({"day": [], "vendor": [], "credits": []})
    g = t.group_by(["day", "vendor"]).aggregate([("credits", "sum")]).rename_columns(["day", "vendor", "credits"])
    return g.to_pandas().sort_values(["day", "vendor"]).reset_index(drop=True)


def candle_bars(store: DeltaStore, table: str, symbol: str, last_bar: datetime, n: int) -> pd.DataFrame:
    """The last `n` bars of one symbol with the stored indicator fields (one bounded read)."""
    spec = get_table(table)
    rows = store.read(table, symbols=[symbol], start=last_bar - _CANDLE_WINDOW[spec.timeframe], end=last_bar,
                      columns=["datetime", *CANDLE_COLUMNS])
    return rows.to_pandas().tail(n).reset_index(drop=True)


def _status_table(report: StatusReport) -> str:
    head = ("table", "state", "target", "covered", "current", "backlog", "last bar", "expected bar", "bars behind")
    cells = "".join(f"<th>{h}</th>" for h in head)
    body = []
    for t in report.tables:
        values = (t.table, t.state, f"{t.target:,}", f"{t.covered:,}", f"{t.current:,}", f"{t.backlog:,}",
                  f"{t.last_bar:%Y-%m-%d %H:%M}" if t.last_bar else "-",
                  f"{t.expected_bar:%Y-%m-%d %H:%M}" if t.expected_bar else "-", f"{t.bars_behind:,}")
        body.append(f"<tr class='{t.state}'>" + "".join(f"<td>{html.escape(v)}</td>" for v in values) + "</tr>")
    credit_lines = "".join(
        f"<li>{html.escape(c.vendor)}: {c.used_today:,} used today in {c.requests_today:,} requests"
        + ("" if c.budget_per_day is None else f" of {c.budget_per_day:,} a day") + "</li>" for c in report.credits)
    return f"<table class='status'><tr>{cells}</tr>{''.join(body)}</table><ul>{credit_lines}</ul>"


def build_report(
    store: DeltaStore,
    out: str | Path,
    *,
    now: datetime | None = None,
    targets: Mapping[str, int] | None = None,
    covered: Sequence[str] | None = None,
    budgets: Mapping[str, int | None] | None = None,
    plan: Any = None,
    candles: Sequence[tuple[str, str]] | None = None,
    max_symbols: int = 40,
    candle_bars_n: int = 250,
) -> ReportInfo:
    """Write the report to `out` and return what was written.

    Args:
        store: the warehouse.
        out: the HTML file.
        now: the instant the freshness is judged at (default now).
        targets: table -> target symbols, over the tiers of tables.md.
        covered: the coverage plan's tables (None: every table present); see `warehouse_status`.
        budgets: vendor -> credits per day, for the credit chart.
        plan: a `PlanLimits` for the capacity chart (default: TwelveData basic).
        candles: (table, symbol) pairs to chart; default each daily table's benchmark (or first symbol).
        max_symbols: most symbols per coverage heatmap.
        candle_bars_n: bars per candlestick chart.
    """
    import pandas as pd
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    from marketlake.capacity.planner import plan_capacity
    from marketlake.sources.budget import plan_limits

    started = time.perf_counter()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    budgets = dict(budgets or {})
    per_table = {name: last_bars(store, name) for name in TABLE_NAMES}
    status = warehouse_status(store, now=now, targets=targets, covered=covered, budgets=budgets, bars=per_table)
    figures: list[tuple[str, str, go.Figure]] = [
        ("freshness", "Freshness", charts.freshness(status.tables)),
        ("coverage-targets", "Coverage against targets", charts.coverage_targets(status.tables)),
    ]
    lasts: dict[str, dict[str, datetime]] = {}
    for name, bars in per_table.items():
        if bars.num_rows == 0:
            continue
        lasts[name] = dict(zip(bars["symbol"].to_pylist(), bars["last_bar"].to_pylist()))
        spec = get_table(name)
        picked = _spread(list(lasts[name]), max_symbols, keep=[spec.default_benchmark])
        extent = _extent(store, name)
        if extent is None:
            continue
        bucket = "week" if extent[1] - extent[0] > 400 * 86_400 * 10**9 else "day"
        counts = coverage_counts(store, name, picked, bucket=bucket)
        if not counts.empty:
            expected = expected_per_period(name, *extent, bucket=bucket)
            periods = pd.to_datetime(counts["period"])
            counts["expected"] = expected.reindex(periods).to_numpy()
        figures.append((f"coverage-{name}", f"Coverage: {name}",
                        charts.coverage_heatmap(name, counts, bucket=bucket, sampled=len(picked),
                                                total=len(lasts[name]))))
    figures.append(("quality", "Quality", charts.quality_issues(quality_per_run(store))))
    figures.append(("credits", "Credits", charts.credits(credits_per_day(store), budgets)))
    limits = plan or plan_limits("basic")
    figures.append(("capacity", "Capacity", charts.capacity(
        plan_capacity(limits, tiers=targets), title=f"TwelveData {limits.name}: symbols that fit (1 refresh/day)")))
    if candles is None:
        candles = []
        for name in ("stocks_daily_clean", "crypto_daily_clean"):
            if name in lasts:
                bench = get_table(name).default_benchmark
                candles.append((name, bench if bench in lasts[name] else sorted(lasts[name])[0]))
    for name, symbol in candles:
        last = lasts.get(name, {}).get(symbol)
        bars = candle_bars(store, name, symbol, last, candle_bars_n) if last else pd.DataFrame()
        figures.append((f"candles-{name}-{symbol}".replace("/", "-"), f"{symbol} ({name})",
                        charts.candles(name, symbol, bars, stocks=get_table(name).asset == "stocks")))
    parts = []
    for div_id, heading, fig in figures:
        body = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"chart-{div_id}",
                           config={"displaylogo": False, "responsive": True},
                           post_script="document.getElementById('{plot_id}').dataset.rendered = 'yes';")
        parts.append(f"<section class='chart' id='section-{div_id}'><h2>{html.escape(heading)}</h2>{body}</section>")
    title = f"marketlake report: {store.root}"
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><script type='text/javascript'>{get_plotlyjs()}</script>"
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1300px}table.status{border-collapse:collapse}"
        "table.status td,table.status th{border:1px solid #ddd;padding:3px 8px;text-align:right}"
        "tr.stale td{color:#b00}tr.fresh td{color:#070}section.chart{margin:1.5em 0}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Judged at {now:%Y-%m-%d %H:%M} UTC.</p>{_status_table(status)}"
        + "".join(parts) + "</body></html>"
    )
    path = Path(out)
    path.write_text(page, encoding="utf-8")
    return ReportInfo(path, path.stat().st_size, [f"chart-{d}" for d, _h, _f in figures],
                      time.perf_counter() - started)


__all__ = ["ReportInfo", "build_report", "coverage_counts", "credits_per_day", "expected_per_period", "quality_per_run"]
