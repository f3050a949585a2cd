"""Unadjusted splits and outliers among close-to-close moves.

A split left unadjusted shows as a jump whose ratio sits near a split ratio (2:1 -> 0.5, 3:2 -> 0.667,
1:10 reverse -> 10, ...) while the volume moves the other way by about the same factor, and the new
price level persists. Such a jump poisons every indicator after it, so it is an error (fix: re-backfill
adjusted history). Any other move beyond `k` robust sigmas (1.4826 * MAD of the symbol's log returns)
is an outlier warning; one that reverts at once is flagged as a probable bad tick.

The check consults the known splits (`corporate_actions`, passed in as `known`): a jump at a known split
that is applied to the table raises no "suspected" alarm (a jump still visible there means bars before
it were stored as traded afterwards, an error of its own); a known split not yet applied to the table
is an error whatever the prices show (`quality --fix` applies it); a detected jump matching no known
split is "suspected" and recorded as such in `corporate_actions` until a vendor or a file confirms it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd

from marketlake.quality.frame import Frame, to_dt
from marketlake.quality.issues import Issue

_FORWARD = (2, 3, 4, 5, 7, 8, 10, 15, 20, 1.5)  # shares per old share; 5:4 and 4:3 drown in news moves
SPLIT_RATIOS: tuple[float, ...] = tuple(sorted({1 / k for k in _FORWARD} | {float(k) for k in (*_FORWARD,)}))
_NAMES = {**{1 / k: f"{k:g}:1 split" for k in _FORWARD}, **{float(k): f"1:{k:g} reverse split" for k in _FORWARD}}
_NAMES.update({1 / 1.5: "3:2 split", 1.5: "2:3 reverse split", 1 / 1.25: "5:4 split", 0.75: "4:3 split",
               1.25: "4:5 reverse split", 4 / 3: "3:4 reverse split"})
_MIN_JUMP = np.log(1.18)
_WINDOW = 10
_MIN_BREAKS = 20  # returns across session breaks needed for their own robust sigma


class KnownSplit(NamedTuple):
    """A confirmed split from `corporate_actions`, and whether its rescaling is in the checked table."""

    symbol: str
    date: date
    from_factor: float
    to_factor: float
    applied: bool


def _nearest_ratio(r: float, tolerance: float) -> float | None:
    best = min(SPLIT_RATIOS, key=lambda k: abs(np.log(r / k)))
    return best if abs(np.log(r / best)) <= np.log1p(tolerance) else None


def robust_z(frame: Frame, lr: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|log return - median| in robust sigmas, with moves across a session break measured apart.

    On an intraday table the first bar of a session carries the overnight (or weekend) gap, a move of
    a different scale than one minute of trading: judged by the intraday sigma, ordinary opens looked
    like 10-35 sigma outliers. So each symbol has two populations, returns within a session and
    returns across a break (the previous bar is more than one bar interval earlier). A break
    population of fewer than `_MIN_BREAKS` returns is too small for its own MAD; it borrows the
    symbol's intraday sigma scaled by sqrt(elapsed intervals), the random-walk bound (conservative).
    Returns (z, across_break).
    """
    n = frame.data.num_rows
    brk = np.zeros(n, dtype=bool)
    if frame.spec.intraday:
        step_us = int(frame.spec.bar_seconds) * 1_000_000
        gap = np.r_[0, np.diff(frame.ts_us)]
        brk = valid & (frame.pos >= 1) & (gap > step_us)
    group = frame.codes.astype(np.int64) * 2 + brk
    med = pd.Series(lr).groupby(group).transform("median").to_numpy()
    dev = np.abs(lr - med)
    robust = np.maximum(1.4826 * pd.Series(dev).groupby(group).transform("median").to_numpy(), 1e-4)
    if brk.any():
        size = pd.Series(valid).groupby(group).transform("sum").to_numpy()
        small = brk & (size < _MIN_BREAKS)
        if small.any():
            inside = ~brk & valid
            per_symbol = pd.Series(np.where(inside, robust, np.nan)).groupby(frame.codes).transform("max").to_numpy()
            scale = np.sqrt(np.maximum(np.r_[1, np.diff(frame.ts_us)] / (int(frame.spec.bar_seconds) * 1_000_000), 1))
            robust = np.where(small, np.fmax(per_symbol * scale, robust), robust)
    return dev / robust, brk


def _unapplied(frame: Frame, known: Sequence[KnownSplit]) -> list[Issue]:
    """Known splits with stored bars before their date that the table's bars do not reflect yet."""
    out = []
    stored = {s: i for i, s in enumerate(frame.symbols)}
    for k in known:
        c = stored.get(k.symbol)
        if k.applied or c is None:
            continue
        when = to_dt(frame.ts_us[int(frame.starts[c])])  # ts_us is in (symbol, datetime) order
        if when is not None and when.date() < k.date:
            out.append(Issue("split", "error", frame.spec.name, k.symbol, "close",
                             f"known {k.to_factor:g}-for-{k.from_factor:g} split on {k.date} is not applied to this "
                             f"table (quality --fix applies it)", 1, when, when))
    return out


def check_jumps(frame: Frame, *, sigma: float, tolerance: float, known: Sequence[KnownSplit] = ()) -> list[Issue]:
    """Splits (error) and outliers (warning), one issue per event with its datetime; see the module doc."""
    n = frame.data.num_rows
    unapplied = _unapplied(frame, known)
    flagged = {i.symbol for i in unapplied}
    splits_on = {(k.symbol, k.date): k for k in known}
    if n < 3:
        return unapplied
    close = frame.floats("close")
    volume = frame.floats("volume")
    prev = np.r_[np.nan, close[:-1]]
    valid = (frame.pos >= 1) & (close > 0) & (prev > 0)
    lr = np.full(n, np.nan)
    lr[valid] = np.log(close[valid] / prev[valid])
    z, brk = robust_z(frame, lr, valid)
    cand = np.flatnonzero(valid & ((z > sigma) | (np.abs(lr) > _MIN_JUMP)))
    out: list[Issue] = list(unapplied)
    for i in cand:
        c, p = int(frame.codes[i]), int(frame.pos[i])
        a, b = int(frame.starts[c]), int(frame.starts[c] + frame.counts[c])
        ratio = float(close[i] / prev[i])
        before = close[max(a, i - _WINDOW):i]
        after = close[i:min(b, i + _WINDOW)]
        level = float(np.median(after) / np.median(before)) if before.size and after.size else ratio
        vb = volume[max(a, i - _WINDOW):i]
        va = volume[i:min(b, i + _WINDOW)]
        vol_ratio = float(np.nanmedian(va) / np.nanmedian(vb)) if vb.size and va.size and np.nanmedian(vb) > 0 else np.nan
        near = _nearest_ratio(ratio, tolerance)
        persists = abs(np.log(level / ratio)) < np.log(1.25) if ratio > 0 else False
        # volume must move at least halfway (in log terms) toward the inverse of the price factor
        volume_confirms = bool(np.isfinite(vol_ratio) and vol_ratio > 0 and near is not None
                               and abs(np.log(vol_ratio * near)) < min(0.5 * abs(np.log(near)), np.log(2.5)))
        big = near is not None and abs(np.log(near)) >= np.log(1.9)  # 2:1 and beyond rarely happen by news
        when = to_dt(frame.ts_us[i])
        split_like = near is not None and persists and (volume_confirms or (big and z[i] > sigma))
        day_before = to_dt(frame.ts_us[i - 1]) if i > a else None
        match = next((k for (sym, d), k in splits_on.items() if sym == frame.symbols[c] and when is not None
                      and day_before is not None and day_before.date() < d <= when.date()), None)
        if match is not None and (split_like or abs(np.log(ratio * match.to_factor / match.from_factor)) < 0.1):
            if match.applied and abs(np.log(ratio * match.to_factor / match.from_factor)) < 0.1:
                out.append(Issue("split", "error", frame.spec.name, frame.symbols[c], "close",
                                 f"the {match.to_factor:g}-for-{match.from_factor:g} split on {match.date} is applied, "
                                 f"yet close {prev[i]:g} -> {close[i]:g} (x{ratio:.3f}) still shows it: bars before it "
                                 f"were stored as traded later; re-import them adjusted", 1, when, when))
            continue  # a known split: no "suspected" alarm (an unapplied one is reported above)
        if split_like and frame.symbols[c] not in flagged:
            out.append(Issue("split", "error", frame.spec.name, frame.symbols[c], "close",
                             f"unadjusted {_NAMES.get(near or 1.0, f'{near:g}')} suspected at {when:%Y-%m-%d %H:%M}: "
                             f"close {prev[i]:g} -> {close[i]:g} (x{ratio:.3f}), volume x{vol_ratio:.2f}",
                             1, when, when))
        elif z[i] > sigma and p >= 1:
            tick = "; reverts at once (bad tick?)" if not persists else ""
            across = " of moves across a session break" if brk[i] else ""
            out.append(Issue("outlier", "warning", frame.spec.name, frame.symbols[c], "close",
                             f"close-to-close move x{ratio:.3f} at {when:%Y-%m-%d %H:%M} is {z[i]:.1f} robust "
                             f"sigmas{across}{tick}", 1, when, when))
    return out


__all__ = ["SPLIT_RATIOS", "KnownSplit", "check_jumps"]
