"""A simulated market for sync tests: the loopback vendor fakes with a market clock shared with `sync`.

The `sync` process under test reads MARKETLAKE_SYNC_CLOCK (t0, start, speed) and so agrees with this
process on the simulated time; a thread here moves both fakes' `market_now` along the same clock, so
bars keep forming while `sync --watch` runs. Vendor minutes (the per-minute credit windows) are
compressed separately, on the wall clock (MARKETLAKE_MINUTE_SECONDS).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from marketlake.pipeline.sync.clock import ENV_CLOCK, ScaledClock
from tests.vendors.conftest import API_KEY
from tests.vendors.fake_binance import BinanceState, FakeBinance
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData

VENDOR_MINUTE_S = 0.25


@dataclass
class Market:
    td: FakeState
    bn: BinanceState
    td_url: str
    bn_url: str
    clock: ScaledClock | None
    minute_s: float = VENDOR_MINUTE_S

    def follow(self) -> None:
        """Move both fakes' market to the clock's minute (the TwelveData fake caches bars: cleared)."""
        if self.clock is None:
            return
        now = self.clock.now().replace(second=0, microsecond=0)
        if now != self.td.market_now or now != self.bn.market_now:
            self.td._cache.clear()
            self.td.market_now = now
            self.bn.market_now = now

    def freeze(self, at: datetime) -> None:
        """Stop the market at `at` (the clock then hardly moves: a millionth of wall time)."""
        self.clock = ScaledClock(time.time(), at.timestamp(), 1e-6)
        self.follow()

    def env(self, warehouse: Path) -> dict[str, str]:
        env = {**os.environ, "TWELVEDATA_API_KEY": API_KEY, "TWELVEDATA_BASE_URL": self.td_url,
               "BINANCE_BASE_URL": self.bn_url, "MARKETLAKE_MINUTE_SECONDS": str(self.minute_s),
               "MARKETLAKE_WAREHOUSE": str(warehouse), "MARKETLAKE_LOCK_WAIT": "30"}
        if self.clock is not None:
            env[ENV_CLOCK] = self.clock.spec()
        else:
            env.pop(ENV_CLOCK, None)
        return env


@contextmanager
def market(td: FakeState, bn: BinanceState, clock: ScaledClock | None, *,
           minute_s: float = VENDOR_MINUTE_S) -> Iterator[Market]:
    """Both fakes on loopback; with a clock, their market time follows it (minute by minute)."""
    stop = threading.Event()

    with FakeTwelveData(td) as ftd, FakeBinance(bn) as fbn:
        m = Market(td, bn, ftd.url, fbn.url, clock, minute_s)

        def follow() -> None:
            while not stop.wait(0.02):
                m.follow()

        m.follow()
        mover = threading.Thread(target=follow, daemon=True)
        if clock is not None:
            mover.start()
        try:
            yield m
        finally:
            stop.set()


def sim_clock(start: datetime, speed: float) -> ScaledClock:
    return ScaledClock(time.time(), start.astimezone(UTC).timestamp(), speed)


def sync_cmd(config: Path, warehouse: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "marketlake.cli.main", "sync", "--config", str(config), "-w", str(warehouse), *args]


def run_sync(m: Market, config: Path, warehouse: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(sync_cmd(config, warehouse, *args), env=m.env(warehouse), capture_output=True, text=True,
                         timeout=timeout, check=False)
    assert API_KEY not in out.stdout + out.stderr
    return out
