"""A split that arrives after the 1-minute, hourly and daily history was stored reaches all three tables,
once, even when the process is killed between two of the table commits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketlake import Warehouse
from marketlake.actions import read_actions
from marketlake.storage import DeltaStore
from tests.actions.conftest import cli

pytestmark = pytest.mark.shared_data
TABLES = ("stocks_1min_clean", "stocks_hourly_clean", "stocks_daily_clean")
SPLIT_DAY = pd.Timestamp("2020-12-17")
COLS = ["symbol", "datetime", "open", "high", "low", "close", "volume"]


@pytest.fixture(scope="module")
def spy_tables(shared_data: Path) -> dict[str, pd.DataFrame]:
    """Real SPY 1-minute bars (4 sessions) and the hourly and daily bars built from them (as adjusted)."""
    raw = pd.read_csv(shared_data / "ohlcv" / "spy_1min_2020-12-15_18.csv")
    minute = pd.DataFrame({
        "symbol": "SPY",
        "datetime": pd.to_datetime(raw["date"]).dt.tz_localize("America/New_York").dt.tz_convert("UTC"),
        **{c: raw[c].astype(float) for c in ("open", "high", "low", "close", "volume")},
    })
    return {"stocks_1min_clean": minute}


def _as_traded(frame: pd.DataFrame, ratio: float = 2.0) -> pd.DataFrame:
    out = frame.copy()
    before = out["datetime"].dt.tz_convert("UTC").dt.tz_localize(None) < SPLIT_DAY
    out.loc[before, ["open", "high", "low", "close"]] *= ratio
    out.loc[before, "volume"] /= ratio
    return out


def _build(root: Path, minute: pd.DataFrame) -> Warehouse:
    """Store the as-traded history in all three tables (hourly and daily aggregated from the minutes)."""
    wh = Warehouse(root)
    wh.ingest(_as_traded(minute), table="stocks_1min_clean", source="csv")
    for table, rule in (("stocks_hourly_clean", "1h"), ("stocks_daily_clean", "1d")):
        wh.ingest(wh.read("stocks_1min_clean", resample=rule), table=table, source="csv")
    return wh


def _splits_csv(path: Path) -> Path:
    path.write_text("symbol,kind,date,from_factor,to_factor,amount,currency\nSPY,split,2020-12-17,1,2,,\n")
    return path


def _check(root: Path, minute: pd.DataFrame) -> None:
    wh = Warehouse(root)
    stored = wh.read("stocks_1min_clean").merge(minute, on=["symbol", "datetime"], suffixes=("", "_adjusted"))
    assert len(stored) >= len(minute) - 4  # the file's bars outside the session are quarantined
    for c in ("open", "close", "volume"):
        np.testing.assert_allclose(stored[c], stored[f"{c}_adjusted"], rtol=1e-9)
    for table, rule in (("stocks_hourly_clean", "1h"), ("stocks_daily_clean", "1d")):
        got = wh.read(table)
        want = wh.read("stocks_1min_clean", resample=rule)  # the adjusted minutes, aggregated
        assert len(got) == len(want) > 0
        for c in ("open", "high", "low", "close", "volume"):
            np.testing.assert_allclose(got[c], want[c], rtol=1e-9, err_msg=f"{table}.{c}")
        r = got["close"].pct_change()
        np.testing.assert_allclose(got["return_1"].iloc[1:], r.iloc[1:], rtol=1e-9)  # features recomputed
    (split,) = read_actions(DeltaStore(root))
    assert split.applied_at is not None and all(split.applied[t] == {"state": "done"} for t in TABLES)


def test_split_after_storage_reaches_every_table_once(spy_tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    minute = spy_tables["stocks_1min_clean"]
    _build(tmp_path / "wh", minute)
    store = DeltaStore(tmp_path / "wh")
    before = {t: store.version(t) for t in TABLES}
    cli("actions", "load", str(_splits_csv(tmp_path / "s.csv")), "-w", str(tmp_path / "wh"))
    after = DeltaStore(tmp_path / "wh")
    assert {t: after.version(t) for t in TABLES} == {t: v + 1 for t, v in before.items()}  # one commit each
    _check(tmp_path / "wh", minute)


_KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from marketlake.actions import read_csv, record
    from marketlake.storage import DeltaStore

    def progress(message):
        if message.startswith(sys.argv[3]):  # about to rescale this table: the earlier ones are committed
            os.kill(os.getpid(), signal.SIGKILL)

    record(DeltaStore(sys.argv[1]), read_csv(Path(sys.argv[2])), progress=progress)
""")


def test_kill_between_table_commits_then_rerun_finishes_without_double_rescale(
        spy_tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    minute = spy_tables["stocks_1min_clean"]
    root = tmp_path / "wh"
    _build(root, minute)
    store = DeltaStore(root)
    before = {t: store.version(t) for t in TABLES}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), *sys.path])}
    # tables go in catalogue order (daily, hourly, 1min): die before the 1-minute one
    proc = subprocess.run([sys.executable, "-c", _KILLER, str(root), str(_splits_csv(tmp_path / "s.csv")),
                           "stocks_1min_clean"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    mid = DeltaStore(root)
    assert mid.version("stocks_daily_clean") == before["stocks_daily_clean"] + 1
    assert mid.version("stocks_1min_clean") == before["stocks_1min_clean"]
    (split,) = read_actions(mid)
    assert split.applied_at is None and split.applied["stocks_1min_clean"]["state"] == "pending"
    cli("actions", "load", str(tmp_path / "s.csv"), "-w", str(root))  # the re-run finishes the job
    after = DeltaStore(root)
    assert {t: after.version(t) for t in TABLES} == {t: v + 1 for t, v in before.items()}
    _check(root, minute)


def test_rename_moves_the_history_in_every_table(spy_tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    """A rename continues the 1-minute, hourly and daily history under the new symbol (one commit each)."""
    root = tmp_path / "wh"
    wh = _build(root, spy_tables["stocks_1min_clean"].assign(symbol="OLDX"))
    old = {t: wh.read(t, "OLDX", columns=["close", "volume", "return_1"]) for t in TABLES}
    store = DeltaStore(root)
    before = {t: store.version(t) for t in TABLES}
    path = tmp_path / "r.csv"
    path.write_text("symbol,kind,date,from_factor,to_factor,amount,currency,new_symbol\nOLDX,rename,2020-12-17,,,,,NEWX\n")
    cli("actions", "load", str(path), "-w", str(root))
    after = DeltaStore(root)
    assert {t: after.version(t) for t in TABLES} == {t: v + 1 for t, v in before.items()}
    for t in TABLES:
        got = wh.read(t, columns=["close", "volume", "return_1"])
        assert set(got["symbol"]) == {"NEWX"} and len(got) == len(old[t]) > 0, t
        for c in ("close", "volume", "return_1"):
            np.testing.assert_allclose(got[c], old[t][c], rtol=1e-12, equal_nan=True, err_msg=f"{t}.{c}")
    master = after.read_support("symbols").to_pandas().set_index("symbol")
    assert not master.loc["OLDX", "active"] and master.loc["NEWX", "active"]
    assert all(pd.notna(master.loc["NEWX", f"first_bar_{t}"]) for t in TABLES)
