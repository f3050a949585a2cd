"""Named universes: the shipped Nasdaq-100 list, config overrides, and `--universe` end to end."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from marketlake.config import MarketlakeConfig, UniverseConfig
from marketlake.errors import ConfigError
from marketlake.sources.twelvedata.universes import NASDAQ100_FILE, resolve_universe
from marketlake.storage import DeltaStore
from tests.vendors.conftest import API_KEY
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData

TICKER = re.compile(r"^[A-Z]{1,5}$")  # Nasdaq symbols: 1-5 capitals (share classes have their own symbol)


def _header(path: str) -> str:
    return "".join(line for line in Path(path).read_text().splitlines(keepends=True) if line.startswith("#"))


def test_nasdaq100_resolves_to_about_100_valid_unique_tickers() -> None:
    symbols = resolve_universe("nasdaq100", MarketlakeConfig())
    assert 100 <= len(symbols) <= 103 and len(set(symbols)) == len(symbols)
    assert all(TICKER.match(s) for s in symbols), [s for s in symbols if not TICKER.match(s)]
    assert {"AAPL", "MSFT", "NVDA", "GOOG", "GOOGL"} <= set(symbols)  # both Alphabet share classes
    header = _header(NASDAQ100_FILE)
    assert re.search(r"As of: \d{4}-\d{2}-\d{2}", header) and "Source:" in header


def test_nasdaq100_symbols_are_listed_in_the_reference_files(shared_data: Path) -> None:
    """Every constituent is a real listing per NASDAQ Trader's symbol directories (a newer snapshot)."""
    listed: set[str] = set()
    for name, column in (("nasdaq_listed.csv", "Symbol"), ("other_listed.csv", "ACT Symbol")):
        with (shared_data / "reference" / name).open(newline="") as fh:
            listed |= {row[column] for row in csv.DictReader(fh) if row.get(column)}
    symbols = resolve_universe("nasdaq100", MarketlakeConfig())
    missing = sorted(set(symbols) - listed)
    assert len(missing) <= 2, missing  # the directories postdate the list: a constituent may since be acquired


def test_config_universe_wins_and_bad_column_is_clear(tmp_path: Path) -> None:
    own = tmp_path / "ndx.csv"
    own.write_text("# my list\nTicker,Name\nAAPL,Apple\nMSFT,Microsoft\nAAPL,dup\n")
    cfg = MarketlakeConfig(universes={"nasdaq100": UniverseConfig(file=str(own), column="Ticker")},
                           tiers={"stocks_daily_clean": 1})
    assert resolve_universe("nasdaq100", cfg) == ["AAPL", "MSFT"]
    assert resolve_universe("nasdaq100", cfg, table="stocks_daily_clean") == ["AAPL"]  # cut to the tier
    bad = MarketlakeConfig(universes={"x": UniverseConfig(file=str(own), column="Symbol")})
    with pytest.raises(ConfigError, match="no column 'Symbol'"):
        resolve_universe("x", bad)


def test_cli_ingest_twelvedata_universe_nasdaq100(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from marketlake.cli.main import app

    with open(NASDAQ100_FILE, newline="") as fh:  # the data file itself, read without our resolver
        constituents = [r["Symbol"] for r in csv.DictReader(line for line in fh if not line.startswith("#"))]
    now = datetime.now(UTC)  # the CLI runs on the real clock
    gone = "ANSS"  # acquired after the list's date: the vendor answers 404 for it
    state = FakeState(api_key=API_KEY, credits_per_minute=400, minute_seconds=0.25, market_now=now,
                      listings={s: (now - timedelta(days=20)).date() for s in constituents if s != gone})
    (tmp_path / "ml.toml").write_text("[twelvedata]\nplan = 'custom'\ncredits_per_minute = 400\n")
    with FakeTwelveData(state) as fake:
        monkeypatch.setenv("TWELVEDATA_API_KEY", API_KEY)
        monkeypatch.setenv("TWELVEDATA_BASE_URL", fake.url)
        monkeypatch.setenv("MARKETLAKE_MINUTE_SECONDS", "0.25")
        res = CliRunner().invoke(app, ["ingest", "twelvedata", "--table", "stocks_daily_clean", "--universe",
                                       "nasdaq100", "--config", str(tmp_path / "ml.toml"),
                                       "-w", str(tmp_path / "wh")])
    assert res.exit_code == 0, res.output
    assert state.violations == 0 and API_KEY not in res.output
    asked = {s for path, q in state.requests if path == "/time_series" for s in q["symbol"].split(",")}
    assert set(constituents) - {gone} <= asked  # every constituent was requested
    stored = DeltaStore(tmp_path / "wh").read("stocks_daily_clean", columns=["symbol"]).to_pandas()
    assert set(stored["symbol"]) == set(constituents) - {gone}
    assert f"inactive {gone}" in res.output and "404" in res.output
