"""Support tables (symbol master, quarantine, ingest state, logs): small unpartitioned Delta tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import write_deltalake

from marketlake.errors import CorruptTable, StorageError
from marketlake.schema import SUPPORT_SCHEMAS, classify
from marketlake.storage.commits import TABLE_PROPERTIES, commit_properties, hooks, layout_description
from marketlake.storage.layout import conform, dedupe

if TYPE_CHECKING:
    from marketlake.storage.store import DeltaStore


def _schema(store: DeltaStore, name: str, rows: pa.Table | None = None) -> pa.Schema:
    if name in SUPPORT_SCHEMAS:
        return SUPPORT_SCHEMAS[name]
    if classify(name) != "support":
        raise StorageError(
            f"{name!r} is not a support table name (see tables.md naming: symbols, quarantine, ingest_state, "
            f"api_usage, quality_*, janitor_log, fundamentals_*, earnings_calendar)", table=name,
        )
    if store.exists(name):
        return pa.schema(store.table(name).schema().to_arrow())
    if rows is None:
        raise StorageError(f"support table {name} does not exist and has no catalogue schema", table=name)
    return rows.schema


def read_support(
    store: DeltaStore, name: str, *, columns: list[str] | None = None, filter_expr: ds.Expression | None = None
) -> pa.Table:
    """The whole table (they are small), filtered in memory: avoids the string_view filter trap."""
    if not store.exists(name):
        schema = _schema(store, name) if name in SUPPORT_SCHEMAS else pa.schema([])
        empty = schema.empty_table()
        return empty.select(columns) if columns else empty
    dt = store.table(name)
    schema = pa.schema(dt.schema().to_arrow())
    try:
        data = pa.table(dt.to_pyarrow_table()) if dt.version() >= 0 else schema.empty_table()
    except Exception as exc:  # noqa: BLE001 - delta-rs/Arrow errors on a damaged data file
        raise _damaged(store, name, exc) from None
    if name in SUPPORT_SCHEMAS:
        data = data.cast(SUPPORT_SCHEMAS[name])
    if filter_expr is not None:
        data = data.filter(filter_expr)
    return data.select(columns) if columns else data


def _damaged(store: DeltaStore, name: str, exc: Exception) -> CorruptTable:
    """The CorruptTable for a support table that failed to read, naming its damaged data files."""
    from marketlake.storage.integrity import check_data

    damage = check_data(store, name, full=True)
    what = "; ".join(f"data file {d.describe()}" for d in damage[:3]) or str(exc).splitlines()[0][:200]
    return CorruptTable(f"table {name} is damaged: {what}. `marketlake janitor plan` shows the repair",
                        table=name, files=[d.file for d in damage])


def _ensure(store: DeltaStore, name: str, schema: pa.Schema) -> None:
    if not store.exists(name):
        from deltalake import DeltaTable

        DeltaTable.create(store.path(name), schema, mode="ignore", storage_options=store.storage_options,
                          configuration=dict(TABLE_PROPERTIES), description=layout_description())


def append_support(store: DeltaStore, name: str, rows: pa.Table) -> int:
    """Append rows in one commit; returns the table version."""
    with store.writer_lock():
        schema = _schema(store, name, rows)
        data = conform(rows, schema, table=name, fill_missing=True)
        _ensure(store, name, schema)
        dt = store.table(name)
        if data.num_rows:
            write_deltalake(dt, data, mode="append", storage_options=store.storage_options,
                            commit_properties=commit_properties("append", rowsInserted=data.num_rows),
                            post_commithook_properties=hooks())
            dt.update_incremental()
        return int(dt.version())


def _q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def upsert_support(store: DeltaStore, name: str, rows: pa.Table, *, keys: list[str] | tuple[str, ...]) -> int:
    """Insert or replace rows by `keys` (last duplicate wins) in one commit; returns the version."""
    with store.writer_lock():
        schema = _schema(store, name, rows)
        missing = [k for k in keys if k not in schema.names]
        if not keys or missing:
            raise StorageError(f"upsert keys {missing or list(keys)} are not columns of {name}", table=name)
        data = dedupe(conform(rows, schema, table=name, fill_missing=True), tuple(keys))
        _ensure(store, name, schema)
        dt = store.table(name)
        if data.num_rows == 0:
            return int(dt.version())
        info = commit_properties("upsert_support", rowsWritten=data.num_rows)
        if not dt.get_add_actions().num_rows:
            write_deltalake(dt, data, mode="append", storage_options=store.storage_options,
                            commit_properties=info, post_commithook_properties=hooks())
        else:
            predicate = " AND ".join(f"t.{_q(k)} = s.{_q(k)}" for k in keys)
            try:
                (
                    dt.merge(data, predicate, source_alias="s", target_alias="t", commit_properties=info,
                             post_commithook_properties=hooks())
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute()
                )
            except Exception as exc:  # noqa: BLE001 - MERGE reads the stored files: name a damaged one
                damaged = _damaged(store, name, exc)
                if damaged.files:
                    raise damaged from None
                raise
        dt.update_incremental()
        return int(dt.version())


def replace_support(store: DeltaStore, name: str, rows: pa.Table) -> int:
    """Replace the whole content of a small support table in one commit (overwrite); returns the version.

    For tables a caller rewrites as a whole under the writer lock (`feature_state`: one row per symbol):
    one new file and one commit, cheaper than a MERGE on every update, and no file count growth."""
    with store.writer_lock():
        schema = _schema(store, name, rows)
        data = conform(rows, schema, table=name, fill_missing=True)
        _ensure(store, name, schema)
        dt = store.table(name)
        write_deltalake(dt, data, mode="overwrite", storage_options=store.storage_options,
                        commit_properties=commit_properties("replace_support", rowsWritten=data.num_rows),
                        post_commithook_properties=hooks())
        dt.update_incremental()
        return int(dt.version())


__all__ = ["append_support", "read_support", "replace_support", "upsert_support"]
