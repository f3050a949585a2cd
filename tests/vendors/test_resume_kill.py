"""`kill -9` during `marketlake ingest twelvedata`, then re-run: no duplicate, no gap, no credit spent twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from marketlake.pipeline.vendor_ingest import PREFETCH
from marketlake.storage import DeltaStore
from tests.vendors.conftest import API_KEY
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData

SYMBOLS = ["AAPL", "MSFT", "SPY", "NVDA", "AMZN", "META"]


def _run(url: str, wh: Path, *, kill_after_loads: int | None = None) -> int:
    """One CLI run; with `kill_after_loads`, SIGKILL once it has reported that many page loads (a
    load is reported after its commit, so the bars are stored; its ingest_state rows may not be).

    Killed on what the run has done, not after a sleep: under load a fixed 4 s sleep ended the run
    while it was still importing, so the re-run had nothing to resume and the test proved nothing.
    """
    env = {**os.environ, "TWELVEDATA_API_KEY": API_KEY, "TWELVEDATA_BASE_URL": url,
           "MARKETLAKE_MINUTE_SECONDS": "0.5", "MARKETLAKE_WAREHOUSE": str(wh)}
    cmd = [sys.executable, "-m", "marketlake.cli.main", "ingest", "twelvedata", "--table", "crypto_hourly_clean",
           "--symbols", ",".join(s + "/USD" for s in SYMBOLS[:2]) + ",NOPE/USD", "--plan", "custom", "--config",
           str(wh.parent / "ml.toml")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = ""
    if kill_after_loads is not None:
        assert proc.stdout is not None
        loads = 0
        while loads < kill_after_loads and (line := proc.stdout.readline()):  # bounded by pytest's timeout
            seen += line
            loads += " loaded " in line
        assert loads == kill_after_loads, seen
        proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=280)  # a deadline, not a speed test: a run is ~30 s CPU
    assert API_KEY not in seen + out
    return proc.returncode


@pytest.mark.timeout(900)  # three CLI runs writing ~27,000 rows: several minutes on a loaded 2-core machine


def test_kill_9_then_rerun_finishes_cleanly(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    (tmp_path / "ml.toml").write_text("[twelvedata]\nplan = 'custom'\ncredits_per_minute = 1\n")
    state = FakeState(api_key=API_KEY, credits_per_minute=1, minute_seconds=0.5, market_now=now,
                      listings={"AAPL/USD": date(2024, 1, 1), "MSFT/USD": date(2024, 1, 1)})
    state.listings = {"AAPL/USD": (now - pd.Timedelta(days=800)).date(), "MSFT/USD": (now - pd.Timedelta(days=800)).date()}
    wh = tmp_path / "wh"
    with FakeTwelveData(state) as fake:
        rc = _run(fake.url, wh, kill_after_loads=1)  # mid-backfill: after the first page is stored
        assert rc == -9
        killed_credits = state.credits_total
        assert DeltaStore(wh).read("crypto_hourly_clean", columns=["symbol"]).num_rows > 0  # a page to resume from
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
