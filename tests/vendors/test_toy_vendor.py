"""A vendor registered from the test suite is ingested by the one verb and by `marketlake ingest toy`.

The toy vendor (tests/vendors/toy_vendor/: its own wire format, loopback server, client, fetch interface
and registry entry) needs no change anywhere else: registered with one call, it gets its `[toy]` config
section, its CLI command, resume through `ingest_state` with an earliest-bar floor, deactivation of an
unknown symbol, and dry-run plans.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from marketlake.config import MarketlakeConfig, load_config
from marketlake.errors import ConfigError
from marketlake.pipeline.ingest_state import read_states
from marketlake.pipeline.ingestion import ingest
from marketlake.pipeline.window import Window
from marketlake.sources import registry
from marketlake.storage import DeltaStore
from tests.vendors.toy_vendor import FakeToy, ToyState, register, toy_bars, unregister

TABLE = "crypto_daily_clean"


@pytest.fixture
def toy() -> Iterator[None]:
    register()
    yield
    unregister()


def _expected(state: ToyState, symbol: str) -> list[pd.Timestamp]:
    """Complete bars per the fake's own generator (the forming one excluded)."""
    now = pd.Timestamp(state.market_now)
    return [pd.Timestamp(b[0], unit="s", tz="UTC") for b in toy_bars(state, symbol)
            if pd.Timestamp(b[0], unit="s", tz="UTC") + pd.Timedelta(days=1) <= now]


def test_registry_lists_it_and_the_config_validates_its_section(toy: None, tmp_path: Path) -> None:
    assert "toy" in registry.vendors() and "toy" in registry.sources()
    cfg_file = tmp_path / "ml.toml"
    cfg_file.write_text("[toy]\nbase_url = 'http://127.0.0.1:1'\n")
    assert load_config(cfg_file).source_config("toy").base_url == "http://127.0.0.1:1"
    cfg_file.write_text("[toy]\nbase_ulr = 'x'\n")
    with pytest.raises(ConfigError, match=r"toy\.base_ulr.*unknown setting"):
        load_config(cfg_file)
    with pytest.raises(ConfigError, match="serves crypto"):
        ingest(DeltaStore(tmp_path / "wh"), "toy", "stocks_daily_clean", ["AAA"], config=MarketlakeConfig())


def test_ingest_backfills_resumes_updates_and_deactivates(toy: None, tmp_path: Path) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    listed = (today - timedelta(days=70)).date()
    state = ToyState(listings={"AAA/USD": listed, "BB/USD": listed + timedelta(days=30)},
                     market_now=today - timedelta(days=1) + timedelta(hours=5))  # yesterday's bar is forming
    store = DeltaStore(tmp_path / "wh")
    clock = lambda: state.market_now  # noqa: E731 - the vendor's clock and the verb's agree
    with FakeToy(state) as fake:
        cfg = MarketlakeConfig(toy={"base_url": fake.url})
        plan = ingest(store, "toy", TABLE, ["AAA/USD", "BB/USD"], config=cfg, dry_run=True, now=clock)
        assert state.requests == [] and plan.plan is not None and plan.plan.backfill == 2
        first = ingest(store, "toy", TABLE, ["AAA/USD", "BB/USD", "NOPE/USD"], config=cfg, now=clock)
        sent = len(state.requests)
        again = ingest(store, "toy", TABLE, ["AAA/USD", "BB/USD", "NOPE/USD"], config=cfg, now=clock)
        assert len(state.requests) == sent  # nothing due, NOPE inactive: not one request
        state.market_now = today + timedelta(hours=5)  # yesterday's bar has closed
        later = ingest(store, "toy", TABLE, ["AAA/USD", "BB/USD"], config=cfg, now=clock)
    # AAA: 69 complete bars = 2 pages of 40; BB: 39 = 1 page; NOPE: one 404
    assert first.requests == 4 and first.credits == 4 and plan.plan.requests >= 3
    assert set(first.not_found) == {"NOPE/USD"} and "404" in first.not_found["NOPE/USD"]
    assert again.requests == 0 and again.up_to_date == 2 and "NOPE/USD" in again.not_found
    assert later.requests == 2 and later.rows_changed >= 2  # one short page each, from the last stored bar
    bars = store.read(TABLE, columns=["symbol", "datetime", "close", "source"]).to_pandas()
    assert not bars.duplicated(["symbol", "datetime"]).any() and set(bars["source"]) == {"toy"}
    for sym in ("AAA/USD", "BB/USD"):
        got = sorted(bars.loc[bars.symbol == sym, "datetime"])
        assert got == _expected(state, sym), sym  # every complete bar, no gap
    rows = read_states(store, TABLE)
    assert rows["BB/USD"].source == "toy" and rows["BB/USD"].backfill_complete
    assert rows["BB/USD"].earliest_available == datetime.combine(listed + timedelta(days=30), datetime.min.time(),
                                                                 tzinfo=UTC)  # the floor, from the first page
    assert rows["NOPE/USD"].status == "error"
    master = store.read_support("symbols").to_pandas().set_index("symbol")
    assert master.at["NOPE/USD", "active"] == False and master.at["NOPE/USD", "inactive_reason"].startswith("toy")  # noqa: E712
    assert store.read_support("api_usage").to_pandas()["credits"].sum() == 4 + 2  # the shared budget's record


def test_an_explicit_window_reloads_exactly_it(toy: None, tmp_path: Path) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    state = ToyState(listings={"AAA/USD": (today - timedelta(days=30)).date()})
    store = DeltaStore(tmp_path / "wh")
    with FakeToy(state) as fake:
        res = ingest(store, "toy", TABLE, ["AAA/USD"], config=MarketlakeConfig(toy={"base_url": fake.url}),
                     window=Window.between(today - timedelta(days=10), today - timedelta(days=6)))
    stored = store.read(TABLE, columns=["datetime"]).to_pandas()["datetime"]
    assert res.requests == 1 and len(stored) == 5 and stored.min() == pd.Timestamp(today - timedelta(days=10))


def test_cli_command_exists_for_the_registered_vendor(toy: None, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from marketlake.cli.main import app

    state = ToyState(listings={"AAA/USD": date.today() - timedelta(days=12)})
    wh, cfg = tmp_path / "wh", tmp_path / "ml.toml"
    with FakeToy(state) as fake:
        cfg.write_text(f"[toy]\nbase_url = '{fake.url}'\n")
        runner = CliRunner()
        dry = runner.invoke(app, ["ingest", "toy", "-t", TABLE, "-s", "AAA/USD", "--dry-run", "--config", str(cfg),
                                  "-w", str(wh)])
        assert dry.exit_code == 0, dry.output
        assert "no credits spent" in dry.output and state.requests == []
        monkeypatch.setenv("TOY_BASE_URL", fake.url)  # the vendor's own environment override
        cfg.write_text("[toy]\nbase_url = 'http://127.0.0.1:1'\n")
        res = runner.invoke(app, ["ingest", "toy", "-t", TABLE, "-s", "AAA/USD,NOPE/USD", "--config", str(cfg),
                                  "-w", str(wh)])
    assert res.exit_code == 0, res.output
    assert f"{TABLE}: 2 symbols" in res.output and "inactive NOPE/USD: toy 404" in res.output
    stored = DeltaStore(wh).read(TABLE, columns=["datetime"]).to_pandas()["datetime"]
    assert sorted(stored) == _expected(state, "AAA/USD")


def test_the_ingestion_path_imports_no_vendor_internals() -> None:
    """The verb, the config, quality --fix and the CLI's ingest commands only ever ask the registry."""
    import marketlake

    root = Path(marketlake.__file__).parent
    checked = [root / "config.py", root / "cli" / "ingest_vendor.py", *(root / "pipeline").glob("*.py"),
               *(root / "quality").glob("*.py")]
    for path in checked:
        text = path.read_text()
        assert "sources.twelvedata" not in text and "sources.binance" not in text, path
    for path in (root / "pipeline" / "ingestion.py", root / "pipeline" / "window.py", root / "config.py"):
        assert not _vendor_names_in_code(path.read_text()), path  # not even by name (docstrings aside)


def _vendor_names_in_code(source: str) -> list[str]:
    """String literals and identifiers (docstrings and comments excluded) naming a built-in vendor."""
    import ast

    tree = ast.parse(source)
    docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}  # docstrings, attribute docs
    words = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
             and id(n) not in docs]
    words += [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]
    words += [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)]
    return [w for w in words if "twelvedata" in w.lower() or "binance" in w.lower()]


def test_a_longer_history_target_extends_older_bars_in_one_piece(toy: None, tmp_path: Path) -> None:
    """`Window.up_to_date(history_days=...)` (a coverage entry's `history`): 20 days, then 60, then the table's."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    state = ToyState(listings={"AAA/USD": (today - timedelta(days=70)).date()}, market_now=today + timedelta(hours=5))
    store = DeltaStore(tmp_path / "wh")
    clock = lambda: state.market_now  # noqa: E731
    with FakeToy(state) as fake:
        cfg = MarketlakeConfig(toy={"base_url": fake.url})
        short = ingest(store, "toy", TABLE, ["AAA/USD"], config=cfg, now=clock, window=Window.up_to_date(history_days=20))
        assert not read_states(store, TABLE)["AAA/USD"].backfill_complete  # complete for 20 days is not complete
        longer = ingest(store, "toy", TABLE, ["AAA/USD"], config=cfg, now=clock,
                        window=Window.up_to_date(history_days=60))
        full = ingest(store, "toy", TABLE, ["AAA/USD"], config=cfg, now=clock)
        again = ingest(store, "toy", TABLE, ["AAA/USD"], config=cfg, now=clock)
    stored = sorted(store.read(TABLE, columns=["datetime"]).to_pandas()["datetime"])
    assert stored == _expected(state, "AAA/USD")  # one range, listing to yesterday: no gap, no duplicate
    assert short.requests == 1 and longer.requests == 2 and full.requests == 1 and again.requests == 0
    row = read_states(store, TABLE)["AAA/USD"]
    assert row.backfill_complete and row.earliest_available == datetime.combine(
        (today - timedelta(days=70)).date(), datetime.min.time(), tzinfo=UTC)
