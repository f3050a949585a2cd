"""Plotly figures of the HTML report, from small aggregates (never a whole table).

Each builder takes the already-aggregated data (see `monitor.report`) and returns a `plotly` Figure;
an empty input still gives a figure (axes and a note saying what is missing), so the page always has
the same charts and a monitor can tell "no data" from "chart broken".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from marketlake.capacity.planner import TableCapacity
    from marketlake.monitor.status import TableStatus

_STATE_COLOURS = {"fresh": "#2ca02c", "stale": "#d62728", "empty": "#ff7f0e", "missing": "#bbbbbb"}


def _note(fig: go.Figure, text: str) -> go.Figure:
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                       font={"size": 14, "color": "#666"})
    return fig


def _layout(fig: go.Figure, title: str, *, height: int = 380) -> go.Figure:
    fig.update_layout(title=title, height=height, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      template="plotly_white", legend={"orientation": "h", "y": -0.15})
    return fig


def coverage_heatmap(table: str, counts: pd.DataFrame, *, bucket: str, sampled: int, total: int) -> go.Figure:
    """Coverage per symbol and date bucket: stored bars over the bars the calendar expects there.

    `counts`: symbol, period, bars and (optional) expected; without `expected` the colour is the count.
    Empty cells: no bar of that symbol in that period.
    """
    import numpy as np
    import plotly.graph_objects as go

    fig = go.Figure()
    if counts.empty:
        return _note(_layout(fig, f"{table}: coverage"), "no bars stored")
    frame = counts.copy()
    ratio = "expected" in frame
    if ratio:
        frame["value"] = np.minimum(frame["bars"] / frame["expected"].where(frame["expected"] > 0), 1.0)
    grid = frame.pivot_table(index="symbol", columns="period", values="value" if ratio else "bars", aggfunc="sum")
    bars = frame.pivot_table(index="symbol", columns="period", values="bars", aggfunc="sum").reindex_like(grid)
    grid, bars = grid.sort_index(ascending=False), bars.sort_index(ascending=False)
    fig.add_trace(go.Heatmap(
        z=grid.to_numpy(dtype=float), x=list(grid.columns), y=list(grid.index), customdata=bars.to_numpy(dtype=float),
        colorscale="Viridis", zmin=0 if ratio else None, zmax=1 if ratio else None, hoverongaps=False,
        colorbar={"title": "share of expected bars" if ratio else f"bars/{bucket}"},
        hovertemplate="%{y} %{x}: %{customdata:.0f} bars" + (" (%{z:.0%} of the calendar's)" if ratio else "")
                      + "<extra></extra>",
    ))
    shown = f"{sampled} of {total} symbols" if sampled < total else f"{total} symbols"
    return _layout(fig, f"{table}: coverage per symbol per {bucket} ({shown})",
                   height=max(260, min(900, 90 + 14 * len(grid))))


def freshness(rows: Sequence[TableStatus]) -> go.Figure:
    """Lag of each table's newest bar behind the bar its calendar expects (hours), coloured by state."""
    import plotly.graph_objects as go

    names = [r.table for r in rows]
    fig = go.Figure(go.Bar(
        x=[r.lag_s / 3600 for r in rows], y=names, orientation="h",
        marker={"color": [_STATE_COLOURS.get(r.state, "#888") for r in rows]},
        text=[f"{r.state}; last {r.last_bar:%Y-%m-%d %H:%M}" if r.last_bar else r.state for r in rows],
        textposition="outside", cliponaxis=False, hovertemplate="%{y}: %{x:.1f} h behind<extra></extra>",
    ))
    fig.update_xaxes(title="lag behind the expected bar (hours)", rangemode="tozero")
    return _layout(fig, "Freshness (by the exchange calendar; crypto 24/7)", height=320)


def coverage_targets(rows: Sequence[TableStatus]) -> go.Figure:
    """Covered and current symbols against each table's tier target."""
    import plotly.graph_objects as go

    names = [r.table for r in rows]
    fig = go.Figure([
        go.Bar(name="tier target", x=names, y=[r.target for r in rows], marker_color="#cccccc"),
        go.Bar(name="covered", x=names, y=[r.covered for r in rows], marker_color="#1f77b4"),
        go.Bar(name="current", x=names, y=[r.current for r in rows], marker_color="#2ca02c"),
    ])
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="symbols", type="log")
    return _layout(fig, "Coverage against the tier targets")


def quality_issues(per_run: pd.DataFrame) -> go.Figure:
    """Issues per check across quality runs (`per_run`: started_at, run_id, check, issues)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if per_run.empty:
        return _note(_layout(fig, "Quality issues per check across runs"), "no quality run recorded yet "
                     "(`marketlake quality` records one)")
    runs = per_run.drop_duplicates("run_id").sort_values("started_at")
    labels = {r: f"{t:%Y-%m-%d %H:%M} {r[:8]}" for r, t in zip(runs["run_id"], runs["started_at"])}
    x = [labels[r] for r in runs["run_id"]]
    checks = sorted(c for c in per_run["check"].dropna().unique())
    for check in checks:
        part = per_run[per_run["check"] == check].groupby("run_id")["issues"].sum()
        fig.add_trace(go.Bar(name=check, x=x, y=[int(part.get(r, 0)) for r in runs["run_id"]]))
    if not checks:  # runs that found nothing: a zero line per run, so the chart still shows the runs
        fig.add_trace(go.Scatter(name="issues", x=x, y=[0] * len(x), mode="lines+markers"))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="issues", rangemode="tozero")
    return _layout(fig, "Quality issues per check across runs")


def credits(per_day: pd.DataFrame, budgets: dict[str, int | None]) -> go.Figure:
    """Credits spent per UTC day per vendor (`per_day`: day, vendor, credits) against each plan's budget."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if per_day.empty:
        fig.add_trace(go.Bar(name="credits", x=[], y=[]))
        return _note(_layout(fig, "Credit use against the plan"), "no vendor request recorded (api_usage is empty)")
    days = sorted(per_day["day"].unique())
    for vendor in sorted(per_day["vendor"].unique()):
        part = per_day[per_day["vendor"] == vendor].set_index("day")["credits"]
        fig.add_trace(go.Bar(name=f"{vendor} used", x=days, y=[int(part.get(d, 0)) for d in days]))
        budget = budgets.get(vendor)
        if budget is not None:
            fig.add_trace(go.Scatter(name=f"{vendor} budget/day", x=days, y=[budget] * len(days), mode="lines",
                                     line={"dash": "dash"}))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="credits per day (Binance: weight)", type="log")
    return _layout(fig, "Credit use against the plan (per UTC day)")


def capacity(rows: Sequence[TableCapacity], *, title: str) -> go.Figure:
    """The capacity plot (as `capacity --plot`): symbols that fit, batched vs naive, against the targets."""
    import plotly.graph_objects as go

    names = [r.table.replace("_clean", "") for r in rows]
    fig = go.Figure([
        go.Bar(name="max symbols (batched, 5,000 bars/request)", x=names, y=[max(r.max_symbols, 1) for r in rows]),
        go.Bar(name="max symbols (naive: 1 request per symbol per bar)", x=names,
               y=[max(r.naive_max_symbols, 1) for r in rows]),
        go.Scatter(name="coverage target", x=names, y=[max(r.symbols, 1) for r in rows], mode="markers",
                   marker={"symbol": "line-ew-open", "size": 40, "color": "black", "line": {"width": 3}}),
    ])
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="symbols", type="log")
    return _layout(fig, title)


def candles(table: str, symbol: str, bars: pd.DataFrame, *, stocks: bool) -> go.Figure:
    """Candlesticks with SMA 20/50 and the Bollinger band (stored fields), and an RSI(14) panel."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.04)
    if bars.empty:
        return _note(_layout(fig, f"{symbol} ({table})", height=560), "no bars stored")
    x = bars["datetime"]
    fig.add_trace(go.Candlestick(x=x, open=bars["open"], high=bars["high"], low=bars["low"], close=bars["close"],
                                 name=symbol), row=1, col=1)
    lines: list[tuple[str, str, dict[str, Any]]] = [
        ("bb_upper", "Bollinger upper", {"color": "#9467bd", "width": 1, "dash": "dot"}),
        ("bb_lower", "Bollinger lower", {"color": "#9467bd", "width": 1, "dash": "dot"}),
        ("sma_20", "SMA 20", {"color": "#ff7f0e", "width": 1.5}),
        ("sma_50", "SMA 50", {"color": "#1f77b4", "width": 1.5}),
    ]
    for col, name, line in lines:
        if col in bars:
            fig.add_trace(go.Scatter(x=x, y=bars[col], name=name, mode="lines", line=line), row=1, col=1)
    if "rsi_14" in bars:
        fig.add_trace(go.Scatter(x=x, y=bars["rsi_14"], name="RSI 14", mode="lines", line={"color": "#333"}),
                      row=2, col=1)
        for level in (30, 70):
            fig.add_hline(y=level, line={"color": "#aaa", "dash": "dash", "width": 1}, row=2, col=1)
    fig.update_yaxes(title="price", row=1, col=1)
    fig.update_yaxes(title="RSI", range=[0, 100], row=2, col=1)
    fig.update_xaxes(rangeslider_visible=False)
    if stocks:
        fig.update_xaxes(rangebreaks=[{"bounds": ["sat", "mon"]}])
    return _layout(fig, f"{symbol} ({table}): last {len(bars)} bars", height=560)


__all__ = ["candles", "capacity", "coverage_heatmap", "coverage_targets", "credits", "freshness", "quality_issues"]
