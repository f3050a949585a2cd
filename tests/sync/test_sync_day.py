"""A simulated trading-day slice: `sync --watch` keeps a scaled-down hybrid plan current on both vendors."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc

from marketlake.config import load_config
from marketlake.coverage.plan import covered_tables
from marketlake.pipeline.sync.due import last_complete_bar
from marketlake.schema import TABLES
from marketlake.storage import DeltaStore
from tests.sync.sim import market, run_sync, sim_clock
from tests.vendors.conftest import API_KEY
from tests.vendors.fake_binance import BinanceState
from tests.vendors.fake_twelvedata import FakeState, make_values

START = datetime(2024, 11, 5, 15, 25, tzinfo=UTC)  # Tuesday 10:25 New York: the 09:30 hourly bar closes at 15:30Z
SPEED = 12.0  # one simulated minute per five wall seconds (a pass takes seconds on a loaded machine)
WATCH_MINUTES = 3

PLAN = """
[twelvedata]
plan = "custom"
credits_per_minute = 40
credits_per_day = 100000

[coverage.stocks_daily_clean]
source = "twelvedata"
universe = ["AAPL", "MSFT", "SPY"]
history = "40d"

[coverage.stocks_hourly_clean]
source = "twelvedata"
universe = { rule = "top", n = 2, by = "median_dollar_volume_20", from = "stocks_daily_clean" }
history = "7d"

[coverage.stocks_1min_clean]
source = "twelvedata"
universe = { rule = "top", n = 1, by = "median_dollar_volume_20", from = "stocks_daily_clean" }
history = "1d"

[coverage.crypto_daily_clean]
source = "binance"
universe = ["BTC/USD", "ETH/USD"]
history = "30d"

[coverage.crypto_hourly_clean]
source = "binance"
universe = ["BTC/USD", "ETH/USD"]
history = "3d"

[coverage.crypto_1min_clean]
source = "binance"
universe = ["BTC/USD"]
history = "1d"
"""


def _fakes() -> tuple[FakeState, BinanceState]:
    td = FakeState(api_key=API_KEY, credits_per_minute=40, minute_seconds=0.25,
                   listings={s: datetime(2024, 9, 20).date() for s in ("AAPL", "MSFT", "SPY")})
    bn = BinanceState(listings={"BTCUSDT": datetime(2024, 10, 20, tzinfo=UTC),
                                "ETHUSDT": datetime(2024, 10, 20, tzinfo=UTC)}, minute_seconds=0.25)
    return td, bn


def _td_credits_in_usage(store: DeltaStore) -> int:
    usage = store.read_support("api_usage")
    return int(pc.sum(usage.filter(pc.equal(usage["vendor"], "twelvedata"))["credits"]).as_py() or 0)


def _assert_contiguous(store: DeltaStore, td: FakeState) -> None:
    """No duplicate and no gap: each symbol's bars are exactly the vendor's grid between its first and last."""
    for name in TABLES:
        if not store.exists(name):
            continue
        bars = store.read(name, columns=["symbol", "datetime"]).to_pandas()
        assert not bars.duplicated().any(), name
        spec = TABLES[name]
        for sym, g in bars.groupby("symbol"):
            got = g["datetime"].sort_values().reset_index(drop=True)
            if spec.asset == "crypto":
                assert set(got.diff().dropna()) <= {spec.bar_interval}, (name, sym)
                continue
            wire = [v["datetime"] for v in make_values(td, str(sym), spec.vendor_interval)]
            if spec.timeframe == "daily":  # wire dates; stored at the session open
                days = got.dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d").tolist()
                assert days == [d for d in wire if days[0] <= d <= days[-1]], (name, sym)
                continue
            grid = pd.to_datetime(pd.Series(wire)).dt.tz_localize("America/New_York").dt.tz_convert("UTC")
            grid = grid[(grid >= got.iloc[0]) & (grid <= got.iloc[-1])].reset_index(drop=True)
            assert got.astype("datetime64[us, UTC]").tolist() == grid.astype("datetime64[us, UTC]").tolist(), (name, sym)


def _last_bars(store: DeltaStore, table: str) -> pd.Series:
    return store.read(table, columns=["symbol", "datetime"]).to_pandas().groupby("symbol")["datetime"].max()


def test_watch_keeps_a_hybrid_plan_current(tmp_path: Path) -> None:
    cfg_path = tmp_path / "marketlake.toml"
    cfg_path.write_text(PLAN)
    covered = covered_tables(load_config(cfg_path))
    wh = tmp_path / "wh"
    store = DeltaStore(wh)
    td, bn = _fakes()
    clock = sim_clock(START, SPEED)
    with market(td, bn, clock) as m:
        # 1. the first sync backfills every tier: the rule tiers rank the daily one once it has data
        t0 = time.perf_counter()
        first = run_sync(m, cfg_path, wh, "--log-format", "json")
        print(f"first sync (backfill): {time.perf_counter() - t0:.1f} s wall")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert all(store.exists(c.name) and len(_last_bars(store, c.name)) == len(
            c.universe) if isinstance(c.universe, list) else c.universe.n for c in covered)  # type: ignore[union-attr]
        backfill_credits = td.credits_total
        assert backfill_credits == 3 + 2 + 1  # one page per symbol: every history here is under 5,000 bars
        # 2. the watch keeps them current while the market moves
        watch_from, t0 = clock.now(), time.perf_counter()
        out = run_sync(m, cfg_path, wh, "--watch", "--stop-after", f"{WATCH_MINUTES}min", "--log-format", "json")
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        watched_until = clock.now()
        print(f"watch: {time.perf_counter() - t0:.1f} s wall for {WATCH_MINUTES} simulated minutes")
        events = [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
        last_pass = datetime.fromisoformat(next(e["last_pass"] for e in events if e["event"] == "stop"))
        assert last_pass >= watch_from + timedelta(minutes=WATCH_MINUTES) - timedelta(minutes=5)
        for c in covered:  # every table due at the last pass was brought up to it (or is within its retry gap)
            expected = last_complete_bar(c.spec, last_pass - c.cadence)
            last = _last_bars(store, c.name)
            assert (last >= pd.Timestamp(expected)).all(), (c.name, last.to_dict(), expected)
        assert td.violations == 0 and bn.violations == 0
        actions = [e for e in events if e["event"] == "action"]
        assert actions and all(a["status"] == "ok" for a in actions), actions
        assert {a["action"] for a in actions} == {"update"}  # nothing left to backfill
        assert {"stocks_1min_clean", "crypto_1min_clean"} <= {a["table"] for a in actions}  # minutes closed
        # credits: what the vendor counted = what api_usage recorded = what sync_runs says, and within the
        # plan: the 1-minute tier at most one credit per closed minute, the hourly tier one per closed bar
        runs = store.read_support("sync_runs").to_pandas()
        td_runs = runs[runs["source"] == "twelvedata"]
        assert td.credits_total == _td_credits_in_usage(store) == int(td_runs["credits"].sum())
        minutes = math.ceil((watched_until - watch_from).total_seconds() / 60)
        assert 1 <= td.credits_total - backfill_credits <= minutes + 1 + 2
        # 3. the market stops: a sync brings everything current, and a second one has nothing to do
        m.freeze(clock.now())
        assert m.clock is not None
        frozen = m.clock.now()
        assert run_sync(m, cfg_path, wh).returncode == 0
        td_requests, bn_requests = len(td.requests), len(bn.requests)
        again = run_sync(m, cfg_path, wh)
        assert again.returncode == 0 and "nothing due" in again.stdout
        assert (len(td.requests), len(bn.requests)) == (td_requests, bn_requests)  # no request at all
    for c in covered:
        last = _last_bars(store, c.name)
        assert (last == pd.Timestamp(last_complete_bar(c.spec, frozen))).all(), (c.name, last.to_dict())
    _assert_contiguous(store, td)
    assert td.violations == 0 and bn.violations == 0
