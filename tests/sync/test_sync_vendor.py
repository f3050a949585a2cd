"""`sync` knows no vendor: a vendor registered from the test suite is covered, backfilled and updated like any."""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from marketlake.config import MarketlakeConfig
from marketlake.errors import ConfigError
from marketlake.pipeline.ingestion import ingest
from marketlake.pipeline.sync.engine import EventLog, Syncer
from marketlake.storage import DeltaStore
from tests.vendors.toy_vendor import FakeToy, ToyState, register, toy_bars, unregister

TABLE = "crypto_daily_clean"


class StateClock:
    """The sync clock reads the fake vendor's market time (both agree on which bar is complete)."""

    def __init__(self, state: ToyState) -> None:
        self.state = state

    def now(self) -> datetime:
        return self.state.market_now

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(0)


@pytest.fixture
def toy() -> Iterator[None]:
    register()
    yield
    unregister()


def _complete(state: ToyState, symbol: str) -> list[pd.Timestamp]:
    now = pd.Timestamp(state.market_now)
    stamps = [pd.Timestamp(b[0], unit="s", tz="UTC") for b in toy_bars(state, symbol)]
    return [t for t in stamps if t + pd.Timedelta(days=1) <= now]


def test_sync_backfills_then_updates_a_registered_vendor_and_sends_nothing_when_nothing_is_due(
        toy: None, tmp_path: Path) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    listed = (today - timedelta(days=50)).date()
    state = ToyState(listings={"AAA/USD": listed, "BB/USD": listed}, market_now=today - timedelta(hours=19))
    store = DeltaStore(tmp_path / "wh")
    with FakeToy(state) as fake:
        cfg = MarketlakeConfig.model_validate({
            "toy": {"base_url": fake.url},
            "coverage": {TABLE: {"source": "toy", "universe": ["AAA/USD", "BB/USD"]}}})
        dry = ingest(store, "toy", TABLE, ["AAA/USD"], config=cfg, dry_run=True, now=lambda: state.market_now)
        assert [(o.action, o.last_bar) for o in dry.outcomes.values()] == [("backfill", None)]

        first = Syncer(store, cfg, clock=StateClock(state), log=EventLog("text", echo=lambda _l: None)).run_pass()
        assert [(r.table, r.source, r.action, r.symbols, r.status) for r in first.records] == [
            (TABLE, "toy", "backfill", 2, "ok")]
        assert first.records[0].rows == 2 * len(_complete(state, "AAA/USD")) > 0
        sent = len(state.requests)
        again = Syncer(store, cfg, clock=StateClock(state), log=EventLog("text", echo=lambda _l: None)).run_pass()
        assert not again.records and len(state.requests) == sent  # nothing due: not one request

        state.market_now += timedelta(days=1)  # one more daily bar has closed
        dry = ingest(store, "toy", TABLE, ["AAA/USD"], config=cfg, dry_run=True, now=lambda: state.market_now)
        o = dry.outcomes["AAA/USD"]
        assert o.action == "update" and o.last_bar == _complete(state, "AAA/USD")[-2].to_pydatetime()
        later = Syncer(store, cfg, clock=StateClock(state), log=EventLog("text", echo=lambda _l: None)).run_pass()
        assert [(r.action, r.symbols, r.status) for r in later.records] == [("update", 2, "ok")]
    bars = store.read(TABLE, columns=["symbol", "datetime", "source"]).to_pandas()
    assert not bars.duplicated(["symbol", "datetime"]).any() and set(bars["source"]) == {"toy"}
    for sym in ("AAA/USD", "BB/USD"):
        assert sorted(bars.loc[bars.symbol == sym, "datetime"]) == _complete(state, sym)  # no gap, no duplicate
    # one budget for the pass, persisted: what the vendor was asked is what api_usage recorded
    assert store.read_support("api_usage").to_pandas()["credits"].sum() == len(state.requests)


def test_a_coverage_source_must_be_a_vendor_serving_the_table(toy: None) -> None:
    """The registry says who serves what: the toy vendor (daily crypto only) is refused for hourly bars."""
    from marketlake.coverage.plan import covered_tables

    ok = MarketlakeConfig.model_validate({"coverage": {TABLE: {"source": "toy", "universe": ["AAA/USD"]}}})
    assert [c.source for c in covered_tables(ok)] == ["toy"]
    bad = MarketlakeConfig.model_validate({"coverage": {"crypto_hourly_clean": {"source": "toy", "universe": ["A"]}}})
    with pytest.raises(ConfigError, match="cannot serve"):
        covered_tables(bad)


def test_sync_and_coverage_code_names_no_vendor() -> None:
    """String literals and identifiers in sync's and coverage planning's code (docstrings aside) name no vendor."""
    import marketlake

    root = Path(marketlake.__file__).parent
    for path in [*(root / "pipeline" / "sync").glob("*.py"), root / "coverage" / "plan.py"]:
        tree = ast.parse(path.read_text())
        docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        words = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                 and id(n) not in docs]
        words += [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]
        words += [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)]
        assert not [w for w in words if "twelvedata" in w.lower() or "binance" in w.lower()], path
