"""Where bars may be stamped: exchange sessions and the timeframe grid, as vectorised arrays.

The grid convention (shared by validation, the synthetic market and the file importers):

* Stock tables follow the exchange_calendars session of ``table.calendar`` (XNYS): holidays have
  no bars, early closes have fewer bars, and because opens are stored in UTC the DST switch moves
  the UTC stamp (13:30Z in summer, 14:30Z in winter) while New York time stays 09:30.
* Stock DAILY bars are stamped at the session open in UTC (2024-07-03 -> 2024-07-03 13:30Z).
* Stock HOURLY bars at open + k hours while the stamp is before the close: 09:30, 10:30, ... 15:30
  New York, 7 bars per full session (the last covers 30 minutes), 4 on a 13:00 early close.
* Stock 1-MINUTE bars at open + k minutes before the close: 390 per full session, 210 on early closes.
* Crypto tables trade 24/7 on the UTC grid: daily at 00:00Z, hourly on whole hours, minutes on whole
  minutes.

Lookups are array operations (``searchsorted`` over the session open/close arrays), so checking
hundreds of thousands of timestamps costs milliseconds. The calendar covers 1990..2040, built once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from marketlake.schema import TableSpec

CALENDAR_START = "1990-01-01"
CALENDAR_END = "2040-12-31"
_NS = 1_000_000_000


@dataclass(frozen=True)
class Sessions:
    """Session arrays of one exchange calendar.

    Attributes:
        dates: session dates (datetime64[D], exchange-local calendar dates).
        open_ns: session opens, UTC epoch nanoseconds (int64).
        close_ns: session closes, UTC epoch nanoseconds (int64).
    """

    dates: np.ndarray
    open_ns: np.ndarray
    close_ns: np.ndarray

    def between(self, start_ns: int, end_ns: int) -> Sessions:
        """The sessions whose open lies in [start_ns, end_ns]."""
        lo = int(np.searchsorted(self.open_ns, start_ns, side="left"))
        hi = int(np.searchsorted(self.open_ns, end_ns, side="right"))
        return Sessions(self.dates[lo:hi], self.open_ns[lo:hi], self.close_ns[lo:hi])


@lru_cache(maxsize=4)
def sessions(calendar: str) -> Sessions:
    """All sessions of `calendar` between CALENDAR_START and CALENDAR_END (cached: ~0.1 s once)."""
    import exchange_calendars as xcals

    with warnings.catch_warnings():  # exchange_calendars trips pandas 3 deprecations; not ours to fix
        warnings.simplefilter("ignore")
        cal = xcals.get_calendar(calendar, start=CALENDAR_START, end=CALENDAR_END)
        sched = cal.schedule
    dates = sched.index.values.astype("datetime64[D]")
    open_ns = sched["open"].dt.tz_convert(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    close_ns = sched["close"].dt.tz_convert(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    for a in (dates, open_ns, close_ns):
        a.setflags(write=False)
    return Sessions(dates, open_ns, close_ns)


def step_ns(table: TableSpec) -> int:
    return int(table.bar_seconds) * _NS


def grid_status(ts_ns: np.ndarray, table: TableSpec) -> tuple[np.ndarray, np.ndarray]:
    """Classify UTC epoch-ns timestamps against `table`'s grid.

    Returns:
        (outside_session, off_grid): boolean arrays. ``outside_session`` is True where the stamp is not
        inside any trading session (holiday, weekend, before the open, at or after the close; for
        daily stock bars: no session on that exchange-local date). ``off_grid`` is True where the stamp
        is inside a session (or, for crypto, anywhere) but not on the grid. At most one is True.
    """
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    step = step_ns(table)
    if table.calendar is None:
        off = (ts_ns % step) != 0
        return np.zeros(len(ts_ns), dtype=bool), off
    s = sessions(table.calendar)
    if table.timeframe == "daily":
        # A daily stamp belongs to the session of its exchange-local date; it must equal the open.
        local = pd.DatetimeIndex(ts_ns.astype("datetime64[ns]"), tz="UTC").tz_convert(_zone(table))
        local_day = local.tz_localize(None).values.astype("datetime64[D]")
        idx = np.searchsorted(s.dates, local_day)
        idx_c = np.minimum(idx, len(s.dates) - 1)
        has_session = (idx < len(s.dates)) & (s.dates[idx_c] == local_day)
        off = has_session & (s.open_ns[idx_c] != ts_ns)
        return ~has_session, off
    idx = np.searchsorted(s.open_ns, ts_ns, side="right") - 1
    idx_c = np.maximum(idx, 0)
    inside = (idx >= 0) & (ts_ns < s.close_ns[idx_c])
    off = inside & (((ts_ns - s.open_ns[idx_c]) % step) != 0)
    return ~inside, off


def grid_between(table: TableSpec, start_ns: int, end_ns: int) -> np.ndarray:
    """Every grid stamp of `table` in [start_ns, end_ns], UTC epoch ns, ascending."""
    step = step_ns(table)
    if table.calendar is None:
        first = -(-start_ns // step) * step
        # integer count: np.arange sizes its output in float64, which drops the last stamp of a span of
        # ~1e18 ns (every crypto symbol's last bar was reported "off the calendar grid")
        n = max((end_ns - first) // step + 1, 0)
        return first + step * np.arange(n, dtype=np.int64)
    s = sessions(table.calendar)
    # Sessions that may overlap the window: opens up to end, closes after start.
    lo = int(np.searchsorted(s.close_ns, start_ns, side="right"))
    hi = int(np.searchsorted(s.open_ns, end_ns, side="right"))
    opens, closes = s.open_ns[lo:hi], s.close_ns[lo:hi]
    if table.timeframe == "daily":
        out = opens
    else:
        counts = -(-(closes - opens) // step)  # bars per session: stamps strictly before the close
        rep = np.repeat(opens, counts)
        k = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        out = rep + k * step
    return out[(out >= start_ns) & (out <= end_ns)]


def session_bars(table: TableSpec, start_ns: int, end_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Sessions overlapping [start_ns, end_ns] and their bar counts on `table`'s intraday grid.

    For crypto a "session" is a UTC day. Returns (open_ns, n_bars) arrays.
    """
    step = step_ns(table)
    if table.calendar is None:
        day = 86_400 * _NS
        first = (start_ns // day) * day
        opens = first + day * np.arange((end_ns - first) // day + 1, dtype=np.int64)  # integer count, as above
        return opens, np.full(len(opens), day // step, dtype=np.int64)
    s = sessions(table.calendar)
    lo = int(np.searchsorted(s.close_ns, start_ns, side="right"))
    hi = int(np.searchsorted(s.open_ns, end_ns, side="right"))
    opens, closes = s.open_ns[lo:hi], s.close_ns[lo:hi]
    return opens, -(-(closes - opens) // step)


def _zone(table: TableSpec) -> str:
    return exchange_zone(table)


def exchange_zone(table: TableSpec) -> str:
    """IANA zone of the table's exchange: America/New_York for XNYS stock tables, UTC for crypto."""
    if table.calendar is None:
        return "UTC"
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(xcals.get_calendar(table.calendar, start=CALENDAR_START, end=CALENDAR_END).tz)


def session_open_for_dates(days: np.ndarray, table: TableSpec) -> np.ndarray:
    """UTC open (epoch ns) of the session on each exchange-local date; for crypto 00:00Z of the date.

    Dates without a session (holidays, weekends) map to 00:00 exchange-local time of that date, which
    validation then quarantines as outside the session: the row is kept, never guessed onto a session.
    """
    days = np.asarray(days, dtype="datetime64[D]")
    if table.calendar is None:
        return days.astype("datetime64[ns]").astype(np.int64)
    s = sessions(table.calendar)
    idx = np.searchsorted(s.dates, days)
    idx_c = np.minimum(idx, len(s.dates) - 1)
    hit = (idx < len(s.dates)) & (s.dates[idx_c] == days)
    midnight = (
        pd.DatetimeIndex(days.astype("datetime64[ns]"))
        .tz_localize(exchange_zone(table), nonexistent="shift_forward", ambiguous="NaT")
        .tz_convert("UTC")
        .tz_localize(None)
        .values.astype("datetime64[ns]")
        .astype(np.int64)
    )
    return np.where(hit, s.open_ns[idx_c], midnight)


__all__ = [
    "Sessions",
    "exchange_zone",
    "grid_between",
    "grid_status",
    "session_bars",
    "session_open_for_dates",
    "sessions",
    "step_ns",
]
