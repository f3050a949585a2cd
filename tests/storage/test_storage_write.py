"""Upsert semantics: one commit, unchanged rows untouched, idempotent re-runs, compare_since."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from storage_synth import synthetic_bars

T = "stocks_daily_clean"
LATER = datetime(2025, 6, 1, tzinfo=UTC)


def _set(rows: pa.Table, column: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    return rows.set_column(rows.schema.get_field_index(column), column, values)


def _keys(t: pa.Table) -> list[tuple[str, datetime]]:
    return list(zip(t.column("symbol").to_pylist(), t.column("datetime").to_pylist()))


def test_initial_write_then_rerun_makes_no_commit(store):
    rows = synthetic_bars(["AAA", "BBB", "CCC"], periods=40)
    first = store.write_bars(T, rows)
    assert (first.inserted, first.updated, first.unchanged) == (120, 0, 0)
    again = store.write_bars(T, _set(rows, "updated_at", pa.array([LATER] * rows.num_rows, rows["updated_at"].type)))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 120)
    assert again.version == first.version == DeltaTable(store.path(T)).version()
    assert store.read(T).equals(rows)  # updated_at kept


def test_upsert_updates_changed_rows_only_in_one_commit(store):
    rows = synthetic_bars(["AAA", "BBB"], periods=30)
    v1 = store.write_bars(T, rows).version
    change = rows.slice(5, 3)
    change = _set(change, "close", pc.add(change["close"], 1.0))
    change = _set(change, "rsi_14", pa.nulls(3, pa.float64()))  # value -> NULL is a change
    change = _set(change, "updated_at", pa.array([LATER] * 3, rows["updated_at"].type))
    new = synthetic_bars(["ZZZ"], periods=2, updated_at=LATER)
    same = _set(rows.slice(10, 4), "updated_at", pa.array([LATER] * 4, rows["updated_at"].type))
    res = store.write_bars(T, pa.concat_tables([change, new, same]))
    assert (res.inserted, res.updated, res.unchanged) == (2, 3, 4)
    assert res.version == v1 + 1
    out = store.read(T)
    assert out.num_rows == 62
    assert len(set(_keys(out))) == out.num_rows
    by_key = {k: i for i, k in enumerate(_keys(out))}
    for k, close in zip(_keys(change), change["close"].to_pylist()):
        i = by_key[k]
        assert out["close"][i].as_py() == close
        assert out["rsi_14"][i].as_py() is None
        assert out["updated_at"][i].as_py() == LATER
    for k in _keys(same):
        assert out["updated_at"][by_key[k]].as_py() != LATER


def test_null_equals_null_and_nan_equals_nan(store):
    rows = synthetic_bars(["AAA"], periods=5)
    rows = _set(rows, "macd", pa.array([float("nan"), None, 1.0, 2.0, 3.0], pa.float64()))
    store.write_bars(T, rows)
    res = store.write_bars(T, rows)
    assert res.inserted == res.updated == 0


def test_duplicate_keys_in_input_keep_the_last(store):
    rows = synthetic_bars(["AAA"], periods=3)
    dup = _set(rows.slice(1, 1), "close", pa.array([-1.0]))
    res = store.write_bars(T, pa.concat_tables([rows, dup]))
    assert res.inserted == 3
    out = store.read(T)
    assert out.num_rows == 3 and out["close"][1].as_py() == -1.0


def test_compare_since_skips_older_rows(store):
    rows = synthetic_bars(["AAA"], periods=20)
    store.write_bars(T, rows)
    since = rows["datetime"][15].as_py()
    tail_changed = _set(rows, "close", pc.add(rows["close"], 1.0))
    res = store.write_bars(T, tail_changed, compare_since=since)
    assert (res.inserted, res.updated, res.unchanged) == (0, 5, 15)
    out = store.read(T)
    assert out["close"].to_pylist()[:15] == rows["close"].to_pylist()[:15]
    assert out["close"].to_pylist()[15:] == tail_changed["close"].to_pylist()[15:]


def test_empty_input_is_a_no_op(store):
    res = store.write_bars(T, synthetic_bars(["AAA"], periods=1).slice(0, 0))
    assert res.inserted == res.updated == 0 and res.version == 0


def test_row_groups_carry_statistics_of_keys_and_attributes_not_of_float_fields(store):
    """Readers prune row groups by symbol, datetime and symbol attributes (sector...): those statistics are
    in every group; float fields' are left out of the footers (every reader parses them per file) and of
    the Delta log's file statistics (they skip no file and slowed every commit to a big table)."""
    import pyarrow.parquet as pq

    store.write_bars("stocks_daily_clean", synthetic_bars([f"S{i}" for i in range(30)], periods=60))
    path = store.active_files("stocks_daily_clean")[0]
    md = pq.read_metadata(path)
    names = md.schema.names
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        for name in ("symbol", "datetime", "sector", "exchange", "trend_regime"):
            st = rg.column(names.index(name)).statistics
            assert st is not None and st.has_min_max, name
        assert rg.column(names.index("close")).statistics is None
    log = pa.table(DeltaTable(store.path("stocks_daily_clean")).get_add_actions(flatten=True)).to_pydict()
    assert log["min.sector"][0] is not None and log["max.trend_regime"][0] is not None
    for name in ("min.close", "max.rsi_14", "null_count.rsi_14"):  # float fields: no file statistics
        assert all(v is None for v in log.get(name, [])), name
