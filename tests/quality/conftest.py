"""A small synthetic warehouse loaded through the pipeline (source `synthetic`, seed 42: re-fetchable)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from marketlake.pipeline import load_bars
from marketlake.schema import get_table
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore

END = "2024-06-28"
SYMBOLS = ["SPY", "AAPL", "MSFT", "NVDA", "JNJ", "UNH", "AMGN", "JPM"]


def load_synthetic(store: DeltaStore, table: str = "stocks_daily_clean", *, days: int = 420,
                   symbols: list[str] | None = None) -> None:
    spec = get_table(table)
    src = get_source("synthetic", stocks=12, crypto=3, end=END, days=days)
    bars, metas = [], []
    for batch in src.fetch(symbols or (SYMBOLS if spec.asset == "stocks" else None), spec):
        bars.append(batch.bars)
        metas.append(batch.metadata)
    load_bars(store, spec, pd.concat(bars, ignore_index=True), source="synthetic",
              metadata=pd.concat(metas, ignore_index=True))


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("quality") / "wh"
    load_synthetic(DeltaStore(root))
    return root


@pytest.fixture
def wh(_template: Path, tmp_path: Path) -> DeltaStore:
    root = tmp_path / "wh"
    shutil.copytree(_template, root)
    return DeltaStore(root)


def replace_rows(store: DeltaStore, table: str, symbol: str, fn) -> pa.Table:  # type: ignore[no-untyped-def]
    """Rewrite one symbol's stored rows after `fn(DataFrame) -> DataFrame` (defect injection)."""
    rows = store.read(table, symbols=[symbol])
    df = fn(rows.to_pandas())
    out = pa.Table.from_pandas(df, schema=rows.schema, preserve_index=False)
    store.write_bars(table, out)
    return rows
