"""Symbol master from the vendor lists, `/profile` and reference files, against the loopback fake."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from marketlake.schema import METADATA_COLUMNS
from marketlake.sources.budget import CreditBudget, plan_limits
from marketlake.sources.twelvedata import TwelveDataSource
from marketlake.sources.twelvedata.client import TwelveDataClient
from marketlake.sources.twelvedata.symbols import lists_to_frame, vendor_metadata
from tests.vendors.conftest import API_KEY, MINUTE_S
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData

SP500 = "Symbol,Security,GICS Sector,GICS Sub-Industry\nAAPL,Apple Inc.,Information Technology,Technology Hardware\n"


def _client(url: str) -> TwelveDataClient:
    limits = plan_limits("custom", credits_per_minute=40, credits_per_day=None)
    budget = CreditBudget("twelvedata", limits=limits, minute_seconds=MINUTE_S, burst=40)
    return TwelveDataClient(api_key=API_KEY, budget=budget, base_url=url)


def _paths(state: FakeState) -> list[str]:
    return [p for p, _ in state.requests]


def test_master_without_profile_plan(tmp_path: Path, td_state: FakeState) -> None:
    td_state.credits_per_minute = 40
    ref = tmp_path / "sp500.csv"
    ref.write_text(SP500)
    with FakeTwelveData(td_state) as fake, _client(fake.url) as client:
        master = vendor_metadata(client, ["AAPL", "MSFT", "SPY", "BTC/USD", "NOPE"], reference=[ref])
    assert list(master.columns) == ["symbol", *METADATA_COLUMNS, "metadata_source"]
    m = master.set_index("symbol")
    assert set(m.index) == {"AAPL", "MSFT", "SPY", "BTC/USD"}
    # reference file wins (GICS), the vendor fills what it lacks; the US listing beats the BMV one
    assert m.at["AAPL", "sector"] == "Information Technology" and m.at["AAPL", "name"] == "Apple Inc."
    assert (m.at["AAPL", "exchange"], m.at["AAPL", "mic_code"]) == ("NASDAQ", "XNAS")
    assert m.at["AAPL", "exchange_timezone"] == "America/New_York" and m.at["AAPL", "currency"] == "USD"
    assert m.at["AAPL", "metadata_source"] == "sp500,twelvedata"
    assert (m.at["SPY", "asset_type"], m.at["SPY", "mic_code"]) == ("etf", "ARCX")
    assert m.at["BTC/USD", "asset_type"] == "crypto" and m.at["BTC/USD", "exchange_timezone"] == "UTC"
    assert m.at["BTC/USD", "currency"] == "US Dollar"
    assert pd.isna(m.at["MSFT", "sector"])  # nobody knows it on this plan
    # 403 on the first /profile: no further profile calls
    assert _paths(td_state).count("/profile") == 1
    assert {"/stocks", "/etfs", "/cryptocurrencies", "/exchanges"} <= set(_paths(td_state))


def test_master_with_profile_plan_through_source(td_state: FakeState) -> None:
    td_state.credits_per_minute = 40
    td_state.plan_has_profile = True
    with FakeTwelveData(td_state) as fake, _client(fake.url) as client:
        master = TwelveDataSource(client=client).metadata(["MSFT", "SPY", "ETH/USD"])
    m = master.set_index("symbol")
    assert m.at["MSFT", "sector"] == "Technology" and m.at["MSFT", "industry"] == "Consumer Electronics"
    assert m.at["MSFT", "metadata_source"] == "twelvedata,twelvedata_profile"
    assert m.at["ETH/USD", "asset_type"] == "crypto"
    assert _paths(td_state).count("/profile") == 2  # stocks and ETFs only, never crypto
    assert m.notna().loc[["MSFT", "SPY"], ["name", "exchange", "mic_code", "currency", "country",
                                           "sector", "industry", "exchange_timezone"]].all().all()


def test_lists_to_frame_prefers_us_listing_and_maps_zone() -> None:
    frame = lists_to_frame(
        stocks=[{"symbol": "X", "exchange": "BMV", "mic_code": "XMEX", "country": "Mexico"},
                {"symbol": "X", "exchange": "NYSE", "mic_code": "XNYS", "country": "United States"}],
        exchanges=[{"code": "XNYS", "name": "NYSE", "timezone": "America/New_York"}])
    assert frame.to_dict("records")[0]["mic_code"] == "XNYS"
    assert frame.to_dict("records")[0]["exchange_timezone"] == "America/New_York"
