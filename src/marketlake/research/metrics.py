"""Out-of-sample evaluation of cross-sectional scores: IC, rank IC, ICIR, hit rate, decile long-short.

Every statistic is per datetime first (the cross-section is what a ranking model decides on), then
averaged over datetimes. The long-short portfolio is rebalanced every h bars (h = the return label's
horizon), so consecutive holding periods never overlap and returns add up honestly; the cost is charged
per unit of turnover (sum of absolute weight changes, a full long-short rebuild being 4 units).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from marketlake.datasets.transforms import Groups, rank


def _pearson_by_group(g: Groups, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-group Pearson correlation and the number of complete pairs."""
    ok = ~np.isnan(x) & ~np.isnan(y)
    m = len(g.starts)
    w = ok.astype(np.float64)
    xv, yv = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    n = np.bincount(g.ids, weights=w, minlength=m)
    sx = np.bincount(g.ids, weights=xv, minlength=m)
    sy = np.bincount(g.ids, weights=yv, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sx / n, sy / n
        dx = np.where(ok, x - mx[g.ids], 0.0)
        dy = np.where(ok, y - my[g.ids], 0.0)
        cov = np.bincount(g.ids, weights=dx * dy, minlength=m)
        vx = np.bincount(g.ids, weights=dx * dx, minlength=m)
        vy = np.bincount(g.ids, weights=dy * dy, minlength=m)
        r = cov / np.sqrt(vx * vy)
    r[(n < 3) | ~np.isfinite(r)] = np.nan
    return r, n


def ic_series(dt: np.ndarray, score: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(datetimes, IC, rank IC) per datetime; rows must be sorted by datetime."""
    g = Groups(dt)
    ok = ~np.isnan(score) & ~np.isnan(label)
    s, y = np.where(ok, score, np.nan), np.where(ok, label, np.nan)
    ic, _ = _pearson_by_group(g, s, y)
    ric, _ = _pearson_by_group(g, rank(g, s), rank(g, y))
    return dt[g.starts], ic, ric


def hit_rate(dt: np.ndarray, score: np.ndarray, label: np.ndarray) -> float:
    """Share of rows where score and label fall on the same side of their datetime's median."""
    g = Groups(dt)
    ok = ~np.isnan(score) & ~np.isnan(label)
    s, y = np.where(ok, score, np.nan), np.where(ok, label, np.nan)
    rs, ry = rank(g, s), rank(g, y)
    side = ok & (rs != 0.5) & (ry != 0.5)
    if not side.any():
        return float("nan")
    return float(np.mean((rs[side] > 0.5) == (ry[side] > 0.5)))


@dataclass
class LongShort:
    """The top-minus-bottom decile portfolio, rebalanced every `step` bars."""

    step: int
    cost_bps: float
    periods: int
    datetimes: list[int]
    gross: list[float]
    net: list[float]
    turnover: list[float]
    mean_gross: float
    mean_net: float
    mean_turnover: float
    cumulative_net: float
    max_drawdown: float
    sharpe_net: float  # per period mean / std (not annualised)

    def to_dict(self, *, series: bool = False) -> dict[str, object]:
        d = asdict(self)
        if not series:
            for k in ("datetimes", "gross", "net", "turnover"):
                d.pop(k)
        return d


def long_short(dt: np.ndarray, symbol_codes: np.ndarray, score: np.ndarray, ret: np.ndarray, *, step: int,
               cost_bps: float, quantile: float = 0.1) -> LongShort:
    """Equal-weight long the top decile of `score`, short the bottom one, at every `step`-th datetime;
    `ret` is the forward return over `step` bars (the label), so periods do not overlap."""
    g = Groups(dt)
    ok = ~np.isnan(score) & ~np.isnan(ret)
    times = dt[g.starts]
    chosen = np.arange(0, len(times), max(1, step))
    n_sym = int(symbol_codes.max()) + 1 if len(symbol_codes) else 0
    prev = np.zeros(n_sym)
    gross, net, turn, when = [], [], [], []
    s_all = np.where(ok, score, np.nan)
    pct = rank(g, s_all)
    for gi in chosen:
        lo, hi = int(g.starts[gi]), int(g.starts[gi] + g.sizes[gi])
        p, r, c, k = pct[lo:hi], ret[lo:hi], symbol_codes[lo:hi], ok[lo:hi]
        valid = int(k.sum())
        if valid < 10:
            continue
        top = k & (p >= 1 - quantile)
        bot = k & (p <= quantile)
        if not top.any() or not bot.any():
            continue
        w = np.zeros(n_sym)
        w[c[top]] = 1.0 / top.sum()
        w[c[bot]] = -1.0 / bot.sum()
        t = float(np.abs(w - prev).sum())
        g_ret = float(r[top].mean() - r[bot].mean())
        gross.append(g_ret)
        turn.append(t)
        net.append(g_ret - cost_bps * 1e-4 * t)
        when.append(int(times[gi]))
        prev = w
    netv = np.asarray(net)
    equity = np.cumprod(1 + netv) if len(netv) else np.ones(0)
    peak = np.maximum.accumulate(equity) if len(equity) else equity
    dd = float(np.max(1 - equity / peak)) if len(equity) else float("nan")
    sd = float(netv.std(ddof=1)) if len(netv) > 1 else float("nan")
    return LongShort(
        step=step, cost_bps=cost_bps, periods=len(net), datetimes=when, gross=gross, net=net, turnover=turn,
        mean_gross=float(np.mean(gross)) if gross else float("nan"),
        mean_net=float(netv.mean()) if len(netv) else float("nan"),
        mean_turnover=float(np.mean(turn)) if turn else float("nan"),
        cumulative_net=float(equity[-1] - 1) if len(equity) else float("nan"),
        max_drawdown=dd, sharpe_net=float(netv.mean() / sd) if sd and np.isfinite(sd) and sd > 0 else float("nan"),
    )


def summarize_ic(ic: np.ndarray) -> dict[str, float]:
    v = ic[~np.isnan(ic)]
    mean = float(v.mean()) if len(v) else float("nan")
    std = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
    return {"mean": mean, "std": std, "ir": mean / std if std and np.isfinite(std) and std > 0 else float("nan"),
            "datetimes": int(len(v)), "positive_share": float(np.mean(v > 0)) if len(v) else float("nan")}


__all__ = ["LongShort", "hit_rate", "ic_series", "long_short", "summarize_ic"]
