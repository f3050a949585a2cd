"""Typed `ingest_state` records: NULLs round-trip as None, and a resumed run reads back what a killed one left."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from marketlake.pipeline.ingest_state import IngestState, read_states, write_states
from marketlake.pipeline.vendor_ingest import StoreUsage, ingest_twelvedata
from marketlake.schema import SUPPORT_SCHEMAS
from marketlake.sources.budget import CreditBudget, plan_limits
from marketlake.sources.http import RetryPolicy
from marketlake.sources.twelvedata.client import TwelveDataClient
from marketlake.storage import DeltaStore
from tests.vendors.conftest import API_KEY, MINUTE_S
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData


def test_records_round_trip_through_a_delta_table_with_nulls(tmp_path: Path) -> None:
    store = DeltaStore(tmp_path / "wh")
    t = datetime(2024, 11, 5, 14, 30, tzinfo=UTC)
    records = [IngestState("stocks_daily_clean", "AAPL", source="twelvedata", first_bar=t, last_bar=t,
                           earliest_available=t, backfill_complete=True, status="ok", message="m", updated_at=t),
               IngestState("stocks_daily_clean", "MSFT"),  # every optional field NULL
               IngestState("crypto_daily_clean", "BTC/USD", status="error")]
    write_states(store, records)
    back = read_states(store, "stocks_daily_clean")
    assert back == {r.symbol: r for r in records[:2]}
    assert back["MSFT"].message is None and back["MSFT"].first_bar is None and back["MSFT"].backfill_complete is False
    # the pandas path this replaces: an all-NULL string column comes back as NaN, which Arrow refuses to write
    frame = pa.Table.from_pylist([{"table": "x", "symbol": "A"}], schema=SUPPORT_SCHEMAS["ingest_state"]).to_pandas()
    assert isinstance(frame.at[0, "message"], float) and math.isnan(frame.at[0, "message"])


def test_pandas_timestamps_and_naive_times_are_normalised_to_utc() -> None:
    r = IngestState("t", "s", first_bar=pd.Timestamp("2024-01-02 14:30Z"), last_bar=datetime(2024, 1, 3),  # type: ignore[arg-type]
                    earliest_available=pd.NaT)  # type: ignore[arg-type]
    assert r.first_bar == datetime(2024, 1, 2, 14, 30, tzinfo=UTC) and type(r.first_bar) is datetime
    assert r.last_bar == datetime(2024, 1, 3, tzinfo=UTC) and r.earliest_available is None


def _client(url: str, store: DeltaStore) -> TwelveDataClient:
    limits = plan_limits("custom", credits_per_minute=40, credits_per_day=100_000)
    budget = CreditBudget("twelvedata", limits=limits, minute_seconds=MINUTE_S, usage=StoreUsage(store))
    return TwelveDataClient(api_key=API_KEY, budget=budget, base_url=url,
                            retry=RetryPolicy(base_s=0.01, cap_s=0.05, seed=3))


def test_rerun_after_a_kill_before_the_floor_was_stored(tmp_path: Path) -> None:
    """Killed after a page's state was written but before its earliest bar was: every message is NULL.

    The re-run asks the floor and writes the state again (it used to crash: `ArrowTypeError: Expected
    bytes, got a 'float' object`, a NULL message read back as NaN).
    """
    state = FakeState(api_key=API_KEY, credits_per_minute=40, minute_seconds=MINUTE_S,
                      listings={"BTC/USD": date(2024, 11, 5)})
    state.market_now = state.market_now.replace(minute=6)  # 907 one-minute bars: two pages of 454
    store = DeltaStore(tmp_path / "wh")
    now = lambda: state.market_now  # noqa: E731
    with FakeTwelveData(state) as fake, _client(fake.url, store) as client:
        ingest_twelvedata(store, "crypto_1min_clean", ["BTC/USD"], client=client, now=now, outputsize=454)
        killed = read_states(store, "crypto_1min_clean")["BTC/USD"].updated(
            earliest_available=None, backfill_complete=False, message=None)
        write_states(store, [killed])
        asked = len(state.requests)
        again = ingest_twelvedata(store, "crypto_1min_clean", ["BTC/USD"], client=client, now=now, outputsize=454)
    assert [p for p, _ in state.requests[asked:]] == ["/earliest_timestamp"] and again.credits == 1
    resumed = read_states(store, "crypto_1min_clean")["BTC/USD"]
    assert resumed.earliest_available == datetime(2024, 11, 5, tzinfo=UTC) and resumed.backfill_complete
    assert resumed.message is None and resumed.status == "ok"
