"""Every wait is bounded: a dripping server, huge `Retry-After`s, pages in reverse order, all symbols failing."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from marketlake.errors import RateLimitError, SourceError, VendorError
from marketlake.schema import get_table
from marketlake.sources.binance.client import BinanceClient
from marketlake.sources.binance.fetcher import fetch_symbol
from marketlake.sources.binance.symbols import Pair
from marketlake.sources.budget import CreditBudget, PlanLimits, plan_limits
from marketlake.sources.http import MAX_RETRY_AFTER_S, RetryPolicy
from marketlake.sources.twelvedata.client import TwelveDataClient
from tests.vendors.conftest import API_KEY, MINUTE_S
from tests.vendors.fake_binance import BinanceState, FakeBinance
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData

NOW = datetime(2024, 11, 5, 15, 7, tzinfo=UTC)


def test_a_dripping_server_cannot_hang_a_request() -> None:
    """One byte every 20 ms never trips a 30 s read timeout; the 0.4 s deadline per attempt ends it."""
    state = FakeState(api_key=API_KEY, credits_per_minute=8, minute_seconds=MINUTE_S,
                      listings={"AAPL": date(2024, 1, 2)}, drip_s=0.02)
    budget = CreditBudget("twelvedata", limits=plan_limits("custom", credits_per_minute=8), minute_seconds=MINUTE_S)
    with FakeTwelveData(state) as fake:
        client = TwelveDataClient(api_key=API_KEY, budget=budget, base_url=fake.url, deadline_s=0.4,
                                  retry=RetryPolicy(max_attempts=2, base_s=0.01, cap_s=0.02, seed=1))
        t0 = time.monotonic()
        with client, pytest.raises(VendorError) as err:
            client.time_series(["AAPL"], interval="1day", outputsize=5)  # ~700 bytes: 14 s at this pace
        elapsed = time.monotonic() - t0
    assert elapsed < 2.5, elapsed
    assert "no complete answer within 0.4s after 2 attempts" in str(err.value)
    assert API_KEY not in str(err.value)


def _binance(url: str) -> BinanceClient:
    budget = CreditBudget("binance", limits=PlanLimits("binance", 6000, None, None), minute_seconds=MINUTE_S)
    return BinanceClient(budget=budget, base_url=url, retry=RetryPolicy(base_s=0.01, cap_s=0.05, seed=2))


@pytest.fixture
def bn_state() -> BinanceState:
    return BinanceState(listings={"ETHUSDT": datetime(2024, 6, 1, tzinfo=UTC)}, market_now=NOW,
                        minute_seconds=MINUTE_S)


@pytest.mark.parametrize(("header", "seconds"), [("100000", 100000.0), ("1e400", MAX_RETRY_AFTER_S)])
def test_a_huge_retry_after_is_a_clear_error_not_a_wait(bn_state: BinanceState, header: str, seconds: float) -> None:
    bn_state.script = [(429, {"Retry-After": header})]
    with FakeBinance(bn_state) as fake, _binance(fake.url) as client:
        t0 = time.monotonic()
        with pytest.raises(RateLimitError) as err:
            client.klines("ETHUSDT", interval="1d", limit=3)
        elapsed = time.monotonic() - t0
    assert elapsed < 2.0 and len(bn_state.requests) == 1
    assert err.value.retry_after_s == seconds and "Retry-After" in str(err.value) and "inf" not in str(err.value)


def test_a_retry_after_within_the_cap_is_waited(bn_state: BinanceState) -> None:
    bn_state.script = [(429, {"Retry-After": "0.3"})]
    with FakeBinance(bn_state) as fake, _binance(fake.url) as client:
        t0 = time.monotonic()
        rows = client.klines("ETHUSDT", interval="1d", limit=3)
    assert isinstance(rows, list) and len(rows) == 3 and time.monotonic() - t0 >= 0.29


def test_pages_in_reverse_order_still_page_forward_once_each(bn_state: BinanceState) -> None:
    bn_state.reverse_pages = True
    start = NOW.replace(minute=0) - timedelta(hours=40)
    with FakeBinance(bn_state) as fake, _binance(fake.url) as client:
        pages = list(fetch_symbol(client, Pair("ETH/USD", "ETHUSDT"), get_table("crypto_hourly_clean"),
                                  start=start, end=None, now=lambda: NOW, limit=5))
    starts = [int(r["startTime"]) for r in bn_state.requests]
    assert len(starts) == 9 and starts == sorted(set(starts))  # 41 klines, 5 a page: 9 requests, none twice
    bars = [t for p in pages for t in p.bars["datetime"]]
    assert len(bars) == len(set(bars)) == 40  # the forming kline dropped


def test_cli_exits_non_zero_when_every_symbol_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from marketlake.cli.main import app

    state = FakeState(api_key=API_KEY, credits_per_minute=8, minute_seconds=MINUTE_S, market_now=datetime.now(UTC),
                      listings={"AAPL": date(2024, 1, 2)})
    with FakeTwelveData(state) as fake:
        monkeypatch.setenv("TWELVEDATA_API_KEY", API_KEY)
        monkeypatch.setenv("TWELVEDATA_BASE_URL", fake.url)
        monkeypatch.setenv("MARKETLAKE_MINUTE_SECONDS", str(MINUTE_S))
        cfg = tmp_path / "ml.toml"
        cfg.write_text("[twelvedata]\nplan = 'custom'\ncredits_per_minute = 8\n")
        res = CliRunner().invoke(app, ["ingest", "twelvedata", "--table", "stocks_daily_clean", "--symbols",
                                       "NOPE,ZZZZ", "--config", str(cfg), "-w", str(tmp_path / "wh")])
    assert isinstance(res.exception, SourceError), res.output
    assert str(res.exception).startswith("twelvedata: none of the 2 requested symbols could be loaded")
    assert "\n" not in str(res.exception)
