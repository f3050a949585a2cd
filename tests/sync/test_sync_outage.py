"""A vendor outage: the table's actions back off exponentially (bounded), nothing is sent while waiting,
and the first pass after the outage brings the table up to date and clears the failure."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

from marketlake.config import MarketlakeConfig
from marketlake.pipeline.sync.engine import BACKOFF_BASE_S, EventLog, Syncer
from marketlake.storage import DeltaStore
from tests.vendors.conftest import API_KEY
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData

TABLE = "stocks_daily_clean"


class MovableClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(0)


def test_an_outage_backs_off_boundedly_then_recovers(tmp_path: Path) -> None:
    td = FakeState(api_key=API_KEY, credits_per_minute=40, minute_seconds=0.25, p_5xx=1.0,
                   listings={s: datetime(2024, 10, 1).date() for s in ("AAPL", "SPY")})
    store = DeltaStore(tmp_path / "wh")
    lines: list[str] = []
    clock = MovableClock(td.market_now)
    with FakeTwelveData(td) as fake:
        cfg = MarketlakeConfig.model_validate({
            "minute_seconds": 0.25,
            "twelvedata": {"api_key": API_KEY, "base_url": fake.url, "plan": "custom", "credits_per_minute": 40},
            "coverage": {TABLE: {"source": "twelvedata", "universe": ["AAPL", "SPY"], "history": "20d"}},
            "sync": {"backoff_max_s": 100},
        })
        syncer = Syncer(store, cfg, clock=clock, log=EventLog("text", echo=lines.append))
        waits = []
        for _ in range(4):  # the vendor answers 500 to everything
            sent = len(td.requests)
            result = syncer.run_pass()
            assert [r.status for r in result.records] == ["failed"] and len(td.requests) > sent
            waits.append((syncer.retry_at[TABLE] - clock.now()).total_seconds())
            # while the backoff runs nothing is sent, however often the scheduler wakes
            sent = len(td.requests)
            clock.at += timedelta(seconds=waits[-1] - 1)
            assert not syncer.run_pass().records and len(td.requests) == sent
            clock.at += timedelta(seconds=1)
        assert waits == [BACKOFF_BASE_S, 2 * BACKOFF_BASE_S, 100, 100]  # doubling, bounded by backoff_max_s
        assert not store.exists(TABLE) or store.read(TABLE).num_rows == 0
        td.p_5xx = 0.0  # the outage ends
        result = syncer.run_pass()
        assert [r.status for r in result.records] == ["ok"] and result.records[0].rows > 0
        assert TABLE not in syncer.failures
        assert set(store.read(TABLE, columns=["symbol"]).column("symbol").to_pylist()) == {"AAPL", "SPY"}
    assert any("failed" in line for line in lines) and API_KEY not in "\n".join(lines)
