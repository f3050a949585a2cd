"""Table creation, partitioning and the physical schema, checked on the Delta table itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from storage_synth import synthetic_bars

from marketlake.errors import SchemaMismatch, StorageError
from marketlake.schema import PARTITION_COLUMN, TABLE_NAMES, bar_schema, storage_schema
from marketlake.storage import DeltaStore


def test_ensure_tables_creates_all_six_idempotently(tmp_path):
    store = DeltaStore(tmp_path)
    assert store.ensure_tables() == list(TABLE_NAMES)
    assert store.ensure_tables() == []
    for name in TABLE_NAMES:
        dt = DeltaTable(store.path(name))
        assert dt.metadata().partition_columns == [PARTITION_COLUMN]
        schema = pa.schema(dt.schema().to_arrow())
        assert [(f.name, f.type) for f in schema] == [(f.name, f.type) for f in storage_schema()]
        assert len(schema) == 98 and dt.version() == 0


def test_monthly_partitions_for_daily_table(store):
    rows = synthetic_bars(["AAA", "BBB"], periods=70)
    store.write_bars("stocks_daily_clean", rows)
    dt = DeltaTable(store.path("stocks_daily_clean"))
    parts = sorted({p[PARTITION_COLUMN] for p in dt.partitions()})
    assert parts == ["2021-01", "2021-02", "2021-03"]
    for f in dt.file_uris():
        assert f"{PARTITION_COLUMN}=2021-0" in f


def test_daily_partitions_for_intraday_table(store):
    start = datetime(2024, 3, 1, 22, tzinfo=UTC)
    rows = synthetic_bars(["BTC/USD"], periods=5, start=start, step=timedelta(hours=1))
    store.write_bars("crypto_hourly_clean", rows)
    parts = sorted({p[PARTITION_COLUMN] for p in DeltaTable(store.path("crypto_hourly_clean")).partitions()})
    assert parts == ["2024-03-01", "2024-03-02"]


def test_read_returns_catalogue_columns_and_types(store):
    rows = synthetic_bars(["AAA"], periods=10)
    store.write_bars("stocks_daily_clean", rows)
    out = store.read("stocks_daily_clean")
    assert out.schema.equals(bar_schema())
    assert PARTITION_COLUMN not in out.column_names
    assert out.equals(rows)


def test_wrong_columns_raise_schema_mismatch(store):
    rows = synthetic_bars(["AAA"], periods=3).drop_columns(["rsi_14"])
    with pytest.raises(SchemaMismatch) as info:
        store.write_bars("stocks_daily_clean", rows)
    assert "rsi_14" in str(info.value) and info.value.table == "stocks_daily_clean"


def test_existing_table_with_other_schema_is_reported(tmp_path):
    store = DeltaStore(tmp_path)
    DeltaTable.create(store.path("stocks_daily_clean"), pa.schema([("symbol", pa.string())]))
    with pytest.raises(SchemaMismatch):
        store.ensure_tables(["stocks_daily_clean"])


def test_unknown_table_name(tmp_path):
    with pytest.raises(StorageError):
        DeltaStore(tmp_path).ensure_tables(["temp_stuff"])
