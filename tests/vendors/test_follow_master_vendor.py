"""A vendor load refreshes the symbol master; the same symbols' bars in the other tables follow it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from marketlake import Warehouse
from marketlake.pipeline.vendor_ingest import ingest_twelvedata
from marketlake.schema import get_table
from marketlake.sources import get_source
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData
from tests.vendors.test_vendor_ingest import _client


def test_vendor_metadata_reaches_the_other_tables(tmp_path: Path, td_state: FakeState) -> None:
    td_state.credits_per_minute = 40
    wh = Warehouse(tmp_path / "wh")
    end = td_state.market_now
    src = get_source("synthetic", now=datetime(2025, 1, 1, tzinfo=UTC), stocks=3, crypto=1, seed=4)
    hourly = pd.concat([b.bars for b in src.fetch(["AAPL", "MSFT"], get_table("stocks_hourly_clean"),
                                                   start=end - pd.Timedelta(days=20), end=end)], ignore_index=True)
    stale = pd.DataFrame({"symbol": ["AAPL", "MSFT"], "exchange": ["OLDEX", "OLDEX"], "mic_code": ["XOLD", "XOLD"]})
    wh.ingest(hourly, table="stocks_hourly_clean", source="synthetic", metadata=stale)
    before = wh.read("stocks_hourly_clean", columns=["exchange"])
    assert set(before["exchange"]) == {"OLDEX"}
    with FakeTwelveData(td_state) as fake, _client(fake.url, wh.store) as client:
        ingest_twelvedata(wh.store, "stocks_daily_clean", ["AAPL", "MSFT"], client=client,
                          now=lambda: td_state.market_now)
    master = wh.store.read_support("symbols").to_pandas().set_index("symbol")
    daily = wh.read("stocks_daily_clean", columns=["exchange", "mic_code"])
    hourly_now = wh.read("stocks_hourly_clean", columns=["exchange", "mic_code"])
    for sym in ("AAPL", "MSFT"):
        assert master.at[sym, "exchange"] == "NASDAQ"
        assert set(daily.loc[daily.symbol == sym, "exchange"]) == {"NASDAQ"}
        assert set(hourly_now.loc[hourly_now.symbol == sym, "exchange"]) == {master.at[sym, "exchange"]}
        assert set(hourly_now.loc[hourly_now.symbol == sym, "mic_code"]) == {master.at[sym, "mic_code"]}
    assert len(hourly_now) == len(before)
