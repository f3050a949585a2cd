"""The quality monitor's split check consults corporate_actions: suspected -> known unapplied -> --fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketlake import Warehouse
from marketlake.actions import Action, read_actions, record
from marketlake.quality.runner import run_quality
from marketlake.storage import DeltaStore
from tests.actions.conftest import de_adjust

pytestmark = pytest.mark.shared_data
TABLE = "stocks_daily_clean"


def _splits(store: DeltaStore) -> list:
    report = run_quality(store, tables=[TABLE])
    return [i for i in report.issues if i.check == "split"], report


def test_split_check_suspects_then_knows_then_fixes(sp500_adjusted: pd.DataFrame, tmp_path: Path) -> None:
    aapl = sp500_adjusted[sp500_adjusted["symbol"] == "AAPL"].iloc[380:540].reset_index(drop=True)
    raw = de_adjust(aapl)
    raw["datetime"] = pd.to_datetime(raw["datetime"]).dt.tz_localize("America/New_York") + pd.Timedelta(hours=9.5)
    wh = Warehouse(tmp_path)
    wh.ingest(raw, table=TABLE, source="csv")
    store = DeltaStore(tmp_path)

    # 1. an unknown jump: suspected, recorded as such, nothing rescaled
    issues, _ = _splits(store)
    assert len(issues) == 1 and "7:1 split suspected at 2014-06-09" in issues[0].detail
    (suspect,) = read_actions(store)
    assert (suspect.status, suspect.source, suspect.from_factor, suspect.to_factor) == ("suspected", "quality", 1, 7)
    assert suspect.applied_at is None and wh.read(TABLE, "AAPL")["close"].iloc[0] > 400  # still as traded
    _splits(store)
    assert len(read_actions(store)) == 1  # detected again: still one suspected row

    # 2. confirmed but not applied: an error naming the known split, not a "suspected" one
    record(store, [Action(symbol="AAPL", kind="split", date=suspect.date, from_factor=1, to_factor=7)], apply=False)
    issues, _ = _splits(store)
    assert len(issues) == 1 and issues[0].detail.startswith("known 7-for-1 split on 2014-06-09 is not applied")

    # 3. --fix applies it; the re-check finds nothing and marks the issue fixed
    report = run_quality(store, tables=[TABLE], fix=True)
    (fixed,) = [i for i in report.issues if i.check == "split"]
    assert fixed.fixed
    got = wh.read(TABLE, "AAPL")
    merged = got.assign(day=got["datetime"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")).merge(
        aapl.rename(columns={"datetime": "day"}), on="day", suffixes=("", "_file"))
    np.testing.assert_allclose(merged["close"], merged["close_file"], rtol=1e-9)
    (split,) = read_actions(store)
    assert split.status == "confirmed" and split.applied_at is not None

    # 4. a known, applied split: no alarm
    issues, _ = _splits(store)
    assert issues == []
