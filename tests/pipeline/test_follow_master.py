"""Bars follow the symbol master: the README's path (ingest -> `symbols load`) leaves no stale metadata.

Reported: following the README left 481 of 580 symbols with NULL sector and exchange on their bars,
because `symbols load` wrote the master only. Now it rewrites the bars whose metadata changed (one
commit per table), through the pipeline's refresh, so the sector peers' `rs_sector_20` follows too.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.pipeline.core import refresh_cross_section
from marketlake.schema import get_table
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore

T = "stocks_daily_clean"
RENAMED = {"AAPL": "XOM", "MSFT": "CVX", "NVDA": "COP", "JNJ": "MMM"}  # real S&P 500 names, Energy x3


@pytest.fixture(autouse=True)
def _own_reference_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETLAKE_REFERENCE_DIR", str(tmp_path / "user-reference"))  # the shipped snapshots


def _csv_of_real_names(path: Path) -> None:
    """Bars of four stocks as a file import would bring them: no metadata at all."""
    src = get_source("synthetic", stocks=12, crypto=0, seed=3, end="2024-06-28", days=200)
    bars = pd.concat([b.bars for b in src.fetch(list(RENAMED), get_table(T))], ignore_index=True)
    bars["symbol"] = bars["symbol"].map(RENAMED)
    bars[["symbol", "datetime", "open", "high", "low", "close", "volume"]].to_csv(path, index=False)


def test_readme_path_leaves_no_stored_symbol_without_the_masters_metadata(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    wh = str(tmp_path / "wh")
    run = CliRunner()
    r = run.invoke(app, ["ingest", "synthetic", "-t", T, "--stocks", "12", "--start", "2024-01-01",
                         "--end", "2024-06-28", "-w", wh])
    assert r.exit_code == 0, r.output
    _csv_of_real_names(tmp_path / "bars.csv")
    r = run.invoke(app, ["ingest", "csv", str(tmp_path / "bars.csv"), "-t", T, "-w", wh])
    assert r.exit_code == 0, r.output
    store = DeltaStore(wh)
    before = store.read(T, columns=["symbol", "sector", "exchange"]).to_pandas()
    assert before.loc[before["symbol"].isin(RENAMED.values()), "sector"].isna().all()  # the reported state
    version = DeltaTable(store.path(T)).version()

    r = run.invoke(app, ["symbols", "load", "-w", wh])
    assert r.exit_code == 0, r.output
    assert DeltaTable(store.path(T)).version() == version + 1  # one commit for the table
    master = store.read_support("symbols").to_pandas().set_index("symbol")
    bars = store.read(T, columns=["symbol", "sector", "industry", "exchange", "mic_code"]).to_pandas()
    stored = sorted(set(bars["symbol"]))
    in_master = [s for s in stored if s in master.index and pd.notna(master.loc[s, "exchange"])]
    assert set(RENAMED.values()) <= set(in_master)
    for col in ("sector", "exchange", "mic_code", "industry"):
        want = bars["symbol"].map(master[col])
        has = want.notna()
        assert (bars.loc[has, col] == want[has]).all(), col  # every row of every symbol the master knows
    assert bars.loc[bars["symbol"].isin(in_master), "exchange"].notna().all()
    assert set(bars.loc[bars["symbol"] == "XOM", "sector"]) == {"Energy"}

    # the cross-sectional fields followed too: a full refresh of the table finds nothing left to write
    again = refresh_cross_section(store, T)
    assert (again.inserted, again.updated) == (0, 0)
    rs = store.read(T, symbols=["XOM"], columns=["rs_sector_20"]).column("rs_sector_20")
    assert rs.null_count < len(rs)  # three Energy peers now: the sector field is computed

    r = run.invoke(app, ["symbols", "load", "-w", wh])  # nothing changed: no commit
    assert r.exit_code == 0 and DeltaTable(store.path(T)).version() == version + 1

    # a re-ingest keeps what the master says (the source's own SPY says NYSE; the listing says NYSE Arca)
    r = run.invoke(app, ["ingest", "synthetic", "-t", T, "--stocks", "12", "--start", "2024-01-01",
                         "--end", "2024-06-28", "-w", wh])
    assert r.exit_code == 0, r.output
    assert DeltaTable(store.path(T)).version() == version + 1
    spy = store.read(T, symbols=["SPY"], columns=["exchange", "mic_code"]).to_pandas()
    assert set(zip(spy["exchange"], spy["mic_code"])) == {("NYSE Arca", "ARCX")}
    assert store.read_support("symbols").to_pandas().set_index("symbol").loc["SPY", "mic_code"] == "ARCX"
