"""Credits short: finer cadences first, the rest reported with when the budget allows it; nothing sent twice."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from marketlake.config import MarketlakeConfig
from marketlake.pipeline.sync.engine import EventLog, Syncer
from marketlake.storage import DeltaStore
from tests.vendors.conftest import API_KEY
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(0)


def _config(url: str, per_day: int) -> MarketlakeConfig:
    return MarketlakeConfig.model_validate({
        "minute_seconds": 0.25,
        "twelvedata": {"api_key": API_KEY, "base_url": url, "plan": "custom", "credits_per_minute": 40,
                       "credits_per_day": per_day},
        "coverage": {
            "stocks_daily_clean": {"source": "twelvedata", "universe": ["AAPL", "SPY"], "history": "30d"},
            "stocks_1min_clean": {"source": "twelvedata", "universe": ["MSFT"], "history": "1d"},
        },
    })


def test_short_credits_go_to_the_finer_cadence_and_the_rest_waits_for_tomorrow(tmp_path: Path) -> None:
    td = FakeState(api_key=API_KEY, credits_per_minute=40, minute_seconds=0.25,
                   listings={s: datetime(2024, 10, 1).date() for s in ("AAPL", "SPY", "MSFT")})
    store = DeltaStore(tmp_path / "wh")
    lines: list[str] = []
    with FakeTwelveData(td) as fake:
        cfg = _config(fake.url, per_day=2)
        syncer = Syncer(store, cfg, clock=FixedClock(td.market_now), log=EventLog("text", echo=lines.append))
        first = syncer.run_pass()
        # one credit left after the 1-minute tier: one of the two daily symbols, the other deferred
        assert [(r.table, r.action, r.symbols, r.credits) for r in first.records] == [
            ("stocks_1min_clean", "backfill", 1, 1), ("stocks_daily_clean", "backfill", 1, 1)]
        assert not first.failed and len(first.deferred) == 1
        d = first.deferred[0]
        assert (d.table, d.symbols, d.left) == ("stocks_daily_clean", 1, 1)
        assert d.allowed_at.hour == 0 and d.allowed_at.minute == 0 and "allows it after" in "\n".join(lines)
        assert td.credits_total == 2 and td.violations == 0
        # the next sync the same day: the budget is spent (api_usage, shared by processes): nothing is sent
        sent = len(td.requests)
        again = Syncer(store, cfg, clock=FixedClock(td.market_now), log=EventLog("text", echo=lines.append)).run_pass()
        assert not again.records and len(again.deferred) == 1 and len(td.requests) == sent
        # a larger budget: only what is missing is fetched (one symbol, one credit)
        third = Syncer(store, _config(fake.url, per_day=100), clock=FixedClock(td.market_now),
                       log=EventLog("text", echo=lines.append)).run_pass()
        assert [(r.table, r.symbols, r.credits) for r in third.records] == [("stocks_daily_clean", 1, 1)]
    bars = store.read("stocks_daily_clean", columns=["symbol"]).to_pandas()
    assert set(bars["symbol"]) == {"AAPL", "SPY"}
