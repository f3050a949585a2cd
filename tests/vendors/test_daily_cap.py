"""The daily credit cap holds across runs restarted within one vendor minute (the vendor's own count)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from marketlake.config import MarketlakeConfig, TwelveDataConfig
from marketlake.errors import BudgetExceeded
from marketlake.pipeline.vendor_ingest import StoreUsage, ingest_twelvedata
from marketlake.sources.twelvedata import make_client
from marketlake.storage import DeltaStore
from tests.vendors.conftest import API_KEY
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData

MINUTE = 600.0  # every run below falls in the same vendor minute (or at most two)


def test_six_runs_in_one_vendor_minute_never_exceed_the_daily_cap(tmp_path: Path) -> None:
    symbols = [f"C{i}/USD" for i in range(12)]
    state = FakeState(api_key=API_KEY, credits_per_minute=100, minute_seconds=MINUTE,
                      listings={s: date(2024, 10, 1) for s in symbols})
    wh = tmp_path / "wh"
    outcomes = []
    with FakeTwelveData(state) as fake:
        cfg = MarketlakeConfig(minute_seconds=MINUTE, twelvedata=TwelveDataConfig(
            api_key=API_KEY, base_url=fake.url, plan="custom", credits_per_minute=100, credits_per_day=5))
        for run in range(6):  # six separate runs: their own store, usage, budget and client, as six processes
            store = DeltaStore(wh)
            with make_client(cfg, usage=StoreUsage(store)) as client:
                try:
                    ingest_twelvedata(store, "crypto_daily_clean", symbols[2 * run: 2 * run + 2], client=client,
                                      now=lambda: state.market_now)
                    outcomes.append("ok")
                except BudgetExceeded as exc:
                    outcomes.append("cap")
                    assert "daily credit budget reached" in str(exc)
    assert state.credits_total <= 5, state.credits_total  # what the vendor charged
    assert outcomes == ["ok", "ok", "cap", "cap", "cap", "cap"]
    usage = DeltaStore(wh).read_support("api_usage").to_pandas()
    assert usage["credits"].sum() == state.credits_total == 4


def test_a_run_that_waited_for_the_lock_rereads_the_day(tmp_path: Path) -> None:
    """A budget made before another run spent (e.g. while waiting for the lock) re-reads the day under the lock."""
    symbols = ["A/USD", "B/USD", "C/USD", "D/USD"]
    state = FakeState(api_key=API_KEY, credits_per_minute=100, minute_seconds=MINUTE,
                      listings={s: date(2024, 10, 1) for s in symbols})
    wh = tmp_path / "wh"
    with FakeTwelveData(state) as fake:
        cfg = MarketlakeConfig(minute_seconds=MINUTE, twelvedata=TwelveDataConfig(
            api_key=API_KEY, base_url=fake.url, plan="custom", credits_per_minute=100, credits_per_day=3))
        early, late = DeltaStore(wh), DeltaStore(wh)
        with make_client(cfg, usage=StoreUsage(early)) as first, make_client(cfg, usage=StoreUsage(late)) as second:
            ingest_twelvedata(early, "crypto_daily_clean", symbols[:2], client=first, now=lambda: state.market_now)
            with pytest.raises(BudgetExceeded):
                ingest_twelvedata(late, "crypto_daily_clean", symbols[2:], client=second,
                                  now=lambda: state.market_now)
    assert state.credits_total == 2
