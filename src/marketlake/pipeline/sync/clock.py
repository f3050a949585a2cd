"""The scheduler's clock: what time it is for the market, and an interruptible way to wait.

Injectable so tests simulate a trading day in seconds: `ScaledClock` runs `speed` times faster than the
wall clock from an agreed start, and two processes given the same (t0, start, speed) agree on the
simulated time (the test's vendor fakes and the `sync --watch` process under test). The vendor's
per-minute credit windows stay on the wall clock (`MARKETLAKE_MINUTE_SECONDS` compresses those).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from typing import Protocol

from marketlake.errors import ConfigError

ENV_CLOCK = "MARKETLAKE_SYNC_CLOCK"
"""`t0,start,speed`: wall epoch t0 is simulated epoch `start`, and simulated time runs `speed` times faster."""


class SyncClock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait `seconds` of clock time or until `stop` is set; True when stopped."""
        ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(seconds, 0.0))


class ScaledClock:
    """Simulated time: `start + (wall - t0) * speed` (epoch seconds)."""

    def __init__(self, t0: float, start: float, speed: float) -> None:
        if speed <= 0:
            raise ConfigError(f"{ENV_CLOCK}: speed must be positive")
        self.t0, self.start, self.speed = t0, start, speed

    def epoch(self, wall: float | None = None) -> float:
        return self.start + ((time.time() if wall is None else wall) - self.t0) * self.speed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.epoch(), tz=UTC)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(seconds, 0.0) / self.speed)

    def spec(self) -> str:
        return f"{self.t0!r},{self.start!r},{self.speed!r}"


def clock_from_env() -> SyncClock:
    """`ScaledClock` from MARKETLAKE_SYNC_CLOCK when set (tests, simulations), else the wall clock."""
    raw = os.environ.get(ENV_CLOCK)
    if not raw:
        return WallClock()
    try:
        t0, start, speed = (float(x) for x in raw.split(","))
    except ValueError:
        raise ConfigError(f"{ENV_CLOCK} must be 't0,start,speed' (epoch seconds, epoch seconds, factor)") from None
    return ScaledClock(t0, start, speed)


__all__ = ["ENV_CLOCK", "ScaledClock", "SyncClock", "WallClock", "clock_from_env"]
