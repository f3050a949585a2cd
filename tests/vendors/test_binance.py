"""Binance klines against a loopback fake: wire format, weight limit, 429/418, paging, end-to-end ingest."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
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
from marketlake.sources.binance.symbols import Pair, resolve_pairs
from marketlake.sources.binance.wire import WireError
from marketlake.sources.budget import CreditBudget, PlanLimits
from marketlake.sources.http import RetryPolicy
from marketlake.storage import DeltaStore
from tests.vendors.conftest import MINUTE_S
from tests.vendors.fake_binance import BinanceState, FakeBinance, klines

NOW = datetime(2024, 11, 5, 15, 7, tzinfo=UTC)


@pytest.fixture
def bn_state() -> BinanceState:
    return BinanceState(listings={"BTCUSDT": datetime(2022, 1, 1, tzinfo=UTC),
                                  "ETHUSDT": datetime(2024, 6, 1, tzinfo=UTC)},
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
        pages = list(fetch_symbol(client, Pair("ETH/USD", "ETHUSDT"), get_table("crypto_hourly_clean"),
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
        paths = [r["_path"] for r in bn_state.requests]
        again = ingest_binance(store, "crypto_daily_clean", ["BTC/USD", "ETH/USD"], source=BinanceSource(
            client=client, now=lambda: NOW))
        bn_state.market_now = NOW + timedelta(days=1)  # a new daily kline has closed
        later = ingest_binance(store, "crypto_daily_clean", ["BTC/USD", "ETH/USD"], source=BinanceSource(
            client=client, now=lambda: NOW + timedelta(days=1)))
    assert first.not_found == {"NOPEUSDT": "binance -1121: Invalid symbol."}
    # exchangeInfo for the three (refused: NOPEUSDT is unknown), then the full list; no klines for NOPEUSDT
    assert paths[:2] == ["/api/v3/exchangeInfo"] * 2 and paths[2:].count("/api/v3/klines") == 3
    assert first.weight == 2 * 20 + 3 * 2 and first.requests == 5  # BTC: 2 pages (1,040 days), ETH: 1
    assert max(int(r["limit"]) for r in bn_state.requests if "limit" in r) == 1000
    bars = store.read("crypto_daily_clean").to_pandas()
    assert set(bars["symbol"]) == {"BTC/USD", "ETH/USD"}  # stablecoin quote stored as USD
    expected = {s: [pd.Timestamp(r[0], unit="ms", tz="UTC") for r in klines(bn_state, s, "1d")][:-1]
                for s in ("BTCUSDT", "ETHUSDT")}
    btc = bars[bars.symbol == "BTC/USD"].sort_values("datetime")
    assert btc["datetime"].tolist() == expected["BTCUSDT"]
    eth = bars[bars.symbol == "ETH/USD"].sort_values("datetime")
    assert len(eth) == len(expected["ETHUSDT"]) - 1  # one bad kline quarantined
    assert (bars["source"] == "binance").all() and (bars["datetime"].dt.hour == 0).all()
    assert btc["sma_20"].notna().sum() == len(btc) - 19  # featured like any source
    assert eth["rs_benchmark_20"].notna().any()  # BTC/USD, the crypto tables' benchmark, was found
    quarantine = store.read_support("quarantine").to_pandas()
    assert len(quarantine) == 1 and "ETHUSDT" in quarantine.iloc[0].to_string()
    master = store.read_support("symbols").to_pandas().set_index("symbol")
    assert master.at["NOPEUSDT", "active"] == False  # noqa: E712
    assert master.at["BTC/USD", "exchange"] == "Binance" and master.at["BTC/USD", "currency"] == "USD"
    # resume like every vendor (ingest_state, watermark): right after a run no newer kline can be complete,
    # so nothing is asked; once one has closed, one short page per symbol from the last stored bar
    # (BASE/QUOTE input: no exchangeInfo)
    assert again.weight == 0 and again.rows_changed == 0 and again.up_to_date == 2
    assert later.weight == 4 and later.requests == 2 and later.rows_changed >= 2
    state = store.read_support("ingest_state").to_pandas().set_index("symbol")
    assert bool(state.at["ETH/USD", "backfill_complete"])  # listed after the target: its first kline is the floor
    assert pd.Timestamp(state.at["ETH/USD", "earliest_available"]) == eth["datetime"].min()


def test_symbol_mapping_over_exchange_info(bn_state: BinanceState) -> None:
    bn_state.listings.update({s: datetime(2024, 1, 1, tzinfo=UTC)
                              for s in ("ETHBTC", "SOLFDUSD", "BTCUSDC", "BTCEUR")})
    names = ["BTC/USD", "ethusdt", "ETHBTC", "SOLFDUSD", "BTCEUR", "ETH/USDT", "NOPEUSDT"]
    with FakeBinance(bn_state) as fake, _client(fake.url) as client:
        pairs, invalid = resolve_pairs(client, names)
        kept, _ = resolve_pairs(client, ["BTC/USD", "ETHBTC"], keep_vendor_symbols=True)
        only_slash, _ = resolve_pairs(client, ["SOL/USDC", "BTC/EUR"])
        sent = len(bn_state.requests)
        with pytest.raises(ConfigError, match="BTCUSDC and BTCUSDT would both be stored as BTC/USD"):
            resolve_pairs(client, ["BTCUSDT", "BTCUSDC"])
        both, _ = resolve_pairs(client, ["BTCUSDT", "BTCUSDC"], keep_vendor_symbols=True)
    stored = {name: (p.symbol, p.pair) for name, p in pairs.items()}
    assert stored == {"BTC/USD": ("BTC/USD", "BTCUSDT"), "ethusdt": ("ETH/USD", "ETHUSDT"),
                      "ETHBTC": ("ETH/BTC", "ETHBTC"), "SOLFDUSD": ("SOL/USD", "SOLFDUSD"),
                      "BTCEUR": ("BTC/EUR", "BTCEUR"), "ETH/USDT": ("ETH/USD", "ETHUSDT")}
    assert set(invalid) == {"NOPEUSDT"} and invalid["NOPEUSDT"].code == -1121
    assert {n: p.symbol for n, p in kept.items()} == {"BTC/USD": "BTCUSDT", "ETHBTC": "ETHBTC"}
    assert {n: p.pair for n, p in only_slash.items()} == {"SOL/USDC": "SOLUSDC", "BTC/EUR": "BTCEUR"}
    # raw pairs asked in one exchangeInfo (plus the full list once, as one of them was unknown); kept
    # names asked once more; BASE/QUOTE input asked nothing
    assert [r["_path"] for r in bn_state.requests[:sent]] == ["/api/v3/exchangeInfo"] * 3
    assert {p.symbol for p in both.values()} == {"BTCUSDT", "BTCUSDC"}


def test_cli_ingest_and_stock_table_refused(tmp_path: Path, bn_state: BinanceState,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from marketlake.cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["ingest", "binance", "--table", "stocks_daily_clean", "--symbols", "BTCUSDT",
                              "-w", str(tmp_path / "wh")])
    assert isinstance(res.exception, ConfigError) and "crypto" in str(res.exception)
    bn_state.market_now = datetime.now(UTC)  # the CLI uses the real clock
    with FakeBinance(bn_state) as fake:
        monkeypatch.setenv("BINANCE_BASE_URL", fake.url)
        monkeypatch.setenv("MARKETLAKE_MINUTE_SECONDS", str(MINUTE_S))
        start = (bn_state.market_now - timedelta(hours=30)).strftime("%Y-%m-%dT%H:00")
        res = runner.invoke(app, ["ingest", "binance", "--table", "crypto_hourly_clean", "--symbols",
                                  "BTCUSDT", "--start", start, "-w", str(tmp_path / "wh")])
    assert res.exit_code == 0, res.output
    assert len(bn_state.requests) == 2 and "weight 22 in 2 requests" in res.output  # exchangeInfo + klines
    stored = DeltaStore(tmp_path / "wh").read("crypto_hourly_clean", columns=["symbol", "datetime"]).to_pandas()
    assert len(stored) == 30 and set(stored["symbol"]) == {"BTC/USD"}
    with FakeBinance(bn_state) as fake:
        monkeypatch.setenv("BINANCE_BASE_URL", fake.url)
        res = runner.invoke(app, ["ingest", "binance", "--table", "crypto_hourly_clean", "--symbols",
                                  "BTC/USD", "--start", start, "--keep-vendor-symbols", "-w", str(tmp_path / "wh")])
    assert res.exit_code == 0, res.output
    stored = DeltaStore(tmp_path / "wh").read("crypto_hourly_clean", columns=["symbol"]).to_pandas()
    assert stored["symbol"].value_counts().to_dict() == {"BTC/USD": 30, "BTCUSDT": 30}
