"""A vendor backfill with `--executor dask` stores the same table as the local executor, for the same requests.

Real parts on both sides: the TwelveData fake on loopback (real HTTP, the vendor's wire format and credit
minute), the `marketlake ingest twelvedata` command, Delta tables on disk, a local Dask cluster of worker
processes. The oracle is the same command with the local executor against an identical fake: every
stored value but `updated_at` (the load's clock) must be equal, and the vendor must have been asked
exactly the same things (fetching stays on the driver, under the one credit budget).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.pipeline.executors import DaskExecutor
from marketlake.pipeline.memory_budget import BASE_BYTES, BYTES_PER_ROW, MIB
from marketlake.schema import SUPPORT_SCHEMAS
from marketlake.storage import DeltaStore
from tests.vendors.conftest import API_KEY, MINUTE_S
from tests.vendors.fake_twelvedata import FakeState, FakeTwelveData

pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install 'marketlake[dask]')")

T = "stocks_daily_clean"
LISTINGS = {"AAPL": date(2025, 6, 2), "MSFT": date(2025, 6, 2), "NVDA": date(2025, 9, 2), "JPM": date(2025, 6, 2),
            "XOM": date(2025, 7, 1), "SPY": date(2025, 6, 2)}
SECTORS = {"AAPL": "Information Technology", "MSFT": "Information Technology", "NVDA": "Information Technology",
           "JPM": "Financials", "XOM": "Energy"}
# about 700 bars a group: every sector's symbols land in different groups of the Dask load
BUDGET = f"{(BASE_BYTES + 700 * BYTES_PER_ROW) / MIB:.2f}M"


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskExecutor]:
    """One local Dask cluster of two worker processes for the module (each start costs seconds)."""
    with DaskExecutor(workers=2) as ex:
        ex.warm_up()
        yield ex


def _seed_master(store: DeltaStore) -> None:
    """Sectors in the symbol master (as `symbols load` leaves them), so rs_sector_20 has peers."""
    schema = SUPPORT_SCHEMAS["symbols"]
    rows = [{**{n: None for n in schema.names}, "symbol": s, "sector": sec, "active": True,
             "metadata_source": "test", "updated_at": datetime(2025, 1, 1, tzinfo=UTC)} for s, sec in SECTORS.items()]
    store.upsert_support("symbols", pa.Table.from_pylist(rows, schema=schema), keys=["symbol"])


def _backfill(root: Path, cfg: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[FakeState, str]:
    store = DeltaStore(root)
    _seed_master(store)
    state = FakeState(api_key=API_KEY, credits_per_minute=2, minute_seconds=MINUTE_S,
                      market_now=datetime.now(UTC), listings=dict(LISTINGS))
    with FakeTwelveData(state) as fake:
        monkeypatch.setenv("TWELVEDATA_API_KEY", API_KEY)
        monkeypatch.setenv("TWELVEDATA_BASE_URL", fake.url)
        monkeypatch.setenv("MARKETLAKE_MINUTE_SECONDS", str(MINUTE_S))
        res = CliRunner().invoke(app, ["ingest", "twelvedata", "-t", T, "-s", ",".join(LISTINGS), "--config",
                                       str(cfg), "-w", str(root), *extra])
    assert res.exit_code == 0, (res.output, res.exception)
    assert state.violations == 0
    return state, res.output


def _asked(state: FakeState) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """Each request the vendor got: path and parameters without the key, in order."""
    return [(path, tuple(sorted((k, v) for k, v in q.items() if k != "apikey"))) for path, q in state.requests]


def _table(root: Path) -> pd.DataFrame:
    rows = DeltaStore(root).read(T).to_pandas().drop(columns=["updated_at"])
    return rows.sort_values(["symbol", "datetime"]).reset_index(drop=True)


def test_vendor_backfill_on_dask_equals_the_local_executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           cluster: DaskExecutor) -> None:
    cfg = tmp_path / "ml.toml"
    cfg.write_text("[twelvedata]\nplan = 'custom'\ncredits_per_minute = 2\n")  # two symbols a request
    local_state, _ = _backfill(tmp_path / "local", cfg, monkeypatch)
    dask_state, out = _backfill(tmp_path / "dask", cfg, monkeypatch, "--executor", "dask", "--scheduler", cluster._client.scheduler.address,
                                "--memory-budget", BUDGET)
    assert "6 symbols" in out
    assert _asked(dask_state) == _asked(local_state) and len(_asked(local_state)) >= 3  # three batches of two
    assert dask_state.credits_total == local_state.credits_total
    a, b = _table(tmp_path / "local"), _table(tmp_path / "dask")
    assert set(a["symbol"]) == set(LISTINGS) and len(a) > 600
    assert a["rs_sector_20"].notna().sum() > 100 and a["beta_60"].notna().sum() > 100  # peers really refreshed
    pd.testing.assert_frame_equal(a, b, check_exact=True)  # every stored value, all 97 fields
    # the Dask run committed its pages and the peers' refresh through the grouped plan, and left nothing stale
    history = DeltaStore(tmp_path / "dask").table(T).history()
    assert any(h.get("operation") == "grouped_load" or "grouped_load" in str(h) for h in history)
    states = DeltaStore(tmp_path / "dask").read_support("ingest_state").to_pandas().set_index("symbol")
    assert states.at["*", "status"] == "peers_fresh"


def test_sync_on_dask_equals_the_local_executor(tmp_path: Path, cluster: DaskExecutor) -> None:
    """`sync` (a backfill pass, then an update pass) with the loads on a Dask worker: the same table and the
    same vendor requests as the local executor (the toy vendor registered by the test suite)."""
    from datetime import timedelta

    from marketlake.config import MarketlakeConfig
    from marketlake.pipeline.sync.engine import EventLog, Syncer
    from tests.sync.test_sync_vendor import StateClock
    from tests.vendors.toy_vendor import FakeToy, ToyState, register, unregister

    table = "crypto_daily_clean"
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    listed = (today - timedelta(days=90)).date()
    register()
    try:
        got = {}
        for name in ("local", "dask"):
            state = ToyState(listings={"AAA/USD": listed, "BB/USD": listed, "BTC/USD": listed},
                             market_now=today - timedelta(hours=19))
            store = DeltaStore(tmp_path / name)
            runner = cluster if name == "dask" else None
            with FakeToy(state) as fake:
                cfg = MarketlakeConfig.model_validate({
                    "toy": {"base_url": fake.url},
                    "coverage": {table: {"source": "toy", "universe": ["AAA/USD", "BB/USD", "BTC/USD"]}}})
                kinds = []
                for _ in range(2):
                    res = Syncer(store, cfg, clock=StateClock(state), log=EventLog("text", echo=lambda _l: None),
                                 executor=runner).run_pass()
                    kinds += [(r.action, r.status) for r in res.records]
                    state.market_now += timedelta(days=1)
                assert kinds == [("backfill", "ok"), ("update", "ok")]
            rows = store.read(table).to_pandas().drop(columns=["updated_at"])
            got[name] = (rows.sort_values(["symbol", "datetime"]).reset_index(drop=True), list(state.requests))
    finally:
        unregister()
    assert got["dask"][1] == got["local"][1]  # the same requests, in the same order
    assert len(got["local"][0]) > 150
    pd.testing.assert_frame_equal(got["local"][0], got["dask"][0], check_exact=True)
