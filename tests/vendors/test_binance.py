"""Binance klines against a loopback fake: wire format, weight limit, 429/418, paging, end-to-end ingest."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from marketlake.errors import ConfigError, RateLimitError
from marketlake.pipeline.vendor_ingest import ingest_binance
from marketlake.schema import get_table
from marketlake.sources.binance import BinanceSource
from marketlake.sources.binance.client import BinanceClient
from marketlake.sources.binance.convert import klines_to_bars
from marketlake.sources.binance.fetcher import fetch_symbol
from marketlake.sources.binance.wire import WireError
from marketlake.sources.budget import CreditBudget, PlanLimits
from marketlake.sources.http import RetryPolicy
from marketlake.storage import DeltaStore
from tests.vendors.conftest import MINUTE_S
from tests.vendors.fake_binance import BinanceState, FakeBinance, klines

NOW = datetime(2024, 11, 5, 15, 7, tzinfo=timezone.utc)


@pytest.fixture
def bn_state() -> BinanceState:
    return BinanceState(listings={"BTCUSDT": datetime(2022, 1, 1, tzinfo=timezone.utc),
                                  "ETHUSDT": datetime(2024, 6, 1, tzinfo=timezone.utc)},
                        market_now=NOW, minute_seconds=MINUTE_S)


def _client(url: str, *, weight: int = 6000) -> BinanceClient:
    budget = CreditBudget("binance", limits=PlanLimits("binance", weight, None, None), minute_seconds=MINUTE_S)
    return BinanceClient(budget=budget, base_url=url, retry=RetryPolicy(base_s=0.01, cap_s=0.05, seed=2))


def test_klines_wire_and_forming_kline_dropped(bn_state: BinanceState) -> None:
    with FakeBinance(bn_state) as fake, _client(fake.url) as client:
        rows = client.klines("BTCUSDT", interval="1h", start_ms=int((NOW.replace(minute=0) - timedelta(hours=5)).timestamp() * 1000))
        bad = client.klines("NOPEUSDT", interval="1h")
        assert client.used_weight in (2, 4)  # the header was read (4 unless a new minute began)
    assert isinstance(rows, list) and isinstance(rows[0][1], str) and len(rows) == 6  # forming one included
    assert isinstance(bad, WireError) and (bad.code, bad.msg, bad.status) == (-1121, "Invalid symbol.", 400)
    bars = klines_to_bars(rows, symbol="BTC/USDT", interval="1h", now=NOW)
    assert len(bars) == 5 and bars["datetime"].max() == pd.Timestamp("2024-11-05 14:00Z")
    assert bars["symbol"].unique().tolist() == ["BTC/USDT"] and bars["close"].dtype == "float64"
    assert bars["close"].iloc[-1] == float(rows[-2][4])
    assert bars["_location"].iloc[0] == "binance /api/v3/klines BTCUSDT 1h"


def test_429_waits_retry_after(bn_state: BinanceState) -> None:
    bn_state.script = [(429, {"Retry-After": "1"})]
    with FakeBinance(bn_state) as fake, _client(fake.url) as client:
        t0 = time.monotonic()
        rows = client.klines("ETHUSDT", interval="1d", limit=3)
        elapsed = time.monotonic() - t0
    assert isinstance(rows, list) and len(rows) == 3
    assert len(bn_state.requests) == 2 and elapsed >= 0.95


def test_418_ban_is_a_clear_error(bn_state: BinanceState) -> None:
    bn_state.script = [(418, {"Retry-After": "120"})]
    with FakeBinance(bn_state) as fake, _client(fake.url) as client, pytest.raises(RateLimitError) as err:
        client.klines("ETHUSDT", interval="1d")
    assert err.value.status == 418 and err.value.retry_after_s == 120 and "banned" in str(err.value)
    assert len(bn_state.requests) == 1  # never retried into a longer ban


def test_used_weight_header_paces_requests(bn_state: BinanceState) -> None:
    bn_state.weight_per_minute, bn_state.other_weight = 20, 14  # other clients on this IP use most of it
    with FakeBinance(bn_state) as fake, _client(fake.url, weight=20) as client:
        pages = list(fetch_symbol(client, "ETHUSDT", get_table("crypto_hourly_clean"),
                                  start=NOW.replace(minute=0) - timedelta(hours=40), end=None, now=lambda: NOW, limit=5))
    assert bn_state.violations == 0  # without honouring X-MBX-USED-WEIGHT-1M this sends ~10 per minute
    assert len(pages) == 9 and sum(len(p.bars) for p in pages) == 40  # 41 klines, the forming one dropped
    assert [r["limit"] for r in bn_state.requests] == ["5"] * 9
    starts = [int(r["startTime"]) for r in bn_state.requests]
    assert starts == sorted(starts) and len(set(starts)) == 9  # forward paging, no page asked twice


def test_ingest_end_to_end_then_resume(tmp_path: Path, bn_state: BinanceState) -> None:
    bn_state.bad_high = {("ETHUSDT", 5)}
    store = DeltaStore(tmp_path / "wh")
    with FakeBinance(bn_state) as fake, _client(fake.url) as client:
        source = BinanceSource(client=client, now=lambda: NOW)
        first = ingest_binance(store, "crypto_daily_clean", ["BTCUSDT", "ETHUSDT", "NOPEUSDT"], source=source)
        again = ingest_binance(store, "crypto_daily_clean", ["BTCUSDT", "ETHUSDT"], source=BinanceSource(
            client=client, now=lambda: NOW))
    assert first.not_found == {"NOPEUSDT": "binance -1121: Invalid symbol."}
    assert first.weight == 2 * 4 and first.requests == 4  # BTC: 2 pages (1,040 days), ETH: 1, NOPE: 1
    assert max(int(r["limit"]) for r in bn_state.requests) == 1000
    bars = store.read("crypto_daily_clean").to_pandas()
    expected = {s: [pd.Timestamp(r[0], unit="ms", tz="UTC") for r in klines(bn_state, s, "1d")][:-1]
                for s in ("BTCUSDT", "ETHUSDT")}
    btc = bars[bars.symbol == "BTCUSDT"].sort_values("datetime")
    assert btc["datetime"].tolist() == expected["BTCUSDT"]
    assert len(bars[bars.symbol == "ETHUSDT"]) == len(expected["ETHUSDT"]) - 1  # one bad kline quarantined
    assert (bars["source"] == "binance").all() and (bars["datetime"].dt.hour == 0).all()
    assert btc["sma_20"].notna().sum() == len(btc) - 19  # featured like any source
    quarantine = store.read_support("quarantine").to_pandas()
    assert len(quarantine) == 1 and "ETHUSDT" in quarantine.iloc[0].to_string()
    master = store.read_support("symbols").to_pandas().set_index("symbol")
    assert master.at["NOPEUSDT", "active"] == False  # noqa: E712
    assert master.at["BTCUSDT", "exchange"] == "Binance" and master.at["BTCUSDT", "currency"] == "USDT"
    # resume: one short page per symbol from the last stored bar, nothing rewritten
    assert again.weight == 4 and again.rows_changed == 0


def test_cli_ingest_and_stock_table_refused(tmp_path: Path, bn_state: BinanceState,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from marketlake.cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["ingest", "binance", "--table", "stocks_daily_clean", "--symbols", "BTCUSDT",
                              "-w", str(tmp_path / "wh")])
    assert isinstance(res.exception, ConfigError) and "crypto" in str(res.exception)
    bn_state.market_now = datetime.now(timezone.utc)  # the CLI uses the real clock
    with FakeBinance(bn_state) as fake:
        monkeypatch.setenv("BINANCE_BASE_URL", fake.url)
        monkeypatch.setenv("MARKETLAKE_MINUTE_SECONDS", str(MINUTE_S))
        start = (bn_state.market_now - timedelta(hours=30)).strftime("%Y-%m-%dT%H:00")
        res = runner.invoke(app, ["ingest", "binance", "--table", "crypto_hourly_clean", "--symbols",
                                  "BTCUSDT", "--start", start, "-w", str(tmp_path / "wh")])
    assert res.exit_code == 0, res.output
    assert len(bn_state.requests) == 1 and "weight 2 in 1 requests" in res.output
    stored = DeltaStore(tmp_path / "wh").read("crypto_hourly_clean", columns=["symbol", "datetime"])
    assert stored.num_rows == 30
