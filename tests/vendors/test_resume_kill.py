"""`kill -9` during `marketlake ingest twelvedata`, then re-run: no duplicate, no gap, no credit spent twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from marketlake.pipeline.vendor_ingest import PREFETCH
from marketlake.storage import DeltaStore
from tests.vendors.conftest import API_KEY
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData

SYMBOLS = ["AAPL", "MSFT", "SPY", "NVDA", "AMZN", "META"]


def _run(url: str, wh: Path, *, kill_after: float | None = None) -> int:
    env = {**os.environ, "TWELVEDATA_API_KEY": API_KEY, "TWELVEDATA_BASE_URL": url,
           "MARKETLAKE_MINUTE_SECONDS": "0.5", "MARKETLAKE_WAREHOUSE": str(wh)}
    cmd = [sys.executable, "-m", "marketlake.cli.main", "ingest", "twelvedata", "--table", "crypto_hourly_clean",
           "--symbols", ",".join(s + "/USD" for s in SYMBOLS[:2]) + ",NOPE/USD", "--plan", "custom", "--config",
           str(wh.parent / "ml.toml")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if kill_after is not None:
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)
    assert API_KEY not in out
    return proc.returncode


def test_kill_9_then_rerun_finishes_cleanly(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    (tmp_path / "ml.toml").write_text("[twelvedata]\nplan = 'custom'\ncredits_per_minute = 1\n")
    state = FakeState(api_key=API_KEY, credits_per_minute=1, minute_seconds=0.5, market_now=now,
                      listings={"AAPL/USD": date(2024, 1, 1), "MSFT/USD": date(2024, 1, 1)})
    state.listings = {"AAPL/USD": (now - pd.Timedelta(days=800)).date(), "MSFT/USD": (now - pd.Timedelta(days=800)).date()}
    wh = tmp_path / "wh"
    with FakeTwelveData(state) as fake:
        rc = _run(fake.url, wh, kill_after=4.0)  # mid-backfill: one page per vendor minute
        assert rc == -9
        killed_credits = state.credits_total
        assert _run(fake.url, wh) == 0
        credits_after = state.credits_total
        assert _run(fake.url, wh) == 0  # an idempotent re-run
    bars = DeltaStore(wh).read("crypto_hourly_clean", columns=["symbol", "datetime"]).to_pandas()
    assert not bars.duplicated().any()
    for sym, g in bars.groupby("symbol"):
        steps = g["datetime"].sort_values().diff().dropna().unique()
        assert list(steps) == [pd.Timedelta(hours=1)], sym  # no gap
        assert g["datetime"].min() <= pd.Timestamp(now) - pd.Timedelta(days=366) + pd.Timedelta(hours=1)
    # clean cost: 3 first pages (NOPE's is a 404) + for AAPL and MSFT /earliest_timestamp (their first page
    # was full) and a second page (8,784 bars in all);
    # a kill may waste the pages fetched but not stored: the one being loaded and PREFETCH more
    clean = 3 + 2 * 2
    assert credits_after <= clean + 1 + PREFETCH, (killed_credits, credits_after)
    assert state.violations == 0
    assert state.credits_total - credits_after <= 2  # the re-run only refreshes the overlap (if a bar closed)
