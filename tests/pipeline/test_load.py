"""End-to-end loads on real Delta tables: idempotency, incremental == rebuild, peers, atomicity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from marketlake.pipeline import ingest_source, load_bars
from marketlake.schema import FIELD_NAMES, PARTITION_COLUMN
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore

UTC = UTC
START = datetime(2023, 1, 1, tzinfo=UTC)
MID = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 6, 1, tzinfo=UTC)


def _table(store: DeltaStore, name: str) -> pd.DataFrame:
    df = store.read(name).to_pandas()
    return df.sort_values(["symbol", "datetime"]).reset_index(drop=True)


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["updated_at"])


@pytest.fixture(scope="module")
def synthetic():
    return get_source("synthetic", stocks=12, crypto=3, seed=7)


def test_load_fills_97_columns_with_unique_keys_and_partitions(tmp_path: Path, synthetic) -> None:
    store = DeltaStore(tmp_path)
    (report,) = ingest_source(store, synthetic, ["stocks_daily_clean"], start=START, end=END)
    assert report.quarantined == 0 and report.inserted == report.rows_valid > 0
    df = _table(store, "stocks_daily_clean")
    assert list(df.columns) == list(FIELD_NAMES)
    assert not df.duplicated(["symbol", "datetime"]).any()
    assert df["symbol"].nunique() == 12
    dt = DeltaTable(store.path("stocks_daily_clean"))
    assert dt.metadata().partition_columns == [PARTITION_COLUMN]
    actions = pa.table(dt.get_add_actions(flatten=True))
    parts = set(actions.column(f"partition.{PARTITION_COLUMN}").to_pylist())
    expected = set(df["datetime"].dt.strftime("%Y-%m"))
    assert parts == expected
    # indicators are really there after warm-up
    late = df[df["datetime"] > datetime(2024, 1, 1, tzinfo=UTC)]
    assert late["sma_200"].notna().all() and late["rsi_14"].between(0, 100).all()
    assert late["rs_benchmark_20"].notna().all()  # SPY came with the table


def test_rerun_changes_nothing_and_makes_no_commit(tmp_path: Path, synthetic) -> None:
    store = DeltaStore(tmp_path)
    ingest_source(store, synthetic, ["crypto_daily_clean"], start=START, end=END)
    before = _table(store, "crypto_daily_clean")
    version = DeltaTable(store.path("crypto_daily_clean")).version()
    (again,) = ingest_source(store, synthetic, ["crypto_daily_clean"], start=START, end=END)
    assert again.inserted == 0 and again.updated == 0
    assert DeltaTable(store.path("crypto_daily_clean")).version() == version
    pd.testing.assert_frame_equal(_table(store, "crypto_daily_clean"), before)


@pytest.mark.parametrize("table", ["stocks_daily_clean", "crypto_hourly_clean"])
def test_incremental_load_equals_full_rebuild(tmp_path: Path, synthetic, table: str) -> None:
    start, mid, end = (START, MID, END) if table.endswith("daily_clean") else (
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 20, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
    inc = DeltaStore(tmp_path / "inc")
    ingest_source(inc, synthetic, [table], start=start, end=mid)
    (step,) = ingest_source(inc, synthetic, [table], start=mid, end=end)
    assert step.inserted > 0
    full = DeltaStore(tmp_path / "full")
    ingest_source(full, synthetic, [table], start=start, end=end)
    pd.testing.assert_frame_equal(_comparable(_table(inc, table)), _comparable(_table(full, table)))


def test_late_benchmark_fills_dependent_fields(tmp_path: Path, synthetic) -> None:
    store = DeltaStore(tmp_path)
    meta = synthetic.metadata()
    others = [s for s in meta.loc[meta["asset_type"] != "crypto", "symbol"] if s != "SPY"][:4]
    ingest_source(store, synthetic, ["stocks_daily_clean"], symbols=others, include_benchmark=False,
                  start=START, end=END)
    first = _table(store, "stocks_daily_clean")
    assert first["rs_benchmark_20"].isna().all() and first["beta_60"].isna().all()
    ingest_source(store, synthetic, ["stocks_daily_clean"], symbols=["SPY"], start=START, end=END)
    after = _table(store, "stocks_daily_clean")
    sub = after[after["symbol"].isin(others) & (after["datetime"] > datetime(2023, 6, 1, tzinfo=UTC))]
    assert sub["rs_benchmark_20"].notna().all() and sub["beta_60"].notna().all()


def test_revised_bar_recomputes_the_symbol_from_that_bar_on(tmp_path: Path, synthetic) -> None:
    store = DeltaStore(tmp_path)
    ingest_source(store, synthetic, ["stocks_daily_clean"], start=START, end=END)
    before = _table(store, "stocks_daily_clean")
    sym = before["symbol"].iloc[0]
    rows = before[before["symbol"] == sym].reset_index(drop=True)
    k = 300
    revised = rows.loc[[k], ["symbol", "datetime", "open", "high", "low", "close", "volume"]].copy()
    revised[["high", "close"]] = revised[["high", "close"]] * 1.05
    report = load_bars(store, "stocks_daily_clean", revised, source="synthetic")
    after = _table(store, "stocks_daily_clean")
    a = after[after["symbol"] == sym].reset_index(drop=True)
    assert a.loc[k, "close"] == pytest.approx(rows.loc[k, "close"] * 1.05)
    assert np.allclose(a.loc[: k - 1, "ema_200"], rows.loc[: k - 1, "ema_200"], equal_nan=True)
    assert a.loc[k, "ema_12"] != rows.loc[k, "ema_12"] and a.loc[k + 5, "ema_12"] != rows.loc[k + 5, "ema_12"]
    assert report.updated > 0
    untouched = set(before["symbol"]) - {sym}
    same_sector = set(before.loc[before["sector"] == rows.loc[0, "sector"], "symbol"])
    for other in untouched - same_sector - {"SPY"}:
        pd.testing.assert_frame_equal(
            _comparable(after[after["symbol"] == other]).reset_index(drop=True),
            _comparable(before[before["symbol"] == other]).reset_index(drop=True),
        )


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    from marketlake.pipeline import ingest_source
    from marketlake.sources.registry import get_source
    from marketlake.storage import DeltaStore
    src = get_source("synthetic", stocks=60, crypto=2, seed=11)
    ingest_source(DeltaStore(sys.argv[1]), src, ["stocks_daily_clean"],
                  start=datetime(2019, 1, 1, tzinfo=timezone.utc), end=datetime(2024, 6, 1, tzinfo=timezone.utc))
    print("done", flush=True)
    """
)


@pytest.mark.slow
def test_load_killed_half_way_leaves_the_table_as_it_was(tmp_path: Path, synthetic) -> None:
    store = DeltaStore(tmp_path)
    ingest_source(store, synthetic, ["stocks_daily_clean"], start=START, end=MID)
    before = _table(store, "stocks_daily_clean")
    version = DeltaTable(store.path("stocks_daily_clean")).version()
    script = tmp_path / "load.py"
    script.write_text(_KILL_SCRIPT)
    killed = 0
    for delay in (1.5, 3.0, 4.5):
        proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env={**os.environ})
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
        now = DeltaTable(store.path("stocks_daily_clean")).version()
        if now == version:
            pd.testing.assert_frame_equal(_table(store, "stocks_daily_clean"), before)
        else:  # the load finished before the kill: it must be complete, never partial
            df = _table(store, "stocks_daily_clean")
            assert df["symbol"].nunique() >= 60 and not df.duplicated(["symbol", "datetime"]).any()
            break
    assert killed >= 1
    leftovers = [p.name for p in tmp_path.iterdir() if "temp" in p.name or "staging" in p.name]
    assert leftovers == []


def _bars_of(source, table: str, symbols: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    from marketlake.schema import get_table

    batches = list(source.fetch(symbols, get_table(table), start=START, end=END))
    bars = pd.concat([b.bars for b in batches], ignore_index=True)
    meta = pd.concat([b.metadata for b in batches if b.metadata is not None], ignore_index=True)
    return bars, meta.drop_duplicates("symbol")


def test_new_symbols_without_peers_compute_only_themselves(tmp_path: Path, synthetic) -> None:
    """Regression: new symbols (no stored history, no sector, no benchmark) must not pull in the table."""
    store = DeltaStore(tmp_path)
    table = "stocks_daily_clean"
    meta = synthetic.metadata()
    stocks = [s for s in meta.loc[meta["asset_type"] == "stock", "symbol"] if s != "SPY"]
    first, _ = _bars_of(synthetic, table, stocks[:6])
    load_bars(store, table, first, source="synthetic", metadata=pd.DataFrame({"symbol": stocks[:6]}))
    version = store.version(table)
    second, _ = _bars_of(synthetic, table, stocks[6:8])
    no_sector = pd.DataFrame({"symbol": stocks[6:8], "sector": [None, None]})
    store.upsert_support("symbols", pa.table({"symbol": stocks[6:8], "sector": pa.nulls(2, pa.string())}),
                         keys=["symbol"])
    report = load_bars(store, table, second, source="synthetic", metadata=no_sector)
    assert report.symbols_computed == 2 and report.updated == 0 and report.inserted == len(second)
    assert store.version(table) == version + 1


def test_deferred_peers_then_refresh_equals_loading_everything_at_once(tmp_path: Path, synthetic) -> None:
    """load_bars(peers=False) page by page + refresh_cross_section == one load of all pages."""
    from marketlake.pipeline.core import refresh_cross_section

    table = "stocks_daily_clean"
    meta = synthetic.metadata()
    stocks = meta.loc[meta["asset_type"] != "crypto", "symbol"].tolist()
    bars, sym_meta = _bars_of(synthetic, table, stocks)
    assert sym_meta["sector"].notna().sum() >= 6  # sector peers exist
    stamp = datetime(2025, 1, 1, tzinfo=UTC)
    once = DeltaStore(tmp_path / "once")
    load_bars(once, table, bars, source="synthetic", metadata=sym_meta, now=stamp)
    paged = DeltaStore(tmp_path / "paged")
    pages = [stocks[i : i + 2] for i in range(0, len(stocks), 2)]  # sectors span pages
    reports = [load_bars(paged, table, bars[bars["symbol"].isin(p)], source="synthetic",
                         metadata=sym_meta[sym_meta["symbol"].isin(p)], now=stamp, peers=False) for p in pages]
    assert all(r.symbols_computed <= len(p) + 1 for r, p in zip(reports, pages))  # + the stored benchmark
    assert any(r.peers_deferred for r in reports)
    stale = _table(paged, table)
    assert not stale["rs_sector_20"].equals(_table(once, table)["rs_sector_20"])  # the test can fail
    refreshed = refresh_cross_section(paged, table, now=stamp)
    assert refreshed.updated > 0
    pd.testing.assert_frame_equal(_table(paged, table), _table(once, table))
    again = refresh_cross_section(paged, table, now=stamp)
    assert again.updated == 0 and again.inserted == 0  # consistent: no commit


@pytest.mark.parametrize("max_rows", [1, 700, 3000])
def test_compute_in_chunks_equals_one_call(synthetic, max_rows: int) -> None:
    """Chunks of whole sectors (+ the benchmark in each) give exactly the rows of one compute_table call."""
    from marketlake.features import compute_table
    from marketlake.pipeline.core import compute_in_chunks
    from marketlake.schema import get_table

    spec = get_table("stocks_daily_clean")
    meta = synthetic.metadata()
    stocks = meta.loc[meta["asset_type"] != "crypto", "symbol"].tolist()
    bars, sym_meta = _bars_of(synthetic, spec.name, stocks)
    stamp = datetime(2025, 1, 1, tzinfo=UTC)
    kw = {"benchmark": "SPY", "updated_at": stamp, "metadata": sym_meta, "since": MID}
    one = compute_table(bars, spec, **kw)
    chunked = compute_in_chunks(bars, spec, max_rows=max_rows, **kw)
    assert one["rs_sector_20"].null_count < one.num_rows  # sector medians are really exercised
    key = [("symbol", "ascending"), ("datetime", "ascending")]
    assert chunked.sort_by(key).equals(one.sort_by(key))
