"""The credit budget: pacing, per-minute cap, daily cap persisted across restarts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from marketlake.errors import BudgetExceeded, ConfigError
from marketlake.sources.budget import CreditBudget, MemoryUsage, PlanLimits, plan_limits


class FakeClock:
    """A clock that advances only when someone sleeps."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t
        self.slept = 0.0

    def time(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0)
        self.slept += max(seconds, 0)


def test_plan_presets() -> None:
    assert plan_limits("basic") == PlanLimits("basic", 8, 800, 0.0)
    assert plan_limits("pro").credits_per_minute == 1597
    assert plan_limits("custom", credits_per_minute=55).credits_per_minute == 55
    with pytest.raises(ConfigError):
        plan_limits("gold")
    with pytest.raises(ConfigError):
        plan_limits("custom")


def test_never_more_than_the_minute_limit_in_any_window() -> None:
    clock = FakeClock()
    b = CreditBudget("v", limits=PlanLimits("x", 100, None, None), minute_seconds=60, clock=clock, burst=30)
    windows: dict[int, int] = {}
    for _ in range(50):
        b.acquire(7)
        w = int(clock.t // 60)
        windows[w] = windows.get(w, 0) + 7
    assert max(windows.values()) <= 100
    # paced: 350 credits at 100/min take about 3.5 minutes minus the initial burst
    assert 3.0 * 60 <= clock.slept <= 3.6 * 60


def test_request_larger_than_a_minute_is_refused() -> None:
    b = CreditBudget("v", limits=plan_limits("basic"), clock=FakeClock())
    with pytest.raises(BudgetExceeded) as info:
        b.acquire(9)
    assert info.value.credits_needed == 9


def test_daily_cap_persists_across_restart() -> None:
    clock = FakeClock(datetime(2024, 11, 5, 12, tzinfo=UTC).timestamp())
    usage = MemoryUsage()
    b = CreditBudget("twelvedata", limits=plan_limits("basic"), clock=clock, usage=usage)
    for _ in range(99):
        b.acquire(8)
    assert usage.credits_on("twelvedata", date(2024, 11, 5)) == 792
    # a new process (fresh budget) reads the day's spend back and refuses to overspend
    b2 = CreditBudget("twelvedata", limits=plan_limits("basic"), clock=clock, usage=usage)
    b2.acquire(8)
    with pytest.raises(BudgetExceeded) as info:
        b2.acquire(1)
    assert info.value.credits_left == 0


def test_observe_left_and_429_exhaust_window() -> None:
    clock = FakeClock(600.0)
    b = CreditBudget("v", limits=PlanLimits("x", 10, None, None), minute_seconds=60, clock=clock, burst=10)
    b.observe_left(2)  # the vendor says 8 are used already
    b.acquire(2)
    assert clock.slept == 0
    b.acquire(1)  # must wait for the next window
    assert clock.t >= 660
    wait = b.exhaust_window()
    assert 0 < wait <= 60.01


def test_restarts_within_one_vendor_minute_add_their_spend() -> None:
    """Each process persists what *it* spent; a restart in the same minute must not overwrite the first's."""
    clock = FakeClock(datetime(2024, 11, 5, 12, tzinfo=UTC).timestamp())
    usage = MemoryUsage()
    limits = PlanLimits("x", 100, 5, None)
    spent = 0
    for _ in range(6):  # six runs, all in the same vendor minute
        b = CreditBudget("twelvedata", limits=limits, clock=clock, usage=usage)
        try:
            b.acquire(2)
            spent += 2
        except BudgetExceeded:
            pass
        b.flush()
    assert spent == 4 and usage.credits_on("twelvedata", date(2024, 11, 5)) == 4


def test_refund_after_the_write_ahead_is_persisted_as_a_negative_increment() -> None:
    clock = FakeClock(datetime(2024, 11, 5, 12, tzinfo=UTC).timestamp())
    usage = MemoryUsage()
    b = CreditBudget("twelvedata", limits=PlanLimits("x", 100, 50, None), clock=clock, usage=usage)
    b.acquire(3)
    b.acquire(4)
    b.refund(4)  # the second never reached the vendor
    b.flush()
    assert usage.credits_on("twelvedata", date(2024, 11, 5)) == 3


def test_a_refunded_request_gives_its_credits_back_to_the_minute_and_the_pacing() -> None:
    """Connection refused five times on the basic plan (8/min): the retries must not wait for a new
    vendor minute for credits the vendor never counted (a run against an unreachable vendor sat silent
    for ~45 s before its error)."""
    clock = FakeClock(t=1_000_020.0)
    b = CreditBudget("v", limits=PlanLimits("basic", 8, 800, None), minute_seconds=60, clock=clock, burst=8)
    for _ in range(5):
        b.acquire(2)
        b.refund(2)
    assert clock.slept == 0.0
    assert b.total_credits == 0
    b.acquire(8)  # the whole minute is still there
    assert clock.slept == 0.0
