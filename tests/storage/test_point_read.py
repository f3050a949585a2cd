"""Point reads (a few row groups of many files) go through Polars' reader: the same rows and types as the
Arrow path, and a damaged file is still named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketlake.errors import CorruptTable
from marketlake.schema import bar_schema
from marketlake.storage import DeltaStore, files, parquet_commit, point_read
from tests.damage import damage
from tests.storage.storage_synth import synthetic_bars

T = "stocks_daily_clean"
SYMBOLS = [f"S{i:02d}" for i in range(24)]


@pytest.fixture()
def many_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DeltaStore:
    """Five monthly files of 16-row groups: one symbol is 2 of ~30 groups of each (a point read)."""
    monkeypatch.setattr(parquet_commit, "DAILY_ROW_GROUP_ROWS", 16)
    rows = synthetic_bars(SYMBOLS, start=datetime(2024, 1, 2, tzinfo=UTC), periods=140, null_share=0.2, seed=3)
    close = rows.column("close").to_numpy(zero_copy_only=False).copy()
    close[::17] = np.nan  # NaN beside the NULLs synthetic_bars leaves: both must survive as they are
    rows = rows.set_column(rows.schema.get_field_index("close"), "close", pa.array(close, pa.float64()))
    store = DeltaStore(tmp_path / "wh")
    store.ensure_tables([T])
    store.write_bars(T, rows)
    return store


def _oracle(store: DeltaStore, symbols: list[str], lo: datetime | None, hi: datetime | None) -> pa.Table:
    """A full read (Arrow's reader, every row group) filtered here."""
    full = store.read(T)
    mask = pc.is_in(full["symbol"], pa.array(symbols))
    if lo is not None:
        mask = pc.and_(mask, pc.greater_equal(full["datetime"], pa.scalar(lo, full.schema.field("datetime").type)))
    if hi is not None:
        mask = pc.and_(mask, pc.less_equal(full["datetime"], pa.scalar(hi, full.schema.field("datetime").type)))
    return full.filter(mask)


def _same(a: pa.Table, b: pa.Table) -> bool:
    """Equal tables where NaN equals NaN (Arrow's `equals` says it does not) and NULL only NULL."""
    if not a.schema.equals(b.schema) or a.num_rows != b.num_rows:
        return False
    for name in a.column_names:
        x, y = a.column(name), b.column(name)
        if not pc.is_null(x).equals(pc.is_null(y)):
            return False
        if pa.types.is_floating(x.type):
            u, v = x.to_numpy(zero_copy_only=False), y.to_numpy(zero_copy_only=False)
            if not np.array_equal(u, v, equal_nan=True):
                return False
        elif not x.equals(y):
            return False
    return True


@pytest.mark.parametrize(("symbols", "lo", "hi"), [
    (["S07"], None, None),
    (["S00", "S23"], None, None),
    (["S11"], datetime(2024, 2, 10, tzinfo=UTC), datetime(2024, 4, 3, 23, 59, tzinfo=UTC)),
    (["S05", "S06"], datetime(2024, 3, 1, tzinfo=UTC), None),
])
def test_point_reads_equal_a_filtered_full_read(many_groups: DeltaStore, symbols: list[str], lo: datetime | None,
                                                hi: datetime | None) -> None:
    index = many_groups.file_index(T)
    assert index.files >= point_read.MIN_FILES
    got = many_groups.read(T, symbols=symbols, start=lo, end=hi)
    want = _oracle(many_groups, symbols, lo, hi)
    assert got.num_rows == want.num_rows > 0
    assert got.schema.equals(bar_schema()) and _same(got, want)  # values, NULLs, NaNs, types
    close = got.column("close").to_numpy(zero_copy_only=False)
    assert np.isnan(close).any() and sum(got.column(c).null_count for c in got.column_names) > 0
    # Polars' reader itself (no fallback possible here): the same rows for the files the read chose
    paths = many_groups.active_files(T, symbols=symbols, start=lo, end=hi)
    direct = point_read.read(paths, bar_schema(), symbols=symbols, start=lo, end=hi)
    assert _same(direct.sort_by([("symbol", "ascending"), ("datetime", "ascending")]), want)


def test_a_point_read_is_what_the_plan_calls_one(many_groups: DeltaStore) -> None:
    index = many_groups.file_index(T)
    picks = files.plan(index, list(range(index.files)), root=many_groups.table_root(T),
                       filesystem=many_groups.filesystem, symbols=["S07"])
    kept, total = sum(len(g) for _, g in picks), sum(c.num_row_groups for c, _ in picks)
    assert point_read.worth_it(kept, total, len(picks))  # the fixture's one-symbol reads take Polars' path
    assert point_read.worth_it(2 * index.files, 30 * index.files, index.files)
    assert not point_read.worth_it(20 * index.files, 30 * index.files, index.files)  # most groups: a scan
    assert not point_read.worth_it(1, 30, point_read.MIN_FILES - 1)  # too few files to matter


@pytest.mark.parametrize("how", ["zero", "truncate"])
def test_a_point_read_of_a_damaged_file_names_it(many_groups: DeltaStore, how: str) -> None:
    paths = many_groups.active_files(T, symbols=["S07"])
    damage(Path(paths[2]), how)
    with pytest.raises(CorruptTable) as err:
        DeltaStore(many_groups.root).read(T, symbols=["S07"])
    assert Path(paths[2]).name in str(err.value)
    with pytest.raises(point_read.Unreadable):
        point_read.read(paths, bar_schema(), symbols=["S07"], start=None, end=None)


def test_a_point_read_keeps_what_other_timestamps_bound(many_groups: DeltaStore) -> None:
    last = many_groups.read(T, symbols=["S03"]).column("datetime")[-1].as_py()
    got = many_groups.read(T, symbols=["S03"], start=last, end=last + timedelta(microseconds=1))
    assert got.num_rows == 1 and got.column("datetime")[0].as_py() == last


def test_a_point_read_in_a_new_store_parses_no_arrow_footer(many_groups: DeltaStore) -> None:
    """From the Delta log alone (few symbols, files of several row groups) the read goes to Polars, which
    reads its own footers: Arrow's (~3.4 ms each to parse) are never loaded for it."""
    fresh = DeltaStore(many_groups.root)
    got = fresh.read(T, symbols=["S07"], start=datetime(2024, 2, 1, tzinfo=UTC))
    assert fresh.file_index(T).fragments == {}  # no footer cached: none was parsed
    assert _same(got, _oracle(many_groups, ["S07"], datetime(2024, 2, 1, tzinfo=UTC), None))
    records = [int(r) for r in fresh.file_index(T).records]
    assert point_read.likely(records, 16, 1) and not point_read.likely(records, 16, point_read.FEW_SYMBOLS + 1)
    assert not point_read.likely(records, max(records), 1)  # files of one row group: nothing to skip
    fresh.read(T, symbols=[f"S{i:02d}" for i in range(12)])  # many symbols: planned from the footers
    assert fresh.file_index(T).fragments
