"""The project's own demo warehouse passes its own monitor without false positives.

Two were reported on a fresh `marketlake demo`: every crypto symbol's last bar "off the calendar
grid" (the grid lost its last stamp to float rounding) and ordinary session-open 1-minute moves
flagged as 10-35 sigma outliers (the overnight gap judged by the one-minute sigma).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from marketlake.pipeline.demo import DemoTier, build_demo
from marketlake.quality import QualityConfig, run_quality
from marketlake.storage import DeltaStore

# the demo's own code path, fewer symbols (the 1-minute tier keeps its 28 days: the opens need them)
TIERS = {"daily": DemoTier(stocks=4, crypto=2, days=400), "hourly": DemoTier(stocks=3, crypto=2, days=40),
         "1min": DemoTier(stocks=4, crypto=1, days=28)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DeltaStore:
    root = tmp_path_factory.mktemp("demo") / "wh"
    build_demo(root, tiers=TIERS, today=date(2026, 12, 1))
    return DeltaStore(root)


def test_demo_has_no_off_grid_bars_and_no_session_open_outliers(demo: DeltaStore) -> None:
    rep = run_quality(demo, config=QualityConfig(), record=False)
    off_grid = [i for i in rep.issues if i.check == "missing_bars"]
    assert off_grid == []
    intraday = [i for i in rep.issues if i.check == "outlier" and "daily" not in i.table]
    assert intraday == [], [i.detail for i in intraday]
    assert rep.ok


def test_session_break_moves_are_still_judged(demo: DeltaStore, tmp_path: Path) -> None:
    """Measured apart is not ignored: a 30 % jump at a session open is still an outlier."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from marketlake.quality.checks_jumps import check_jumps
    from marketlake.quality.frame import build
    from marketlake.schema import get_table

    spec = get_table("stocks_1min_clean")
    rows = demo.read(spec.name, symbols=["AAPL"]).to_pandas()
    opens = np.flatnonzero((rows["datetime"].diff() > pd.Timedelta(minutes=1)).to_numpy())
    k = int(opens[len(opens) // 2])
    rows.loc[k, "close"] = rows.loc[k, "close"] * 1.3
    got = check_jumps(build(spec, pa.Table.from_pandas(rows, preserve_index=False)), sigma=10, tolerance=0.05)
    when = rows.loc[k, "datetime"].to_pydatetime()
    assert [(i.check, i.first_datetime) for i in got][:1] == [("outlier", when)]  # then the revert
    assert "across a session break; reverts at once" in got[0].detail
