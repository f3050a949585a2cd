"""Pure Arrow helpers for the physical layout: schema conformance, keys, partitions, sort order."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.errors import SchemaMismatch, StorageError
from marketlake.schema import KEY_COLUMNS, PARTITION_COLUMN, TableSpec, bar_schema

SORT_KEYS = [("symbol", "ascending"), ("datetime", "ascending")]


def to_utc(value: str | date | datetime | None) -> datetime | None:
    """A bound as an aware UTC datetime; naive values and plain dates are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def conform(rows: pa.Table, schema: pa.Schema, *, table: str, fill_missing: bool = False) -> pa.Table:
    """`rows` with exactly `schema`'s columns, order and types, or a SchemaMismatch naming the difference.

    Extra columns are an error (they would be silently dropped otherwise); missing ones are an error for
    production tables and NULL-filled for support tables (`fill_missing`).
    """
    names = set(rows.column_names)
    known = set(schema.names)
    extra = [c for c in rows.column_names if c not in known]
    missing = [c for c in schema.names if c not in names]
    if extra or (missing and not fill_missing):
        raise SchemaMismatch(
            f"rows for {table} do not match the catalogue: missing {missing[:8]}{'...' if len(missing) > 8 else ''}, "
            f"unexpected {extra[:8]}; build rows with marketlake.features.compute_table or cast to the table schema",
            table=table,
        )
    cols = []
    for field in schema:
        if field.name not in names:
            cols.append(pa.nulls(rows.num_rows, field.type))
            continue
        col = rows.column(field.name)
        if col.type != field.type:
            try:
                col = col.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaMismatch(
                    f"column {field.name!r} of rows for {table} has type {col.type}, expected {field.type}: {exc}",
                    table=table,
                ) from None
        cols.append(col)
    out = pa.Table.from_arrays(cols, schema=schema.remove_metadata())
    for field in schema:
        if not field.nullable and out.column(field.name).null_count:
            raise StorageError(f"column {field.name!r} of rows for {table} holds NULLs; it is part of the key", table=table)
    return out


def conform_bars(rows: pa.Table, *, table: str) -> pa.Table:
    """Rows typed exactly as `bar_schema()` (the partition column, if present, is dropped)."""
    if PARTITION_COLUMN in rows.column_names:
        rows = rows.drop_columns([PARTITION_COLUMN])
    return conform(rows, bar_schema(), table=table)


def sorted_unique(rows: pa.Table) -> bool:
    """True when rows are strictly increasing by (symbol, datetime): the usual input, checked in O(n)
    so the costly sort and duplicate grouping of 97 columns can be skipped."""
    n = rows.num_rows
    if n < 2:
        return True
    sym, dt = rows.column("symbol"), rows.column("datetime")
    s0, s1, d0, d1 = sym.slice(0, n - 1), sym.slice(1), dt.slice(0, n - 1), dt.slice(1)
    if pc.any(pc.less(s1, s0)).as_py():
        return False
    bad = pc.and_(pc.equal(s1, s0), pc.less_equal(d1, d0))
    return not pc.any(bad).as_py()


def dedupe(rows: pa.Table, keys: list[str] | tuple[str, ...] = KEY_COLUMNS) -> pa.Table:
    """Keep the last row per key (a later duplicate in the input wins, like a sequence of upserts)."""
    if rows.num_rows < 2 or (tuple(keys) == KEY_COLUMNS and sorted_unique(rows)):
        return rows
    idx = pa.array(np.arange(rows.num_rows, dtype=np.int64))
    keyed = rows.select(list(keys)).append_column("__i", idx)
    last = keyed.group_by(list(keys), use_threads=False).aggregate([("__i", "max")])
    if last.num_rows == rows.num_rows:
        return rows
    take = np.sort(last.column("__i_max").to_numpy())
    return rows.take(pa.array(take))


def sort_rows(rows: pa.Table) -> pa.Table:
    """Sorted by (symbol, datetime): clusters each file's row groups by symbol so statistics prune."""
    return rows if sorted_unique(rows) else rows.sort_by(SORT_KEYS)


def group_rows(rows: pa.Table) -> pa.Table:
    """`rows` with each symbol's rows together and chronological (ties keep their order), symbols in no
    particular order: what a per-symbol computation needs, without sorting strings. The symbol column may
    be a string or a dictionary column (as `files.read_groups` reads it, before decoding).

    Files read chronologically and each sorted by (symbol, datetime) are already chronological per
    symbol, so a stable radix sort of 16-bit symbol codes orders them (~10 ms for 700k rows, against
    ~70 ms for encoding the strings and a two-key lexsort); one pass checks that claim and falls back to
    the lexsort when files overlap in time (after an upsert, before compaction)."""
    if rows.num_rows < 2:
        return rows
    codes, distinct = _symbol_codes(rows.column("symbol"))
    keys = codes.astype(np.uint16) if distinct <= np.iinfo(np.uint16).max else codes
    order = np.argsort(keys, kind="stable")
    dt = pc.cast(rows.column("datetime"), pa.int64()).to_numpy()
    in_order_dt, in_order_codes = dt[order], codes[order]
    if bool(np.any((in_order_dt[1:] < in_order_dt[:-1]) & (in_order_codes[1:] == in_order_codes[:-1]))):
        order = np.lexsort((dt, codes))
    if bool(np.all(order[1:] > order[:-1])):
        return rows
    return rows.take(pa.array(order))


def _symbol_codes(symbols: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """Integer codes of a string or dictionary column (equal symbols, equal codes) and how many distinct.
    A dictionary column is concatenated (Arrow unifies the chunks' dictionaries once per distinct
    dictionary: ~3 ms for 2,650 row-group slices of 13 files, where `unify_dictionaries` took ~100 ms)."""
    if pa.types.is_dictionary(symbols.type):
        combined = symbols.combine_chunks()
        return combined.indices.to_numpy(zero_copy_only=False), len(combined.dictionary)
    encoded = pc.dictionary_encode(symbols.combine_chunks())
    return encoded.indices.to_numpy(zero_copy_only=False), len(encoded.dictionary)


def partition_values(datetimes: pa.ChunkedArray | pa.Array, spec: TableSpec) -> pa.Array:
    """`YYYY-MM` (daily tables) or `YYYY-MM-DD` (intraday) of each UTC datetime."""
    utc = pc.cast(datetimes, pa.timestamp("us", tz="UTC"))
    floored = pc.floor_temporal(utc, unit="month" if spec.partitioning == "month" else "day")
    uniques = pc.unique(floored)  # strftime on a handful of values, not on every row
    labels = pc.strftime(uniques, format=spec.partition_format)
    out = pc.take(labels, pc.index_in(floored, value_set=uniques))
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def with_partition(rows: pa.Table, spec: TableSpec) -> pa.Table:
    """Rows plus the storage-only partition column."""
    return rows.append_column(PARTITION_COLUMN, partition_values(rows.column("datetime"), spec))


def partition_bounds(value: str, spec: TableSpec) -> tuple[datetime, datetime]:
    """[start, end) of a partition value in UTC."""
    if spec.partitioning == "month":
        start = datetime.strptime(value, "%Y-%m").replace(tzinfo=UTC)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        start = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        end = start + timedelta(days=1)
    return start, end


__all__ = [
    "SORT_KEYS",
    "conform",
    "conform_bars",
    "dedupe",
    "partition_bounds",
    "partition_values",
    "group_rows",
    "sort_rows",
    "to_utc",
    "with_partition",
]
