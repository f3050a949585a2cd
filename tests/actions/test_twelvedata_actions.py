"""TwelveData /splits and /dividends over real HTTP (the loopback fake): wire format, credits, plan errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from marketlake import Warehouse
from marketlake.actions import read_actions
from marketlake.actions.vendor import CREDITS_PER_SYMBOL, fetch_twelvedata
from marketlake.cli.main import app
from marketlake.sources.budget import CreditBudget, plan_limits
from marketlake.sources.http import RetryPolicy
from marketlake.sources.twelvedata.client import TwelveDataClient
from marketlake.storage import DeltaStore
from tests.actions.conftest import SPLITS, de_adjust
from tests.vendors.conftest import API_KEY
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData

AAPL_SPLITS = [{"date": "2000-06-21", "description": "2-for-1 split", "ratio": 2, "from_factor": 1, "to_factor": 2},
               {"date": "2014-06-09", "description": "7-for-1 split", "ratio": 7, "from_factor": 1, "to_factor": 7}]
AAPL_DIVIDENDS = [{"ex_date": "2014-05-08", "amount": 3.29}, {"ex_date": "2014-08-07", "amount": 0.47}]


def _state(**kw: object) -> FakeState:
    state = FakeState(api_key=API_KEY, credits_per_minute=60, minute_seconds=0.25,
                      listings={"AAPL": date(2014, 1, 2), "NFLX": date(2014, 1, 2)}, **kw)  # type: ignore[arg-type]
    state.splits = {"AAPL": AAPL_SPLITS}
    state.dividends = {"AAPL": AAPL_DIVIDENDS}
    return state


def _client(url: str, per_minute: int = 60) -> TwelveDataClient:
    budget = CreditBudget("twelvedata", limits=plan_limits("custom", credits_per_minute=per_minute, credits_per_day=None),
                          minute_seconds=0.25, burst=per_minute)
    return TwelveDataClient(api_key=API_KEY, budget=budget, base_url=url,
                            retry=RetryPolicy(max_attempts=4, base_s=0.01, cap_s=0.05, seed=1))


def test_wire_format_full_range_and_credits() -> None:
    state = _state(plan_has_fundamentals=True)
    with FakeTwelveData(state) as fake, _client(fake.url) as client:
        actions, errors = fetch_twelvedata(client, ["AAPL", "NFLX", "NOPE"])
    assert {a.kind for a in actions} == {"split", "dividend"} and len(actions) == 4  # range=full: not just the last
    seven = next(a for a in actions if a.kind == "split" and a.date == date(2014, 6, 9))
    assert (seven.from_factor, seven.to_factor, seven.source) == (1.0, 7.0, "twelvedata")
    assert seven.price_factor == pytest.approx(1 / 7)
    div = next(a for a in actions if a.kind == "dividend" and a.date == date(2014, 8, 7))
    assert div.amount == 0.47 and div.currency == "USD"
    assert set(errors) == {"NOPE"} and "404" in errors["NOPE"]
    assert all(q.get("range") == "full" for p, q in state.requests if p in ("/splits", "/dividends"))
    # 20 credits per call: two symbols known (40 each) plus the unknown one's refused /splits (20)
    assert state.credits_total == 2 * CREDITS_PER_SYMBOL + 20 and state.violations == 0


def test_budget_spreads_the_calls_over_vendor_minutes() -> None:
    state = _state(plan_has_fundamentals=True)
    state.credits_per_minute = 40
    with FakeTwelveData(state) as fake, _client(fake.url, per_minute=40) as client:
        fetch_twelvedata(client, ["AAPL", "NFLX", "AAPL"])
    assert state.violations == 0 and max(state.per_window.values()) <= 40


def test_plan_without_the_endpoint_is_reported_not_raised() -> None:
    state = _state(plan_has_fundamentals=False)
    with FakeTwelveData(state) as fake, _client(fake.url) as client:
        actions, errors = fetch_twelvedata(client, ["AAPL"])
    assert actions == [] and "403" in errors["AAPL"] and API_KEY not in errors["AAPL"]


@pytest.mark.shared_data
def test_cli_fetch_applies_the_vendor_split(sp500_adjusted: pd.DataFrame, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    aapl = sp500_adjusted[(sp500_adjusted["symbol"] == "AAPL")].iloc[400:520]  # around the 2014-06-09 split
    raw = de_adjust(aapl)
    raw["datetime"] = pd.to_datetime(raw["datetime"]).dt.tz_localize("America/New_York") + pd.Timedelta(hours=9.5)
    wh = Warehouse(tmp_path / "wh")
    wh.ingest(raw, table="stocks_daily_clean", source="csv")
    state = _state(plan_has_fundamentals=True)
    state.credits_per_minute = 400
    with FakeTwelveData(state) as fake:
        monkeypatch.setenv("TWELVEDATA_API_KEY", API_KEY)
        monkeypatch.setenv("TWELVEDATA_BASE_URL", fake.url)
        monkeypatch.setenv("MARKETLAKE_MINUTE_SECONDS", "0.25")
        res = CliRunner().invoke(app, ["actions", "fetch", "AAPL", "--plan", "grow", "-w", str(tmp_path / "wh")])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert API_KEY not in res.output
    got = wh.read("stocks_daily_clean", "AAPL")
    np.testing.assert_allclose(got["close"].to_numpy(), aapl["close"].to_numpy()[: len(got)], rtol=1e-9)
    stored = read_actions(DeltaStore(tmp_path / "wh"))
    assert {(a.kind, str(a.date)) for a in stored} >= {("split", "2014-06-09"), ("dividend", "2014-08-07")}
    assert all(a.applied_at is not None for a in stored)
    usage = DeltaStore(tmp_path / "wh").read_support("api_usage").to_pandas()
    assert usage["credits"].sum() == CREDITS_PER_SYMBOL  # the spend is on the warehouse's books
    assert SPLITS["AAPL"][0] == date(2014, 6, 9)


def test_split_direction_follows_the_description() -> None:
    from marketlake.sources.twelvedata.actions import parse_splits

    body = {"splits": [{"date": "2020-08-31", "description": "4-for-1 split", "ratio": 0.25, "from_factor": 4,
                        "to_factor": 1},
                       {"date": "2022-07-18", "description": "20-for-1 split", "from_factor": 1, "to_factor": 20},
                       {"date": "2011-01-01", "description": "reverse", "ratio": 0.1}]}
    got = parse_splits("X", body)
    assert [(s.from_factor, s.to_factor) for s in got] == [(1.0, 4.0), (1.0, 20.0)]


def test_daily_bars_fetched_as_traded_then_the_vendor_split_gives_the_vendor_adjusted_series(tmp_path: Path) -> None:
    """End to end over loopback HTTP: the daily backfill asks `adjust=none` (stored as traded), then the
    vendor's split arrives and rescales them; the result is the vendor's own split-adjusted series."""
    from marketlake.actions import record
    from marketlake.pipeline.vendor_ingest import ingest_twelvedata
    from tests.vendors.fake_twelvedata import vendor_values

    state = _state(plan_has_fundamentals=True)
    state.credits_per_minute = 400
    state.market_now = pd.Timestamp("2015-01-05 15:07Z").to_pydatetime()  # ~250 daily bars across the split
    store = DeltaStore(tmp_path)
    with FakeTwelveData(state) as fake, _client(fake.url, per_minute=400) as client:
        ingest_twelvedata(store, "stocks_daily_clean", ["AAPL"], client=client, now=lambda: state.market_now)
        actions, errors = fetch_twelvedata(client, ["AAPL"])
    assert [q.get("adjust") for p, q in state.requests if p == "/time_series"] == ["none"]
    assert not errors
    record(store, actions)
    got = Warehouse(tmp_path).read("stocks_daily_clean", "AAPL", columns=["datetime", "close", "volume"])
    want = pd.DataFrame(vendor_values(state, "AAPL", "1day"))  # the vendor's default: split-adjusted daily
    want = want[want["datetime"] < "2015-01-05"]  # the last bar is still forming, not stored
    assert len(got) == len(want) > 200
    np.testing.assert_allclose(got["close"].to_numpy(), want["close"].astype(float).to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(got["volume"].to_numpy(), want["volume"].astype(float).to_numpy(), rtol=5e-3)
    traded = pd.DataFrame(vendor_values(state, "AAPL", "1day", "none"))
    assert float(traded["close"].iloc[0]) == pytest.approx(7 * float(want["close"].iloc[0]), rel=1e-6)
