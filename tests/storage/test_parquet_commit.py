"""The file writer's pieces: per-partition slices of one gather, and the Delta statistics of float columns."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from marketlake.storage.parquet_commit import file_stats, partition_slices

_FLOATS = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False, width=64))


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.lists(st.tuples(_FLOATS, st.one_of(st.none(), st.integers(-5, 5))), max_size=12),
                       min_size=1, max_size=4))
def test_file_statistics_cover_the_other_columns_and_no_float_field(chunks):
    """numRecords, and min/max/nullCount of an int column as an independent loop finds them; nothing of
    the float column (`file_stats`: float fields skip no file, and they tripled a big table's commit cost)."""
    xs = pa.chunked_array([pa.array([x for x, _ in c], pa.float64()) for c in chunks], pa.float64())
    ys = pa.chunked_array([pa.array([y for _, y in c], pa.int8()) for c in chunks], pa.int8())
    stats = json.loads(file_stats(pa.table({"x": xs, "y": ys})))
    rows = [r for c in chunks for r in c]
    assert stats["numRecords"] == len(rows)
    assert "x" not in stats["minValues"] and "x" not in stats["maxValues"] and "x" not in stats["nullCount"]
    values = [y for _, y in rows if y is not None]
    assert stats["nullCount"]["y"] == len(rows) - len(values)
    if values:
        assert (stats["minValues"]["y"], stats["maxValues"]["y"]) == (min(values), max(values))
    else:
        assert "y" not in stats["minValues"]


@settings(max_examples=100, deadline=None)
@given(codes=st.lists(st.integers(0, 4), max_size=60), chunk=st.integers(1, 25))
def test_partition_slices_hold_each_partitions_rows_in_input_order(codes, chunk):
    n = len(codes)
    table = pa.Table.from_batches(
        pa.table({"i": pa.array(range(n), pa.int64()), "s": pa.array([f"s{i % 7}" for i in range(n)])})
        .to_batches(max_chunksize=chunk)
    ) if n else pa.table({"i": pa.array([], pa.int64()), "s": pa.array([], pa.string())})
    with ThreadPoolExecutor(2) as pool:
        pieces = partition_slices(table, np.array(codes, dtype=np.int64), 5, pool)
    assert len(pieces) == 5
    for k, piece in enumerate(pieces):
        expected = [i for i, c in enumerate(codes) if c == k]
        assert piece.column("i").to_pylist() == expected
        assert piece.column("s").to_pylist() == [f"s{i % 7}" for i in expected]
        assert piece.schema == table.schema
