"""`marketlake status`: freshness against the exchange calendar, backlog, credits, --check and --json.

Oracles: exchange_calendars' own schedule (computed here directly, not through our grid), hand-counted
bars, and api_usage increments written here and summed by hand.
"""

from __future__ import annotations

import json
import random
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from marketlake import Warehouse
from marketlake.cli.main import app
from marketlake.monitor.freshness import DEFAULT_GRACE, bars_between, expected_last_bar, judge
from marketlake.monitor.status import warehouse_status
from marketlake.schema import SUPPORT_SCHEMAS, get_table
from marketlake.sources import get_source
from marketlake.storage import DeltaStore

runner = CliRunner()
FRIDAY_AFTER_CLOSE = datetime(2024, 6, 28, 21, 0, tzinfo=UTC)  # 17:00 New York, Friday 28 June 2024
SUNDAY = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
MONDAY_MORNING = datetime(2024, 7, 1, 15, 0, tzinfo=UTC)  # 11:00 New York
STOCKS = ["SPY", "AAPL", "MSFT"]
LAGGARD = "NVDA"  # its bars end a day earlier: the backlog


def _load(wh: Warehouse, table: str, symbols: list[str] | None, end: datetime, days: int) -> None:
    spec = get_table(table)
    src = get_source("synthetic", stocks=6, crypto=2, seed=7, now=end + timedelta(days=1))
    start = end - timedelta(days=days)
    bars = pd.concat([b.bars for b in src.fetch(symbols, spec, start=start, end=end)], ignore_index=True)
    wh.ingest(bars, table=table, source="synthetic")


@pytest.fixture(scope="module")
def friday(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four tables whose last bars are Friday's close; one stock symbol of the daily table ends Thursday."""
    root = tmp_path_factory.mktemp("status") / "wh"
    wh = Warehouse(root)
    _load(wh, "stocks_daily_clean", STOCKS, FRIDAY_AFTER_CLOSE, 60)
    _load(wh, "stocks_daily_clean", [LAGGARD], FRIDAY_AFTER_CLOSE - timedelta(days=1), 60)
    _load(wh, "stocks_hourly_clean", STOCKS, FRIDAY_AFTER_CLOSE, 10)
    _load(wh, "crypto_daily_clean", None, FRIDAY_AFTER_CLOSE, 60)
    _load(wh, "crypto_hourly_clean", None, FRIDAY_AFTER_CLOSE, 5)
    return root


# -- the calendar ---------------------------------------------------------------------------------
def _schedule() -> pd.DataFrame:
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xcals.get_calendar("XNYS", start="2023-12-01", end="2025-02-01").schedule


def test_stock_expectation_matches_the_exchange_schedule() -> None:
    """At random instants, the expected daily bar is the open of the last session closed (plus grace);
    the expected hourly bar is the last one (cut at the close, early closes included) that ended."""
    sched = _schedule()
    opens = sched["open"].dt.tz_convert("UTC")
    closes = sched["close"].dt.tz_convert("UTC")
    daily, hourly = get_table("stocks_daily_clean"), get_table("stocks_hourly_clean")
    rng = random.Random(3)
    for _ in range(150):
        now = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(366 * 1440))
        cut = pd.Timestamp(now - DEFAULT_GRACE["daily"])
        assert expected_last_bar(daily, now) == opens[closes <= cut].iloc[-1].to_pydatetime()
        cut = pd.Timestamp(now - DEFAULT_GRACE["hourly"])
        ends = []  # every hourly bar of the sessions around `now`, by hand
        window = (opens > cut - pd.Timedelta(days=10)) & (opens <= cut)
        for o, c in zip(opens[window], closes[window]):
            t = o
            while t < c:
                ends.append((t, min(t + pd.Timedelta(hours=1), c)))
                t += pd.Timedelta(hours=1)
        want = max(t for t, e in ends if e <= cut)
        assert expected_last_bar(hourly, now) == want.to_pydatetime(), now


def test_friday_close_is_fresh_on_sunday_for_stocks_and_stale_for_crypto() -> None:
    friday_daily = datetime(2024, 6, 28, 13, 30, tzinfo=UTC)  # the session's stamp is its open
    friday_hourly = datetime(2024, 6, 28, 19, 30, tzinfo=UTC)  # 15:30-16:00 New York, the last bar
    assert not judge(get_table("stocks_daily_clean"), friday_daily, SUNDAY).stale
    assert not judge(get_table("stocks_hourly_clean"), friday_hourly, SUNDAY).stale
    crypto_daily = judge(get_table("crypto_daily_clean"), datetime(2024, 6, 28, tzinfo=UTC), SUNDAY)
    assert crypto_daily.stale and crypto_daily.bars_behind == 1  # Saturday's bar closed at Sunday 00:00
    assert crypto_daily.expected_bar == datetime(2024, 6, 29, tzinfo=UTC)
    crypto_hourly = judge(get_table("crypto_hourly_clean"), datetime(2024, 6, 28, 21, tzinfo=UTC), SUNDAY)
    # Sunday 12:00 less 30 min grace: the 10:00-11:00 bar is the last one due; 22:00 Friday .. 10:00 Sunday
    assert crypto_hourly.stale and crypto_hourly.bars_behind == 37
    assert crypto_hourly.lag == timedelta(hours=37)
    # Monday 11:00 New York: the 9:30 hourly bar is due, the daily one is not yet (the session is open)
    assert judge(get_table("stocks_hourly_clean"), friday_hourly, MONDAY_MORNING).bars_behind == 1
    assert not judge(get_table("stocks_daily_clean"), friday_daily, MONDAY_MORNING).stale


def test_holidays_and_early_closes_expect_nothing_more() -> None:
    hourly = get_table("stocks_hourly_clean")
    # Thanksgiving 2026 (Thursday 26 November) has no session; Friday 27 closes at 13:00 New York
    wednesday_last = datetime(2026, 11, 25, 20, 30, tzinfo=UTC)
    assert not judge(hourly, wednesday_last, datetime(2026, 11, 26, 23, 0, tzinfo=UTC)).stale
    friday_last = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)  # 12:30-13:00, cut at the early close
    assert expected_last_bar(hourly, datetime(2026, 11, 29, tzinfo=UTC)) == friday_last
    assert bars_between(hourly, wednesday_last, friday_last) == 4  # 9:30 10:30 11:30 12:30 on Friday


def test_crypto_gap_count_is_arithmetic() -> None:
    one_min = get_table("crypto_1min_clean")
    a = datetime(2024, 1, 1, tzinfo=UTC)
    assert bars_between(one_min, a, a + timedelta(days=30)) == 30 * 1440
    assert bars_between(one_min, a, a) == 0


# -- the warehouse --------------------------------------------------------------------------------
def test_status_of_a_friday_warehouse_on_sunday(friday: Path) -> None:
    rep = warehouse_status(DeltaStore(friday), now=SUNDAY)
    by = {t.table: t for t in rep.tables}
    assert {t for t, s in by.items() if s.state == "fresh"} == {"stocks_daily_clean", "stocks_hourly_clean"}
    assert {t for t, s in by.items() if s.state == "stale"} == {"crypto_daily_clean", "crypto_hourly_clean"}
    assert by["stocks_1min_clean"].state == "missing" and not by["stocks_1min_clean"].monitored
    daily = by["stocks_daily_clean"]
    assert (daily.target, daily.covered, daily.current, daily.backlog) == (2_500, 4, 3, 1)
    assert daily.last_bar == datetime(2024, 6, 28, 13, 30, tzinfo=UTC)
    crypto = by["crypto_daily_clean"]
    assert (crypto.target, crypto.covered, crypto.backlog, crypto.bars_behind) == (150, 2, 2, 1)
    assert rep.stale


def test_the_coverage_plan_names_the_judged_tables(friday: Path) -> None:
    store = DeltaStore(friday)
    stocks = warehouse_status(store, now=SUNDAY, covered=["stocks_daily_clean", "stocks_hourly_clean"],
                              targets={"stocks_daily_clean": 4})
    assert [(t.table, t.target, t.state) for t in stocks.tables] == [
        ("stocks_daily_clean", 4, "fresh"), ("stocks_hourly_clean", 500, "fresh")]
    assert not stocks.stale
    with_1min = warehouse_status(store, now=SUNDAY, covered=["stocks_daily_clean", "stocks_1min_clean"])
    assert with_1min.stale  # a covered table without any bar is stale
    assert [t.table for t in with_1min.tables if t.failing] == ["stocks_1min_clean"]


def test_credits_today_are_the_sum_of_the_increments(friday: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "wh"
    shutil.copytree(friday, root)
    store = DeltaStore(root)
    today = SUNDAY.date()

    def add(vendor: str, day: date, credits: int, requests: int) -> None:
        minute = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
        row = {"vendor": [vendor], "day": [day], "minute": [minute], "credits": [credits], "requests": [requests],
               "updated_at": [minute]}
        store.append_support("api_usage", pa.table(row, schema=SUPPORT_SCHEMAS["api_usage"]))

    add("twelvedata", today, 30, 30)  # two processes spent in the same minute: both rows count
    add("twelvedata", today, 12, 12)
    add("twelvedata", today, -2, 0)  # a refund
    add("twelvedata", today - timedelta(days=1), 700, 700)  # yesterday: not today's
    add("binance", today, 40, 20)
    rep = warehouse_status(store, now=SUNDAY, budgets={"twelvedata": 800, "binance": None})
    credits = {c.vendor: c for c in rep.credits}
    assert (credits["twelvedata"].used_today, credits["twelvedata"].requests_today) == (40, 42)
    assert credits["twelvedata"].left_today == 760
    assert (credits["binance"].used_today, credits["binance"].left_today) == (40, None)


def test_json_shape_and_check_exit_codes(friday: Path, tmp_path: Path) -> None:
    base = ["status", "-w", str(friday), "--now", SUNDAY.isoformat()]
    done = runner.invoke(app, [*base, "--json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert set(doc) == {"now", "stale", "tables", "credits"} and doc["stale"] is True
    assert len(doc["tables"]) == 6
    keys = {"table", "monitored", "state", "target", "covered", "current", "backlog", "last_bar", "expected_bar",
            "lag_s", "bars_behind"}
    assert all(set(t) == keys for t in doc["tables"])
    crypto = next(t for t in doc["tables"] if t["table"] == "crypto_hourly_clean")
    assert crypto["state"] == "stale" and crypto["lag_s"] == 37 * 3600 and crypto["bars_behind"] == 37
    assert {c["vendor"] for c in doc["credits"]} == {"twelvedata", "binance"}
    assert all(set(c) == {"vendor", "used_today", "requests_today", "budget_per_day", "left_today"}
               for c in doc["credits"])

    assert runner.invoke(app, base).exit_code == 0  # stale, but no --check: informational
    done = runner.invoke(app, [*base, "--check"])
    assert done.exit_code == 1 and "stale: crypto_daily_clean, crypto_hourly_clean" in done.stdout
    assert runner.invoke(app, [*base, "--check", "-t", "stocks_daily_clean", "-t", "stocks_hourly_clean"]).exit_code == 0

    tiers = tmp_path / "marketlake.toml"  # [tiers] sets the targets; every table present is still judged
    tiers.write_text("[tiers]\nstocks_daily_clean = 4\nstocks_hourly_clean = 3\n")
    done = runner.invoke(app, [*base, "--check", "--json", "--config", str(tiers)])
    assert done.exit_code == 1, done.output
    targets = {t["table"]: t["target"] for t in json.loads(done.stdout)["tables"]}
    assert (targets["stocks_daily_clean"], targets["stocks_hourly_clean"], targets["crypto_daily_clean"]) == (4, 3, 150)

    # Monday 11:00 New York: the stock hourly table misses the 9:30 bar
    done = runner.invoke(app, ["status", "-w", str(friday), "--now", MONDAY_MORNING.isoformat(), "--check",
                               "-t", "stocks_hourly_clean"])
    assert done.exit_code == 1


def test_missing_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    done = runner.invoke(app, ["status", "-w", str(tmp_path / "nope")])
    assert done.exit_code != 0 and "no warehouse at" in str(done.exception)
