"""`ingest twelvedata|binance --dry-run`: what would be fetched and what it would cost; nothing is sent."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from marketlake.pipeline.vendor_ingest import StoreUsage
from marketlake.schema import get_table
from marketlake.storage import DeltaStore
from tests.vendors.conftest import API_KEY, MINUTE_S
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData


def _run(args: list[str]):  # type: ignore[no-untyped-def]
    from marketlake.cli.main import app

    return CliRunner().invoke(app, args)


def test_twelvedata_dry_run_sends_nothing_and_bounds_the_real_spend(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    listings = {"AAPL": date(2024, 1, 2), "MSFT": date(2024, 1, 2), "SPY": date(2024, 1, 2)}
    state = FakeState(api_key=API_KEY, credits_per_minute=50, minute_seconds=MINUTE_S,
                      market_now=datetime.now(UTC), listings=listings)
    wh = tmp_path / "wh"
    cfg = tmp_path / "ml.toml"
    cfg.write_text("[twelvedata]\nplan = 'custom'\ncredits_per_minute = 50\n")
    common = ["--table", "stocks_daily_clean", "--symbols", "AAPL,MSFT,SPY", "--config", str(cfg), "-w", str(wh)]
    with FakeTwelveData(state) as fake:
        monkeypatch.setenv("TWELVEDATA_API_KEY", API_KEY)
        monkeypatch.setenv("TWELVEDATA_BASE_URL", fake.url)
        monkeypatch.setenv("MARKETLAKE_MINUTE_SECONDS", str(MINUTE_S))
        dry = _run(["ingest", "twelvedata", *common, "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert state.requests == [] and state.credits_total == 0
        assert "nothing was fetched or written, no credits spent" in dry.output
        assert not (wh / "stocks_daily_clean").exists() and not (wh / "api_usage").exists()
        row = next(line for line in dry.output.splitlines() if line.count("│") >= 9 and "3" in line)
        cells = [c.strip().replace(",", "") for c in row.strip("│ ").split("│")]
        symbols, backfill, _extend, _update, _ok, _skipped, _requests, credits = map(int, cells[:8])
        assert (symbols, backfill) == (3, 3)
        real = _run(["ingest", "twelvedata", *common])
        assert real.exit_code == 0, real.output
        spent = state.credits_total
        assert 0 < spent <= credits  # the estimate never understates what a run spends
        asked = len(state.requests)
        again = _run(["ingest", "twelvedata", *common, "--dry-run"])
        assert again.exit_code == 0 and len(state.requests) == asked
        cells = [c.strip() for c in next(line for line in again.output.splitlines()
                                         if line.count("│") >= 9 and line.strip("│ ")[:1].isdigit()).strip("│ ").split("│")]
        assert cells[1] == "0"  # nothing left to backfill after the real run
    assert StoreUsage(DeltaStore(wh)).credits_on("twelvedata", datetime.now(UTC).date()) == spent


def test_binance_dry_run_counts_pages_from_the_history_target(tmp_path: Path) -> None:
    done = _run(["ingest", "binance", "--table", "crypto_hourly_clean", "--symbols", "BTCUSDT,ETH/USD",
                 "--dry-run", "-w", str(tmp_path / "wh")])
    assert done.exit_code == 0, done.output
    spec = get_table("crypto_hourly_clean")
    per_symbol = -(-(spec.history_days * 24 + 1) // 1000)  # hourly bars to the target, 1,000 per page
    row = next(line for line in done.output.splitlines() if line.count("│") >= 9 and line.strip("│ ")[:1].isdigit())
    cells = [int(c.strip().replace(",", "")) for c in row.strip("│ ").split("│")]
    assert cells[0] == 2 and cells[1] == 2 and cells[6] == 2 * per_symbol and cells[7] == 2 * 2 * per_symbol
    assert "no weight spent" in done.output
