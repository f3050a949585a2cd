"""The synthetic market model: factor returns, volatility regimes, jumps, and OHLCV bars.

Why it is built this way:

* Window independence. Every random number is drawn from a generator keyed by
  (seed, stream, symbol[, timeframe, year]) over a FIXED epoch grid (weekdays for stocks, days for
  crypto, from 2000-01-03 to 2040-12-31), never over the requested window. So the bar of
  (seed, symbol, datetime) is the same whether one asks for a day or for ten years, and an
  incremental demo update matches a full rebuild.
* Realism that exercises the features: daily log returns are
  ``beta * market + loading * sector + idio * vol_t * z + jump`` where the market volatility follows a
  GARCH(1,1) recursion (calm and turbulent regimes, shared by all symbols), sector factors correlate
  peers, and rare jumps give fat tails. Stock opens gap from the previous close.
* Intraday bars are a Brownian bridge from the day's open to its close (so the last bar of a session
  closes at the daily close), with U-shaped volume for stocks and a mild UTC-afternoon peak for crypto.
* Valid OHLC by construction: high >= max(open, close), low <= min(open, close), all prices > 0.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

EPOCH = np.datetime64("2000-01-03", "D")  # a Monday
HORIZON = np.datetime64("2040-12-31", "D")
_STREAMS = {"market": 1, "sector": 2, "params": 3, "daily": 4, "intraday": 5}
_TF = {"hourly": 1, "1min": 2}


def _key(text: str) -> list[int]:
    d = hashlib.sha1(text.encode()).digest()
    return [int.from_bytes(d[i : i + 4], "big") for i in (0, 4, 8)]


def rng(seed: int, stream: str, name: str = "", *extra: int) -> np.random.Generator:
    """A generator keyed by seed, stream, a name (symbol, sector) and integers (timeframe, year)."""
    return np.random.default_rng([seed & 0xFFFFFFFF, _STREAMS[stream], *_key(name), *extra])


def day_index(days: np.ndarray, asset: str) -> np.ndarray:
    """Position of each date on the epoch grid (weekdays for stocks, calendar days for crypto)."""
    days = np.asarray(days, dtype="datetime64[D]")
    if asset == "stocks":
        return np.busday_count(EPOCH, days)
    return (days - EPOCH).astype(np.int64)


def grid_length(asset: str) -> int:
    return int(day_index(np.array([HORIZON]), asset)[0]) + 1


@lru_cache(maxsize=8)
def market_factor(seed: int, asset: str) -> tuple[np.ndarray, np.ndarray]:
    """(market log returns, market daily volatility) over the epoch grid; GARCH(1,1) regimes."""
    n = grid_length(asset)
    g = rng(seed, "market", asset)
    z = g.standard_normal(n)
    long_run = 0.011 if asset == "stocks" else 0.03
    alpha, beta = 0.09, 0.89
    omega = long_run**2 * (1 - alpha - beta)
    vol = np.empty(n)
    var = long_run**2
    zl = z.tolist()
    out = vol.tolist()
    for i in range(n):
        out[i] = var**0.5
        eps = out[i] * zl[i]
        var = omega + alpha * eps * eps + beta * var
    vol = np.asarray(out)
    drift = 0.0003 if asset == "stocks" else 0.0008
    rets = drift - 0.5 * vol**2 + vol * z
    rets.setflags(write=False)
    vol.setflags(write=False)
    return rets, vol


@lru_cache(maxsize=64)
def sector_factor(seed: int, asset: str, sector: str) -> np.ndarray:
    """Sector log returns over the epoch grid, scaled by the market volatility (same regimes)."""
    _, vol = market_factor(seed, asset)
    out = 0.6 * vol * rng(seed, "sector", f"{asset}:{sector}").standard_normal(len(vol))
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class SymbolParams:
    beta: float
    sector_loading: float
    idio: float
    price0: float
    base_volume: float
    jump_prob: float


def symbol_params(seed: int, symbol: str, asset: str, is_benchmark: bool) -> SymbolParams:
    g = rng(seed, "params", symbol)
    u = g.random(6)
    if is_benchmark:
        return SymbolParams(1.0, 0.0, 0.15, 100.0 + 300.0 * u[3], 5e7 * (1 + u[4]), 0.0)
    if asset == "stocks":
        return SymbolParams(
            0.6 + 0.9 * u[0], 0.3 + 0.6 * u[1], 0.6 + 1.0 * u[2],
            float(np.exp(np.log(8) + u[3] * np.log(60))), float(np.exp(np.log(2e5) + u[4] * np.log(200))),
            0.002 + 0.004 * u[5],
        )
    return SymbolParams(
        0.7 + 0.6 * u[0], 0.3 + 0.5 * u[1], 0.6 + 0.8 * u[2],
        float(np.exp(np.log(0.05) + u[3] * np.log(2e4))), float(np.exp(np.log(5e2) + u[4] * np.log(2e4))),
        0.003 + 0.005 * u[5],
    )


@lru_cache(maxsize=512)
def daily_path(seed: int, symbol: str, asset: str, sector: str, is_benchmark: bool) -> np.ndarray:
    """OHLCV and daily volatility over the whole epoch grid: array (6, n) of o, h, l, c, v, sigma."""
    m, vol = market_factor(seed, asset)
    s = sector_factor(seed, asset, sector) if sector else np.zeros(len(m))
    p = symbol_params(seed, symbol, asset, is_benchmark)
    n = len(m)
    g = rng(seed, "daily", symbol)
    z = g.standard_normal((5, n))
    jumps = (g.random(n) < p.jump_prob) * g.normal(0.0, 0.07, n)
    sigma = vol * np.sqrt(p.beta**2 + (p.sector_loading * 0.6) ** 2 + p.idio**2)
    r = p.beta * m + p.sector_loading * s + p.idio * vol * z[0] - 0.5 * (p.idio * vol) ** 2 + jumps
    log_c = np.log(p.price0) + np.cumsum(r)
    c = np.exp(log_c)
    gap = (0.25 if asset == "stocks" else 0.02) * sigma * z[1]
    o = np.exp(np.concatenate(([np.log(p.price0)], log_c[:-1])) + gap)
    h = np.maximum(o, c) * np.exp(np.abs(z[2]) * 0.45 * sigma)
    lo = np.minimum(o, c) * np.exp(-np.abs(z[3]) * 0.45 * sigma)
    v = p.base_volume * np.exp(0.35 * z[4] + 8.0 * np.abs(r))  # volume rises with the size of the move
    if asset == "stocks":
        v = np.round(v)
    out = np.vstack([o, h, lo, c, v, sigma])
    out.setflags(write=False)
    return out


def intraday_weights(asset: str, slots: int) -> np.ndarray:
    """Relative volume by position in a full session: U-shaped for stocks, afternoon-UTC hump for crypto."""
    x = (np.arange(slots) + 0.5) / slots
    if asset == "stocks":
        w = 0.45 + 7.0 * (x - 0.5) ** 2 + 0.6 * (x > 1 - 1.0 / slots)  # heavy open, heavier close
    else:
        w = 1.0 + 0.45 * np.cos(2 * np.pi * (x - 15 / 24))
    return w / w.sum()


@lru_cache(maxsize=256)
def _intraday_draws(seed: int, symbol: str, timeframe: str, year: int, slots: int) -> np.ndarray:
    """Random draws of one (symbol, timeframe, year): array (4, 366, slots)."""
    d = rng(seed, "intraday", symbol, _TF[timeframe], year).standard_normal((4, 366, slots))
    d.setflags(write=False)
    return d


def intraday_bars(
    seed: int,
    daily: np.ndarray,
    *,
    symbol: str,
    asset: str,
    timeframe: str,
    days: np.ndarray,
    n_bars: np.ndarray,
    slots: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Intraday OHLCV for sessions on `days` (exchange dates) with `n_bars` each.

    Returns (values (5, total bars), bar position k within its session). Bars of a session are a
    Brownian bridge from the daily open to the daily close; draws come per (symbol, timeframe, year).
    """
    days = np.asarray(days, dtype="datetime64[D]")
    idx = day_index(days, asset)
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    doy = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
    ns = len(days)
    z = np.empty((4, ns, slots))
    for y in np.unique(years):
        sel = years == y
        z[:, sel, :] = _intraday_draws(seed, symbol, timeframe, int(y), slots)[:, doy[sel], :]
    o_d, c_d, v_d, sig_d = daily[0, idx], daily[3, idx], daily[4, idx], daily[5, idx]
    k = np.arange(slots)
    valid = k[None, :] < n_bars[:, None]
    sig_bar = (sig_d / np.sqrt(slots))[:, None]
    steps = np.where(valid, z[0] * sig_bar, 0.0)
    walk = np.cumsum(steps, axis=1)
    end_walk = walk[np.arange(ns), np.maximum(n_bars - 1, 0)][:, None]
    frac = np.minimum((k[None, :] + 1) / np.maximum(n_bars, 1)[:, None], 1.0)
    log_o, log_c = np.log(o_d)[:, None], np.log(c_d)[:, None]
    path = log_o + walk - frac * end_walk + frac * (log_c - log_o)
    close = np.exp(path)
    open_ = np.exp(np.concatenate([log_o, path[:, :-1]], axis=1))
    high = np.maximum(open_, close) * np.exp(np.abs(z[1]) * 0.5 * sig_bar)
    low = np.minimum(open_, close) * np.exp(-np.abs(z[2]) * 0.5 * sig_bar)
    w = intraday_weights(asset, slots)
    vol = v_d[:, None] * w[None, :] * np.exp(0.3 * z[3] - 0.045)
    if asset == "stocks":
        vol = np.round(vol)
    vals = np.stack([open_[valid], high[valid], low[valid], close[valid], vol[valid]])
    return vals, np.broadcast_to(k, (ns, slots))[valid]


__all__ = ["EPOCH", "HORIZON", "daily_path", "day_index", "intraday_bars", "market_factor", "rng"]
