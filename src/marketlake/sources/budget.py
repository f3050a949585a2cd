"""Credit budget shared by the vendor clients: spend is checked *before* a request is sent.

Why a budget of our own: TwelveData counts credits per clock minute (and per day on the free plan) and
answers 429 once a minute is spent; Binance counts request weight the same way. Waiting for a 429 wastes
round trips and, on the free plan, daily credits. So every request first `acquire`s its credits here.

Model (three limits, all enforced):
- a fixed *vendor minute* window (length `minute_seconds`, aligned to the epoch like the vendor's clock
  minute): never more than `credits_per_minute` charged to one window;
- a token bucket refilled at `credits_per_minute` per minute with a small capacity (`burst`), so spend is
  paced evenly. Pacing keeps little spend near window boundaries, where client/server clock skew would
  otherwise turn a full burst into a 429, and it makes long backfills run at exactly the plan rate;
- a daily cap (UTC day) persisted through `UsageStore`, written *before* the request is sent, so a
  restart (even after `kill -9`) cannot overspend. Each process persists the *increments* it spent
  (added to the store, never overwriting a row another process wrote for the same minute), and the
  day's spend is the sum of every increment: runs restarted within one vendor minute add up.

A request acquired within `guard_s` of a window's end is charged to both windows, because it may land
on the vendor's side after the boundary.

The clock is injectable (`Clock`) and the minute length configurable (`MARKETLAKE_MINUTE_SECONDS`) so
tests and simulations run in seconds. This module does no I/O of its own: persistence is a callback
protocol, so `sources` does not import `storage`.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

from marketlake.errors import BudgetExceeded, ConfigError


@dataclass(frozen=True)
class PlanLimits:
    """One vendor plan: per-minute and per-day credits, and its price (USD per month)."""

    name: str
    credits_per_minute: int
    credits_per_day: int | None
    usd_per_month: float | None


PLANS: dict[str, PlanLimits] = {
    "basic": PlanLimits("basic", 8, 800, 0.0),
    "grow": PlanLimits("grow", 377, None, 79.0),
    "pro": PlanLimits("pro", 1_597, None, 229.0),
    "ultra": PlanLimits("ultra", 10_946, None, 999.0),
}


def plan_limits(
    plan: str, *, credits_per_minute: int | None = None, credits_per_day: int | None = None
) -> PlanLimits:
    """The limits of a preset plan, or of `custom` (both figures then come from the arguments)."""
    if plan == "custom":
        if not credits_per_minute:
            raise ConfigError("plan 'custom' needs credits_per_minute (config [twelvedata] credits_per_minute)")
        return PlanLimits("custom", credits_per_minute, credits_per_day, None)
    try:
        base = PLANS[plan]
    except KeyError:
        raise ConfigError(f"unknown plan {plan!r}; choose one of {', '.join([*PLANS, 'custom'])}") from None
    return PlanLimits(
        base.name,
        credits_per_minute or base.credits_per_minute,
        credits_per_day if credits_per_day is not None else base.credits_per_day,
        base.usd_per_month,
    )


class Clock(Protocol):
    """Wall clock in epoch seconds, and a way to wait. Tests inject a shared one."""

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class UsageStore(Protocol):
    """Where credits spent are persisted (the `api_usage` support table, via the pipeline)."""

    def credits_on(self, vendor: str, day: date) -> int:
        """Credits already spent on `day` (UTC) with `vendor`."""
        ...

    def record(self, vendor: str, minute: datetime, *, credits: int, requests: int) -> None:
        """Add an increment to one vendor minute (append-only; `credits` is negative for a refund).

        Several processes may spend in the same minute, so a store must add, never overwrite.
        """
        ...


class MemoryUsage:
    """A `UsageStore` in memory: for tests, simulations and runs without a warehouse."""

    def __init__(self) -> None:
        self.minutes: dict[tuple[str, datetime], tuple[int, int]] = {}

    def credits_on(self, vendor: str, day: date) -> int:
        return sum(c for (v, m), (c, _) in self.minutes.items() if v == vendor and m.date() == day)

    def record(self, vendor: str, minute: datetime, *, credits: int, requests: int) -> None:
        c, n = self.minutes.get((vendor, minute), (0, 0))
        self.minutes[(vendor, minute)] = (c + credits, n + requests)


class CreditBudget:
    """Pre-send credit accounting for one vendor (thread-safe).

    Args:
        vendor: name used in errors and in `api_usage`.
        limits: the plan.
        minute_seconds: length of a vendor minute (60 in production).
        clock: injectable clock.
        usage: persistence of spend; daily spend is loaded from it at start.
        burst: token-bucket capacity (credits that may go out at once); default the largest
            batch a request may carry, capped at the minute limit.
        guard_s: requests acquired this close to a window end count in both windows.
    """

    def __init__(
        self,
        vendor: str,
        *,
        limits: PlanLimits,
        minute_seconds: float = 60.0,
        clock: Clock | None = None,
        usage: UsageStore | None = None,
        burst: int | None = None,
        guard_s: float | None = None,
    ) -> None:
        self.vendor = vendor
        self.limits = limits
        self.minute_seconds = float(minute_seconds)
        self.clock: Clock = clock or SystemClock()
        self.usage = usage
        self.burst = max(1, min(burst or 120, limits.credits_per_minute))
        self.guard_s = guard_s if guard_s is not None else min(0.02 * self.minute_seconds, 0.5)
        self._rate = limits.credits_per_minute / self.minute_seconds  # credits per second
        self._lock = threading.Lock()
        now = self.clock.time()
        self._tokens = float(self.burst)
        self._tokens_at = now
        self._windows: dict[int, int] = {}  # window index -> credits charged
        self._spent: dict[int, tuple[int, int]] = {}  # window -> (credits, requests) really spent
        self._persisted: dict[int, tuple[int, int]] = {}  # window -> the part of `_spent` already in `usage`
        self._dirty: set[int] = set()
        self._day = _utc_day(now)
        self._day_spent = usage.credits_on(vendor, self._day) if usage else 0
        self.total_credits = 0
        self.total_requests = 0
        self.waited_s = 0.0

    # -- queries -------------------------------------------------------------------------------
    @property
    def per_minute(self) -> int:
        return self.limits.credits_per_minute

    def window(self, t: float | None = None) -> int:
        """Index of the vendor minute containing `t` (default now)."""
        return math.floor((self.clock.time() if t is None else t) / self.minute_seconds)

    def day_left(self) -> int | None:
        if self.limits.credits_per_day is None:
            return None
        return self.limits.credits_per_day - self._day_spent

    # -- spending ------------------------------------------------------------------------------
    def acquire(self, credits: int) -> None:
        """Block until `credits` may be spent without breaking any limit, then charge them.

        Raises:
            BudgetExceeded: the request is larger than a minute allows, or the daily cap is reached
                (waiting would not help before tomorrow).
        """
        if credits > self.per_minute:
            raise BudgetExceeded(
                f"{self.vendor}: a request of {credits} credits exceeds the plan's {self.per_minute} "
                "per minute; use smaller batches",
                credits_needed=credits,
                credits_left=self.per_minute,
            )
        while True:
            with self._lock:
                now = self.clock.time()
                self._roll_day(now)
                left = self.day_left()
                if left is not None and credits > left:
                    raise BudgetExceeded(
                        f"{self.vendor}: daily credit budget reached ({self._day_spent} of "
                        f"{self.limits.credits_per_day} spent today, {credits} needed); resume tomorrow "
                        "(UTC) or choose a larger plan",
                        credits_needed=credits,
                        credits_left=max(left, 0),
                    )
                wait = self._wait_needed(credits, now)
                if wait <= 1e-9:
                    self._charge(credits, now)
                    break
                wait = max(wait, 1e-6)  # a float-absorbed tiny wait must still advance the clock
            self.waited_s += wait
            self.clock.sleep(wait)
        if self.usage is not None and self.limits.credits_per_day is not None:
            self.flush()  # write-ahead: persisted before the request is sent

    def _wait_needed(self, credits: int, now: float) -> float:
        tokens = min(self.burst, self._tokens + (now - self._tokens_at) * self._rate)
        wait_tokens = max(0.0, (credits - tokens) / self._rate)
        w = self.window(now)
        end = (w + 1) * self.minute_seconds
        windows = [w, w + 1] if end - now < self.guard_s else [w]
        wait_window = 0.0
        for idx in windows:
            if self._windows.get(idx, 0) + credits > self.per_minute:
                # Wait for the window after `idx` (plus the guard when both were charged).
                wait_window = max(wait_window, (idx + 1) * self.minute_seconds - now + 1e-4)
        return max(wait_tokens, wait_window)

    def _charge(self, credits: int, now: float) -> None:
        tokens = min(self.burst, self._tokens + (now - self._tokens_at) * self._rate)
        self._tokens, self._tokens_at = max(tokens - credits, 0.0), now
        w = self.window(now)
        self._windows[w] = self._windows.get(w, 0) + credits
        c, n = self._spent.get(w, (0, 0))
        self._spent[w] = (c + credits, n + 1)
        self._dirty.add(w)
        if (w + 1) * self.minute_seconds - now < self.guard_s:
            self._windows[w + 1] = self._windows.get(w + 1, 0) + credits
        self._day_spent += credits
        self.total_credits += credits
        self.total_requests += 1
        for old in [k for k in self._windows if k < w - 2]:
            self._windows.pop(old, None)

    def observe_left(self, credits_left: int) -> None:
        """Adopt the vendor's `api-credits-left` when it says less is left than we think."""
        with self._lock:
            w = self.window()
            used = self.per_minute - max(credits_left, 0)
            if used > self._windows.get(w, 0):
                self._windows[w] = used

    def exhaust_window(self) -> float:
        """The vendor said 429: mark this minute spent; return seconds until the next one."""
        with self._lock:
            now = self.clock.time()
            w = self.window(now)
            self._windows[w] = self.per_minute
            self._tokens, self._tokens_at = 0.0, now
            return (w + 1) * self.minute_seconds - now + 1e-4

    def refund(self, credits: int) -> None:
        """Give back credits of a request that never reached the vendor (connection refused).

        Back to the day, to the minute window and to the pacing bucket: a run retrying a vendor it cannot
        reach must not then wait a whole vendor minute for credits nobody spent.
        """
        with self._lock:
            now = self.clock.time()
            w_now = self.window(now)
            for idx in (w_now, w_now + 1):
                if self._windows.get(idx, 0) > 0:
                    self._windows[idx] = max(self._windows[idx] - credits, 0)
            self._tokens = min(self.burst, self._tokens + (now - self._tokens_at) * self._rate + credits)
            self._tokens_at = now
            self._day_spent -= credits
            self.total_credits -= credits
            w = max(self._spent) if self._spent else None
            if w is not None:
                c, n = self._spent[w]
                self._spent[w] = (max(c - credits, 0), n)
                self._dirty.add(w)

    def flush(self) -> None:
        """Persist what this process spent since the last flush, per vendor minute (increments)."""
        if self.usage is None:
            return
        with self._lock:
            rows = []
            for idx in sorted(self._dirty):
                (c, n), (pc, pn) = self._spent[idx], self._persisted.get(idx, (0, 0))
                if (c, n) != (pc, pn):
                    rows.append((idx, c - pc, n - pn))
                self._persisted[idx] = (c, n)
            self._dirty.clear()
        for idx, credits, n in rows:
            minute = datetime.fromtimestamp(idx * self.minute_seconds, tz=UTC)
            self.usage.record(self.vendor, minute, credits=credits, requests=n)

    def reload_day(self) -> None:
        """Re-read today's spend from `usage` (plus what this process has not persisted yet).

        Why: the budget is made before a run takes the warehouse lock; another run may have spent
        credits while this one waited for it.
        """
        if self.usage is None:
            return
        spent = self.usage.credits_on(self.vendor, self._day)
        with self._lock:
            unsent = sum(self._spent[i][0] - self._persisted.get(i, (0, 0))[0] for i in self._spent
                         if _utc_day(i * self.minute_seconds) == self._day)
            self._day_spent = spent + unsent

    def _roll_day(self, now: float) -> None:
        day = _utc_day(now)
        if day != self._day:
            self._day = day
            self._day_spent = self.usage.credits_on(self.vendor, day) if self.usage else 0


def _utc_day(t: float) -> date:
    return datetime.fromtimestamp(t, tz=UTC).date()


__all__ = [
    "PLANS",
    "Clock",
    "CreditBudget",
    "MemoryUsage",
    "PlanLimits",
    "SystemClock",
    "UsageStore",
    "plan_limits",
]
