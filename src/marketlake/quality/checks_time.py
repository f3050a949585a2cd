"""Time checks: missing bars against the exchange calendar, staleness, coverage against targets.

The calendar grid (`marketlake.validate.grid`: XNYS sessions with holidays and early closes, the hourly
and minute stamps inside each session; the UTC grid for crypto) is built ONCE for the table's span.
Each symbol's expected bar count is then two `searchsorted`s between its first and last bar, and its
present count a `bincount` of on-grid rows, so 2,650 symbols cost the same few array operations as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from marketlake.quality.frame import Frame, to_dt
from marketlake.quality.issues import Issue, QualityConfig
from marketlake.schema import TableSpec
from marketlake.validate.grid import grid_between, sessions

_US = 1_000
_DAY_US = 86_400 * 1_000_000


def check_missing_bars(frame: Frame, *, tolerance: float = 0.0, show: int = 5) -> list[Issue]:
    """Bars missing between each symbol's first and last bar, and bars off the calendar grid."""
    if frame.data.num_rows == 0:
        return []
    spec = frame.spec
    first = frame.ts_us[frame.starts]
    last = frame.ts_us[frame.starts + frame.counts - 1]
    grid = grid_between(spec, int(first.min()) * _US, int(last.max()) * _US) // _US
    on_grid = np.isin(frame.ts_us, grid)
    dup = np.r_[False, (frame.codes[1:] == frame.codes[:-1]) & (frame.ts_us[1:] == frame.ts_us[:-1])]
    present = np.bincount(frame.codes[on_grid & ~dup], minlength=frame.n_symbols)
    lo = np.searchsorted(grid, first, side="left")
    hi = np.searchsorted(grid, last, side="right")
    expected = hi - lo
    missing = expected - present
    allowed = np.floor(tolerance * expected)
    out: list[Issue] = []
    for c in np.flatnonzero(missing > allowed):
        a, b = int(frame.starts[c]), int(frame.starts[c] + frame.counts[c])
        gaps = np.setdiff1d(grid[lo[c]:hi[c]], frame.ts_us[a:b], assume_unique=False)
        stamps = ", ".join(f"{to_dt(g):%Y-%m-%d %H:%M}" for g in gaps[:show]) + (" ..." if gaps.size > show else "")
        share = missing[c] / max(int(expected[c]), 1)
        out.append(Issue("missing_bars", "error" if share > 0.05 else "warning", spec.name, frame.symbols[c], None,
                         f"{int(missing[c])} of {int(expected[c])} calendar bars missing ({share:.1%}): {stamps}",
                         int(missing[c]), to_dt(gaps[0]) if gaps.size else None,
                         to_dt(gaps[-1]) if gaps.size else None))
    off = ~on_grid
    if off.any():
        codes, counts, f, l = frame.first_last(off)
        for c, n, a, b in zip(codes, counts, f, l):
            out.append(Issue("missing_bars", "warning", spec.name, frame.symbols[int(c)], "datetime",
                             f"{int(n)} bars off the calendar grid (holiday, outside the session or misaligned), "
                             f"first at {to_dt(a):%Y-%m-%d %H:%M}", int(n), to_dt(a), to_dt(b)))
    return out


def sessions_since(frame: Frame, last_us: np.ndarray, as_of: datetime) -> np.ndarray:
    """Complete sessions (UTC days for crypto) after each last bar's session and before `as_of`."""
    now_us = int(as_of.timestamp() * 1e6)
    if frame.spec.calendar is None:
        return np.maximum(now_us // _DAY_US - last_us // _DAY_US - 1, 0)
    s = sessions(frame.spec.calendar)
    opens, closes = s.open_ns // _US, s.close_ns // _US
    done = np.searchsorted(closes, now_us, side="right")  # sessions closed by as_of
    after = np.searchsorted(opens, last_us, side="right")  # sessions opening after the last bar
    return np.maximum(done - after, 0)


def check_staleness(frame: Frame, *, as_of: datetime | None, max_sessions: int,
                    inactive: set[str] | None = None) -> list[Issue]:
    """Symbols whose last bar is more than `max_sessions` complete sessions old."""
    if frame.data.num_rows == 0:
        return []
    moment = as_of or datetime.now(UTC)
    last = frame.ts_us[frame.starts + frame.counts - 1]
    behind = sessions_since(frame, last, moment)
    out = []
    for c in np.flatnonzero(behind > max_sessions):
        sym = frame.symbols[c]
        sev = "info" if inactive and sym in inactive else "warning"
        out.append(Issue("staleness", sev, frame.spec.name, sym, None,  # type: ignore[arg-type]
                         f"last bar {to_dt(last[c]):%Y-%m-%d %H:%M} is {int(behind[c])} sessions old "
                         f"(limit {max_sessions}, as of {moment:%Y-%m-%d %H:%M})", int(behind[c]),
                         to_dt(last[c]), to_dt(last[c])))
    return out


def check_coverage(frame: Frame, config: QualityConfig, *, universe: Sequence[str] = (),
                   stored: Sequence[str] | None = None) -> list[Issue]:
    """Missing universe symbols, symbol count below the tier target, histories shorter than the target.

    `stored`: every symbol of the table when `frame` holds one symbol group (the table-wide part is then
    `coverage_table_wide`'s, reported once by the caller); None: `frame` is the whole table."""
    out = coverage_table_wide(frame.spec, frame.symbols, config, universe=universe) if stored is None else []
    return out + _short_histories(frame, config)


def coverage_table_wide(spec: TableSpec, stored: Sequence[str], config: QualityConfig, *,
                        universe: Sequence[str] = ()) -> list[Issue]:
    """Universe symbols with no bar, and a symbol count below the tier target (from the stored symbols)."""
    out: list[Issue] = []
    present = set(stored)
    for sym in sorted(set(universe) - present):
        out.append(Issue("coverage", "warning", spec.name, sym, None,
                         "in the configured universe but has no bar in this table"))
    target = config.target(spec.name)
    if target is not None and len(present) < target:
        out.append(Issue("coverage", "warning", spec.name, None, None,
                         f"{len(present)} symbols, tier target {target} ({target - len(present)} short)",
                         target - len(present)))
    return out


def _short_histories(frame: Frame, config: QualityConfig) -> list[Issue]:
    spec = frame.spec
    out: list[Issue] = []
    if frame.data.num_rows == 0:
        return out
    first = frame.ts_us[frame.starts]
    last = frame.ts_us[frame.starts + frame.counts - 1]
    need = timedelta(days=spec.history_days - config.history_slack_days)
    span_us = last - first
    for c in np.flatnonzero(span_us < need.total_seconds() * 1e6):
        days = span_us[c] / _DAY_US
        out.append(Issue("coverage", "warning", spec.name, frame.symbols[c], None,
                         f"history {days:.0f} days ({to_dt(first[c]):%Y-%m-%d}..{to_dt(last[c]):%Y-%m-%d}), "
                         f"target {spec.history_days} days", 1, to_dt(first[c]), to_dt(last[c])))
    return out


__all__ = ["check_coverage", "check_missing_bars", "coverage_table_wide", "check_staleness", "sessions_since"]
