"""When should a table's newest bar be, by its calendar? Pure functions over the table spec and a clock.

A bar is *expected* once it is complete (its interval has ended: the session close for a daily stock
bar, the earlier of the next stamp and the close for an intraday one) and a grace period has passed
(the vendor publishes a bar a little after it closes, and a sync runs on a cadence). Stock tables follow
the exchange calendar (XNYS via exchange_calendars: weekends, holidays and early closes expect nothing),
crypto trades 24/7. So a stock table whose last bar is Friday's close is still fresh on Sunday, while a
crypto table with the same last bar is stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from marketlake.schema import TableSpec
from marketlake.validate.grid import grid_between, sessions

_NS = 1_000_000_000
_LOOKBACK = timedelta(days=40)  # longer than any exchange closure since 1990 (9/11: 4 sessions)

DEFAULT_GRACE: Mapping[str, timedelta] = {
    "daily": timedelta(hours=6),
    "hourly": timedelta(minutes=30),
    "1min": timedelta(minutes=5),
}
"""How long after a bar completes it may still be missing before the table counts as stale, by timeframe:
the vendor's publication delay plus one refresh at the default cadence."""


@dataclass(frozen=True)
class Freshness:
    """A table's (or a symbol's) last bar against the last bar the calendar expects at `now`.

    `lag` is how far the expected bar is ahead of the last one (zero when fresh); `bars_behind` counts
    the expected grid stamps after the last bar (what a sync still has to fetch).
    """

    last_bar: datetime | None
    expected_bar: datetime | None
    lag: timedelta
    bars_behind: int
    stale: bool


def _to_ns(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1_000


def _from_ns(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1_000)


def _bar_ends(spec: TableSpec, stamps: np.ndarray) -> np.ndarray:
    """End of each bar (epoch ns): the next stamp, cut at the session close for stocks."""
    step = int(spec.bar_seconds) * _NS
    if spec.calendar is None:
        return stamps + step
    s = sessions(spec.calendar)
    idx = np.maximum(np.searchsorted(s.open_ns, stamps, side="right") - 1, 0)
    close = s.close_ns[idx]
    if spec.timeframe == "daily":
        return close
    return np.minimum(stamps + step, close)


def expected_last_bar(spec: TableSpec, now: datetime, *, grace: timedelta | None = None) -> datetime | None:
    """The newest bar stamp of `spec` that should be stored at `now` (None: none in the lookback).

    Args:
        spec: the table (its calendar and bar length).
        now: the instant judged (UTC; naive = UTC).
        grace: how long after its end a bar may still be missing (default `DEFAULT_GRACE`).
    """
    grace = DEFAULT_GRACE[spec.timeframe] if grace is None else grace
    cutoff = _to_ns(now) - int(grace.total_seconds() * _NS)
    lo = cutoff - int(_LOOKBACK.total_seconds()) * _NS - int(spec.bar_seconds) * _NS
    stamps = grid_between(spec, lo, cutoff)
    if len(stamps) == 0:
        return None
    done = stamps[_bar_ends(spec, stamps) <= cutoff]
    return _from_ns(int(done[-1])) if len(done) else None


def bars_between(spec: TableSpec, after: datetime, upto: datetime) -> int:
    """Grid stamps of `spec` in (after, upto]: the bars a table at `after` is missing up to `upto`."""
    lo, hi = _to_ns(after) + 1, _to_ns(upto)
    if hi < lo:
        return 0
    if spec.calendar is None:
        step = int(spec.bar_seconds) * _NS
        return max(hi // step - (lo - 1) // step, 0)  # arithmetic: a long crypto gap needs no array
    return int(len(grid_between(spec, lo, hi)))


def judge(spec: TableSpec, last_bar: datetime | None, now: datetime, *, grace: timedelta | None = None) -> Freshness:
    """Freshness of a last bar at `now`; no bar at all is stale when the calendar expects one."""
    expected = expected_last_bar(spec, now, grace=grace)
    if last_bar is not None and last_bar.tzinfo is None:
        last_bar = last_bar.replace(tzinfo=UTC)
    if expected is None:
        return Freshness(last_bar, None, timedelta(0), 0, False)
    if last_bar is None:
        return Freshness(None, expected, timedelta(0), 0, True)
    if last_bar >= expected:
        return Freshness(last_bar, expected, timedelta(0), 0, False)
    return Freshness(last_bar, expected, expected - last_bar, bars_between(spec, last_bar, expected), True)


__all__ = ["DEFAULT_GRACE", "Freshness", "bars_between", "expected_last_bar", "judge"]
