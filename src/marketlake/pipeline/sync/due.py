"""When a covered table's next bar is complete, by its exchange calendar (stocks) or the clock (crypto).

Why the calendar and not "last bar + two intervals": on a Friday evening that rule would make every
stock table due all weekend, and each wake would spend a credit per symbol for nothing. Here a stock
table's next bar is the next one *in a session* (holidays and early closes included, XNYS from
exchange_calendars): no stock request goes out between sessions, except for the session's final bar,
which is complete at the close (the daily bar, the 30-minute 15:30 hourly bar).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from marketlake.schema import TableSpec
from marketlake.validate.grid import sessions

_NS = 1_000_000_000


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / _NS, tz=UTC)


def next_bar_complete(spec: TableSpec, last: datetime) -> datetime:
    """When the first bar after `last` (a stored bar's open, UTC) will be complete."""
    step = spec.bar_interval
    if spec.calendar is None:
        return last + 2 * step
    s = sessions(spec.calendar)
    last_ns = int(last.timestamp() * _NS)
    i = int(np.searchsorted(s.open_ns, last_ns, side="right")) - 1
    if spec.timeframe == "daily":
        j = min(i + 1, len(s.open_ns) - 1)
        return _dt(int(s.close_ns[j]))
    if i >= 0:
        cand = last_ns + int(step.total_seconds()) * _NS
        if cand < s.close_ns[i]:
            return _dt(min(cand + int(step.total_seconds()) * _NS, int(s.close_ns[i])))
    j = min(i + 1, len(s.open_ns) - 1)
    return _dt(min(int(s.open_ns[j]) + int(step.total_seconds()) * _NS, int(s.close_ns[j])))


def last_complete_bar(spec: TableSpec, now: datetime) -> datetime | None:
    """The open of the newest bar complete at `now` (what a current table ends with)."""
    step_ns = int(spec.bar_seconds) * _NS
    now_ns = int(now.timestamp() * _NS)
    if spec.calendar is None:
        return _dt((now_ns // step_ns - 1) * step_ns)
    s = sessions(spec.calendar)
    i = int(np.searchsorted(s.open_ns, now_ns, side="right")) - 1
    while i >= 0:
        o, c = int(s.open_ns[i]), int(s.close_ns[i])
        if spec.timeframe == "daily":
            if c <= now_ns:
                return _dt(o)
        else:
            end = min(now_ns, c)
            k = (end - o) // step_ns  # bars opened before `end`...
            opens = [o + m * step_ns for m in range(max(k - 1, 0), k + 1) if o + m * step_ns < c]
            done = [t for t in opens if min(t + step_ns, c) <= now_ns]
            if done:
                return _dt(max(done))
        i -= 1
    return None


def market_open(spec: TableSpec, now: datetime) -> bool:
    """Is `spec`'s exchange in session at `now` (always True for 24/7 crypto)?"""
    if spec.calendar is None:
        return True
    s = sessions(spec.calendar)
    now_ns = int(now.timestamp() * _NS)
    i = int(np.searchsorted(s.open_ns, now_ns, side="right")) - 1
    return i >= 0 and now_ns < s.close_ns[i]


def lag(spec: TableSpec, last: datetime | None, now: datetime) -> timedelta | None:
    """How far the stored last bar trails the last complete one (None: nothing stored)."""
    expected = last_complete_bar(spec, now)
    if last is None or expected is None:
        return None
    return max(expected - last, timedelta(0))


__all__ = ["lag", "last_complete_bar", "market_open", "next_bar_complete"]
