"""The baseline's JSON summary and a self-contained HTML page (plotly, its JavaScript embedded: no CDN,
the page works offline): cumulative long-short, IC per fold, daily IC, feature importance."""

from __future__ import annotations

import html
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from marketlake.research.baseline import BaselineResult


def _clean(value: Any) -> Any:
    """NaN/inf -> None so the JSON is valid everywhere."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.floating | np.integer):
        return _clean(value.item())
    return value


def write_json(result: BaselineResult, path: str | Path) -> Path:
    p = Path(path)
    p.write_text(json.dumps(_clean(result.summary), indent=2, sort_keys=True) + "\n")
    return p


def _dates(us: list[int] | np.ndarray) -> list[str]:
    return [datetime.fromtimestamp(int(u) / 1e6, tz=UTC).date().isoformat() for u in us]


def write_html(result: BaselineResult, path: str | Path) -> Path:
    """One page, four figures; plotly.js is embedded once (include_plotlyjs=True on the first figure)."""
    import plotly.graph_objects as go
    import plotly.io as pio

    s = result.summary
    figs = []
    ls = result.long_short
    if ls is not None and ls.periods:
        eq_net = np.cumprod(1 + np.asarray(ls.net)) - 1
        eq_gross = np.cumprod(1 + np.asarray(ls.gross)) - 1
        f = go.Figure()
        d = _dates(ls.datetimes)
        f.add_trace(go.Scatter(x=d, y=eq_gross, name="gross"))
        f.add_trace(go.Scatter(x=d, y=eq_net, name=f"net of {ls.cost_bps:g} bps / unit turnover"))
        f.update_layout(title=f"Cumulative decile long-short (rebalanced every {ls.step} bars)",
                        yaxis_tickformat=".0%")
        figs.append(f)
    folds = [r for r in result.fold_ic if "ic" in r]
    f = go.Figure()
    f.add_trace(go.Bar(x=[r["fold"] for r in folds], y=[r["ic"] for r in folds], name="IC"))
    f.add_trace(go.Bar(x=[r["fold"] for r in folds], y=[r["rank_ic"] for r in folds], name="rank IC"))
    f.update_layout(title="Out-of-sample IC per fold", barmode="group")
    figs.append(f)
    ok = ~np.isnan(result.ic)
    if ok.any():
        roll = np.convolve(np.nan_to_num(result.ic[ok]), np.ones(20) / 20, mode="valid")
        f = go.Figure()
        f.add_trace(go.Scatter(x=_dates(result.ic_dates[ok][19:]), y=roll, name="IC, 20-datetime mean"))
        f.update_layout(title="Information coefficient over time (20-datetime moving mean)")
        figs.append(f)
    top = list(result.importance.items())[:25]
    f = go.Figure(go.Bar(x=[v for _, v in top][::-1], y=[k for k, _ in top][::-1], orientation="h"))
    f.update_layout(title="Feature importance (share of total gain, summed over folds)", height=650)
    figs.append(f)
    parts = [pio.to_html(fig, include_plotlyjs=(i == 0), full_html=False) for i, fig in enumerate(figs)]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>"
                   for k, v in s.items() if not isinstance(v, dict | list))
    lsd = s.get("long_short") or {}
    rows += "".join(f"<tr><th>long_short.{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in lsd.items())
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>marketlake baseline</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "th,td{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}</style></head><body>"
        f"<h1>Baseline: {html.escape(str(s['engine']))} on {html.escape(str(s['label']))}</h1>"
        f"<p>Out-of-sample only: each fold's model predicts that fold's test rows. Dataset "
        f"{html.escape(str(s['dataset']))}, content hash {html.escape(str(s['content_hash'])[:16])}.</p>"
        f"<table>{rows}</table>" + "".join(parts) + "</body></html>"
    )
    p = Path(path)
    p.write_text(page)
    return p


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "-" if not math.isfinite(v) else f"{v:.4f}"
    return str(v)


__all__ = ["write_html", "write_json"]
