"""Pruned reads equal a full read filtered in pandas; file pruning really skips files."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from storage_synth import synthetic_bars

from marketlake.storage import DeltaStore
from marketlake.warehouse import Warehouse

T = "stocks_daily_clean"
SYMS = [f"S{i:02d}" for i in range(12)]


@pytest.fixture()
def filled(store: DeltaStore) -> DeltaStore:
    store.write_bars(T, synthetic_bars(SYMS[:8], periods=120))
    store.write_bars(T, synthetic_bars(SYMS[8:], periods=120, seed=1))  # second file per partition
    return store


def _expected(full: pd.DataFrame, symbols=None, start=None, end=None) -> pd.DataFrame:
    keep = pd.Series(True, index=full.index)
    if symbols:
        keep &= full["symbol"].isin(symbols)
    if start is not None:
        keep &= full["datetime"] >= pd.Timestamp(start)
    if end is not None:
        keep &= full["datetime"] <= pd.Timestamp(end)
    return full[keep].sort_values(["symbol", "datetime"]).reset_index(drop=True)


@pytest.mark.parametrize(
    ("symbols", "start", "end"),
    [
        (["S03"], None, None),
        (["S03", "S10"], None, None),
        (None, datetime(2021, 2, 10, tzinfo=UTC), datetime(2021, 3, 5, tzinfo=UTC)),
        (["S09"], datetime(2021, 3, 1, tzinfo=UTC), None),
        (["NOPE"], None, None),
        (None, datetime(2030, 1, 1, tzinfo=UTC), None),
    ],
)
def test_filtered_read_matches_full_read(filled, symbols, start, end):
    full = filled.read(T).to_pandas()
    got = filled.read(T, symbols=symbols, start=start, end=end).to_pandas()
    # empty frames keep int8 where the full read had NULL-holding int8 as float64
    pd.testing.assert_frame_equal(got, _expected(full, symbols, start, end), check_dtype=len(got) > 0)


def test_result_sorted_and_columns_selected(filled):
    out = filled.read(T, columns=["close", "symbol"])
    assert out.column_names == ["close", "symbol"]
    keys = filled.read(T, columns=["symbol", "datetime"])
    assert keys.equals(keys.sort_by([("symbol", "ascending"), ("datetime", "ascending")]))


def test_file_pruning(filled):
    all_files = filled.active_files(T)
    assert len(all_files) == 10  # 5 months x 2 writes
    assert len(filled.active_files(T, start="2021-02-01", end="2021-02-28")) == 2
    assert len(filled.active_files(T, symbols=["S10"])) == 5  # only the second write's files
    assert len(filled.active_files(T, symbols=["S10"], start="2021-03-02", end="2021-03-03")) == 1


def test_warehouse_read_bounds_and_outputs(filled):
    wh = Warehouse(filled.root)
    df = wh.read(T, "S01", start="2021-02-01", end="2021-02-03")
    assert isinstance(df, pd.DataFrame) and len(df) == 3 and df.shape[1] == 97
    assert df["datetime"].dt.tz is not None
    pl_df = wh.read(T, ["S01"], as_="polars")
    assert pl_df.height == 120
    arrow = wh.read(T, ["S01"], start=datetime(2021, 1, 5), as_="arrow")  # naive = UTC
    assert pc.min(arrow["datetime"]).as_py() == datetime(2021, 1, 5, tzinfo=UTC)


def test_read_sees_new_versions(filled):
    before = filled.read(T, symbols=["NEW"]).num_rows
    filled.write_bars(T, synthetic_bars(["NEW"], periods=3))
    assert (before, filled.read(T, symbols=["NEW"]).num_rows) == (0, 3)


def test_missing_table_reads_empty(tmp_path):
    out = DeltaStore(tmp_path).read("crypto_daily_clean")
    assert out.num_rows == 0 and out.num_columns == 97
    assert isinstance(out, pa.Table)


def test_row_group_pruning_matches_full_read(store, monkeypatch):
    from marketlake.storage import parquet_commit

    monkeypatch.setattr(parquet_commit, "DAILY_ROW_GROUP_ROWS", 16)  # many row groups per file
    store.write_bars(T, synthetic_bars(SYMS, periods=70))
    full = store.read(T).to_pandas()
    assert len(full) == 12 * 70
    for symbols, start, end in [
        (["S05"], None, None),
        (["S00", "S07", "S11"], "2021-02-03", "2021-02-20"),
        (None, "2021-01-10", "2021-01-12 12:00"),
    ]:
        got = store.read(T, symbols=symbols, start=start, end=end).to_pandas()
        exp = _expected(full, symbols, pd.Timestamp(start, tz="UTC") if start else None,
                        pd.Timestamp(end, tz="UTC") if end else None)
        pd.testing.assert_frame_equal(got, exp)
    index = store.file_index(T)
    assert all(c.metadata.num_row_groups > 1 for c in index.fragments.values())


def test_read_after_delta_rs_optimize(filled):
    """delta-rs rewrites files (string_view strings, its own row groups): reads and SQL still work."""
    before = filled.read(T, symbols=["S03", "S10"])
    filled.optimize(T)
    after = filled.read(T, symbols=["S03", "S10"])
    assert after.schema.equals(before.schema) and after.equals(before)
    assert filled.read(T).num_rows == 12 * 120
    sql = Warehouse(filled.root).sql(f"SELECT count(*) AS n FROM {T} WHERE symbol = 'S03'")
    assert sql["n"].iloc[0] == 120


def test_pieces_with_string_view_are_cast():
    from marketlake.storage.files import _conform

    want = pa.schema([pa.field("symbol", pa.string(), nullable=False), pa.field("close", pa.float64())])
    piece = pa.table({"symbol": pa.array(["A", "B"], pa.string_view())})
    out = _conform(piece, want)
    assert out.schema.equals(want) and out["symbol"].to_pylist() == ["A", "B"] and out["close"].null_count == 2


def test_empty_symbol_list_reads_nothing_and_unsorted_read_has_the_same_rows(filled):
    assert filled.read(T, symbols=[]).num_rows == 0  # not "every symbol"
    assert filled.read(T, symbols=[], columns=["symbol"]).column_names == ["symbol"]
    ordered = filled.read(T)
    loose = filled.read(T, sort=False)
    key = [("symbol", "ascending"), ("datetime", "ascending")]
    assert loose.num_rows == ordered.num_rows and loose.sort_by(key).equals(ordered)


def test_a_full_scan_leaves_row_group_statistics_unparsed_and_filtered_reads_still_prune(filled):
    """A full scan keeps every row group, so it skips turning footers' per-group statistics into arrays
    (Python work per row group that a 2 M-row dataset build paid for nothing); a filtered read after it on
    the same cached footers parses them and returns exactly the matching rows."""
    fresh = DeltaStore(filled.root)
    whole = fresh.read(T)
    cached = list(fresh.file_index(T).fragments.values())
    assert cached and all(not c.has_stats for c in cached)
    assert whole.num_rows == 12 * 120
    got = fresh.read(T, symbols=["S03"], start="2021-02-01", end="2021-02-28").to_pandas()
    exp = _expected(whole.to_pandas(), ["S03"], pd.Timestamp("2021-02-01", tz="UTC"),
                    pd.Timestamp("2021-02-28", tz="UTC"))
    assert len(got) > 0
    pd.testing.assert_frame_equal(got, exp)
    assert any(c.has_stats for c in fresh.file_index(T).fragments.values())
