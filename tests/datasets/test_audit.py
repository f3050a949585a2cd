"""The audit proves causality on real bars, and catches a leaky feature defined here."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from marketlake.datasets import build
from marketlake.datasets.audit import audit, engine_features
from marketlake.storage import DeltaStore
from tests.datasets.cli import run

TABLE = "stocks_daily_clean"
LABELS = ["fwd_return:5", "excess_return:h=3,benchmark=mean", "triple_barrier:h=10,mult=1", "sign:2"]


@pytest.fixture(scope="module")
def dataset(sp500_shared: DeltaStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("audit") / "ds"
    build(sp500_shared, table=TABLE, start="2014-01-01", labels=LABELS, transforms=["winsorize:p=0.05", "zscore"],
          splits="walk_forward:folds=3,embargo=5", out=d, register=False)
    return d


def test_audit_passes_on_the_engine_features(dataset: Path) -> None:
    code, out = run(["dataset", "audit", dataset, "--sample", "5", "--cuts", "2"])
    assert code == 0, out
    assert "83/83 features unchanged by the future" in out
    assert "4/4 labels read exactly their horizon" in out


def _leaky(bars: pd.DataFrame, table: str) -> pa.Table:
    """The engine's features plus one that reads tomorrow's close: the mistake the audit exists for."""
    out = engine_features(bars, table)
    df = out.select(["symbol", "datetime", "close"]).to_pandas()
    tomorrow = df.groupby("symbol")["close"].shift(-1) / df["close"] - 1
    return out.append_column("tomorrow_return", pa.array(tomorrow.to_numpy(), pa.float64(), from_pandas=True))


def test_audit_fails_on_a_leaky_feature(dataset: Path) -> None:
    rep = audit(dataset, symbols=4, cuts=2, feature_fn=_leaky)
    assert not rep.passed
    bad = [c.subject for c in rep.failures()]
    assert bad == ["tomorrow_return"]  # the leak, and nothing else
    assert "changed" in rep.failures()[0].detail


def test_audit_fails_on_a_centred_rolling_feature(dataset: Path) -> None:
    """A subtler leak: a centred moving average (a common pandas default mistake) peeks 2 bars ahead."""
    def centred(bars: pd.DataFrame, table: str) -> pa.Table:
        out = engine_features(bars, table)
        df = out.select(["symbol", "close"]).to_pandas()
        ma = df.groupby("symbol")["close"].transform(lambda s: s.rolling(5, center=True).mean())
        return out.append_column("sma_5_centred", pa.array(ma.to_numpy(), pa.float64(), from_pandas=True))

    rep = audit(dataset, symbols=3, cuts=1, feature_fn=centred)
    assert [c.subject for c in rep.failures()] == ["sma_5_centred"]
