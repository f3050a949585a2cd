"""TwelveData client against the loopback fake: wire format, errors, limits, accounting, secrecy."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pandas as pd
import pytest

from marketlake.errors import AuthError, VendorError
from marketlake.schema import get_table
from marketlake.sources.budget import CreditBudget, plan_limits
from marketlake.sources.http import RetryPolicy
from marketlake.sources.twelvedata.client import TwelveDataClient
from marketlake.sources.twelvedata.fetcher import fetch_window
from marketlake.sources.twelvedata.wire import WireError
from tests.vendors.conftest import API_KEY, MINUTE_S
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData, make_values


def _client(url: str, *, key: str = API_KEY, per_minute: int = 8, timeout_s: float = 5.0) -> TwelveDataClient:
    limits = plan_limits("custom", credits_per_minute=per_minute, credits_per_day=None)
    budget = CreditBudget("twelvedata", limits=limits, minute_seconds=MINUTE_S, burst=per_minute)
    retry = RetryPolicy(max_attempts=8, base_s=0.01, cap_s=0.05, seed=1)
    return TwelveDataClient(api_key=key, budget=budget, base_url=url, retry=retry, timeout_s=timeout_s)


def _fetch_all(client: TwelveDataClient, state: FakeState, symbols: list[str], table: str, start: datetime):
    results = list(fetch_window(client, symbols, get_table(table), start=start, now=lambda: state.market_now,
                                batch_size=client.budget.per_minute))
    bars = pd.concat([r.bars for r in results], ignore_index=True)
    errors = {k: v for r in results for k, v in r.errors.items()}
    return bars, errors


@pytest.mark.parametrize("style", ["body", "status"])
def test_batch_with_unknown_symbol_and_dst(td_state: FakeState, style: str) -> None:
    td_state.error_style = style
    with FakeTwelveData(td_state) as fake, _client(fake.url) as client:
        bars, errors = _fetch_all(client, td_state, ["AAPL", "NOPE", "MSFT"], "stocks_hourly_clean",
                                  datetime(2024, 10, 30, tzinfo=UTC))
        single, single_err = _fetch_all(client, td_state, ["ZZZZ"], "stocks_daily_clean",
                                        datetime(2024, 10, 1, tzinfo=UTC))
    assert set(errors) == {"NOPE"} and errors["NOPE"].code == 404
    assert single.empty and single_err["ZZZZ"].code == 404
    aapl = bars[bars.symbol == "AAPL"]
    assert aapl["close"].dtype == "float64" and aapl["volume"].dtype == "float64"
    assert aapl["datetime"].is_monotonic_increasing and not aapl["datetime"].duplicated().any()
    stamps = set(aapl["datetime"])
    # 09:30 New York is 13:30Z before the DST change (3 Nov 2024) and 14:30Z after it
    assert pd.Timestamp("2024-10-31 13:30Z") in stamps and pd.Timestamp("2024-11-04 14:30Z") in stamps
    assert pd.Timestamp("2024-11-04 13:30Z") not in stamps
    # the still-forming bar (09:30 local on 5 Nov; now is 10:07 local) is dropped, the last complete kept
    assert aapl["datetime"].max() == pd.Timestamp("2024-11-04 20:30Z")
    assert aapl["_location"].str.contains("twelvedata /time_series AAPL").all()


def test_daily_stock_bar_stamped_at_session_open(td_server: FakeTwelveData, td_state: FakeState) -> None:
    with _client(td_server.url) as client:
        bars, _ = _fetch_all(client, td_state, ["SPY"], "stocks_daily_clean", datetime(2024, 7, 1, tzinfo=UTC))
    stamps = set(bars["datetime"])
    assert pd.Timestamp("2024-07-03 13:30Z") in stamps  # summer
    assert pd.Timestamp("2024-11-04 14:30Z") in stamps  # winter
    assert pd.Timestamp("2024-11-05 14:30Z") not in stamps  # today's session still open


def test_zero_violations_and_exact_credit_accounting(td_state: FakeState) -> None:
    td_state.p_5xx = 0.15
    td_state.p_slow = 0.08
    td_state.slow_s = 0.4
    td_state.error_style = "mixed"
    with FakeTwelveData(td_state) as fake, _client(fake.url, timeout_s=0.2) as client:
        for _ in range(5):
            _fetch_all(client, td_state, ["AAPL", "MSFT", "SPY", "NVDA", "BTC/USD", "ETH/USD"],
                       "stocks_daily_clean", datetime(2024, 10, 1, tzinfo=UTC))
        client.earliest_timestamp("AAPL", interval="1day")
        client.stocks()
    assert td_state.violations == 0
    assert client.budget.total_credits == td_state.credits_total >= 32
    assert max(td_state.per_window.values()) <= 8


def test_429_waits_for_next_minute_and_retries(td_state: FakeState) -> None:
    # the vendor is stricter than our plan says (4 credits per 1 s against our 8 per 0.25 s): 429s happen
    td_state.credits_per_minute = 4
    td_state.minute_seconds = 1.0
    td_state.send_credit_headers = False  # (with api-credits-left the client would adapt before a 429)
    td_state.error_style = "mixed"
    with FakeTwelveData(td_state) as fake, _client(fake.url, per_minute=8) as client:
        for _ in range(3):
            answers = client.time_series(["AAPL", "MSFT", "SPY", "NVDA"], interval="1day", outputsize=5)
            assert all(len(a.values) == 5 for a in answers.values())  # type: ignore[union-attr]
    assert td_state.violations >= 1  # seen, waited out, retried
    assert td_state.credits_total == client.budget.total_credits == 12  # refused requests are not charged


@pytest.mark.parametrize("style", ["body", "status"])
def test_bad_key_stops_with_one_clear_message(td_state: FakeState, style: str) -> None:
    td_state.error_style = style
    with FakeTwelveData(td_state) as fake, _client(fake.url, key="wrong-key-123") as client:
        with pytest.raises(AuthError) as info:
            client.time_series(["AAPL"], interval="1day")
    assert info.value.status == 401 and info.value.vendor == "twelvedata"
    assert "TWELVEDATA_API_KEY" in str(info.value) and "wrong-key-123" not in str(info.value)
    assert len(td_state.requests) == 1  # not retried


def test_persistent_5xx_gives_up_bounded(td_state: FakeState) -> None:
    td_state.p_5xx = 1.0
    with FakeTwelveData(td_state) as fake, _client(fake.url) as client:
        with pytest.raises(VendorError) as info:
            client.stocks()
    assert "8 attempts" in str(info.value)
    assert len(td_state.requests) == 8


def test_reference_endpoints(td_state: FakeState) -> None:
    td_state.credits_per_minute = 40
    with FakeTwelveData(td_state) as fake, _client(fake.url, per_minute=40) as client:
        assert {r["symbol"] for r in client.stocks()} == {"AAPL", "MSFT", "NVDA"}
        assert {r["symbol"] for r in client.etfs()} == {"SPY"}
        assert {r["symbol"] for r in client.cryptocurrencies()} == {"BTC/USD", "ETH/USD"}
        assert client.exchanges()[0]["code"] == "XNAS"
        assert client.symbol_search("AA")[0]["symbol"] == "AAPL"
        prof = client.profile("AAPL")
        assert isinstance(prof, WireError) and prof.code == 403  # free plan: no profile
        assert client.earliest_timestamp("AAPL", interval="1day")["datetime"] == "2024-01-02"
        missing = client.earliest_timestamp("NOPE", interval="1day")
        assert isinstance(missing, WireError) and missing.code == 404
        assert client.api_usage()["plan_limit"] == 40
    assert client.budget.total_credits == td_state.credits_total == 18


def test_key_never_leaks(td_state: FakeState, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    td_state.p_5xx = 0.3
    texts: list[str] = []
    with FakeTwelveData(td_state) as fake:
        client = _client(fake.url)
        texts.append(repr(client))
        _fetch_all(client, td_state, ["AAPL", "NOPE"], "stocks_daily_clean", datetime(2024, 10, 1, tzinfo=UTC))
        bad = _client(fake.url, key="bad-" + API_KEY)
        with pytest.raises(AuthError) as info:
            bad.stocks()
        texts += [str(info.value), repr(info.value), repr(bad), repr(bad.budget)]
    texts += [r.getMessage() for r in caplog.records]
    texts += [path + str(q) for path, q in td_state.requests] + td_state.raw_lines
    assert not [t for t in texts if API_KEY in t]
    assert all("apikey" not in q for _, q in td_state.requests)  # header only, never the URL


@pytest.mark.parametrize("prefetch", [0, 1, 2])
def test_pages_fetched_ahead_while_the_caller_loads(td_state: FakeState, prefetch: int) -> None:
    td_state.credits_per_minute = 40
    symbols = ["AAPL", "MSFT", "SPY", "NVDA", "BTC/USD"]
    with FakeTwelveData(td_state) as fake, _client(fake.url, per_minute=40) as client:
        pages = fetch_window(client, symbols, get_table("stocks_daily_clean"), now=lambda: td_state.market_now,
                             start=datetime(2024, 10, 1, tzinfo=UTC), batch_size=1, prefetch=prefetch)
        first = next(pages)
        time.sleep(0.4)  # the caller "loads" the first page
        sent_while_loading = [p for p, _ in td_state.requests].count("/time_series")
        rest = list(pages)
    assert sent_while_loading == 1 + prefetch  # the page held and `prefetch` more, not the whole list
    assert [r.request.symbols[0] for r in [first, *rest]] == symbols  # in order
    assert client.budget.total_credits == td_state.credits_total == len(symbols)


def test_generic_fetch_stops_paging_at_earliest_timestamp(td_state: FakeState) -> None:
    """`TwelveDataSource.fetch` (the BarSource path) uses the same pager floor as `ingest twelvedata`."""
    from datetime import date, timedelta

    from marketlake.sources.twelvedata import TwelveDataSource

    td_state.credits_per_minute = 40
    td_state.empty_window = "error"  # a page before the first bar is an error, as on the real API
    td_state.listings = {"BTC/USD": date(2024, 10, 29), "ETH/USD": date(2024, 11, 4)}
    td_state.market_now = datetime(2024, 10, 29, tzinfo=UTC) + timedelta(minutes=9_998)
    table = get_table("crypto_1min_clean")
    assert len(make_values(td_state, "BTC/USD", "1min")) == 9_999  # two full pages reach the first bar
    with FakeTwelveData(td_state) as fake, _client(fake.url, per_minute=40) as client:
        source = TwelveDataSource(client=client, now=lambda: td_state.market_now)
        bars = pd.concat([b.bars for b in source.fetch(["BTC/USD", "ETH/USD"], table)], ignore_index=True)
        again = pd.concat([b.bars for b in source.fetch(["BTC/USD"], table)], ignore_index=True)
    paths = [p for p, _ in td_state.requests]
    # 1st: both symbols in one batch; BTC/USD's page is full, so its earliest bar is asked (ETH/USD's
    # short page needs none); 2nd page reaches it. A 3rd page would cost a credit and answer 404.
    assert paths[:3] == ["/time_series", "/earliest_timestamp", "/time_series"]
    assert paths[3:] == ["/time_series", "/time_series"]  # the second fetch: the floor is not asked again
    assert source.not_found == {}
    assert client.budget.total_credits == td_state.credits_total == 2 + 1 + 1 + 2
    btc = bars[bars.symbol == "BTC/USD"]["datetime"]
    assert len(btc) == 9_998 and btc.min() == pd.Timestamp("2024-10-29 00:00Z") and not btc.duplicated().any()
    assert len(bars[bars.symbol == "ETH/USD"]) == len(make_values(td_state, "ETH/USD", "1min")) - 1
    assert len(again) == 9_998
