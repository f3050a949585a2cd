"""Fixtures: a fake TwelveData (and Binance) on loopback with a compressed vendor minute."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData  # noqa: E402

API_KEY = "td-SECRET-7f3a9c1e5b"
MINUTE_S = 0.25
LISTINGS = {
    "AAPL": date(2024, 1, 2),
    "MSFT": date(2024, 1, 2),
    "SPY": date(2024, 1, 2),
    "NVDA": date(2024, 6, 3),
    "BTC/USD": date(2024, 9, 1),
    "ETH/USD": date(2024, 9, 1),
}


@pytest.fixture
def td_state() -> FakeState:
    return FakeState(api_key=API_KEY, credits_per_minute=8, minute_seconds=MINUTE_S, listings=dict(LISTINGS))


@pytest.fixture
def td_server(td_state: FakeState) -> Iterator[FakeTwelveData]:
    with FakeTwelveData(td_state) as fake:
        yield fake
