"""Arrow schemas derived from the field catalogue (and the storage-only partition column)."""

from __future__ import annotations

from functools import cache

import pyarrow as pa

from marketlake.schema.fields import FIELDS, DType
from marketlake.schema.tables import PARTITION_COLUMN

_ARROW_TYPES: dict[DType, pa.DataType] = {
    "string": pa.string(),
    "float64": pa.float64(),
    "int8": pa.int8(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def arrow_type(dtype: DType) -> pa.DataType:
    return _ARROW_TYPES[dtype]


@cache  # Arrow schemas are immutable; building this one costs ~2 ms, paid on every read before
def bar_schema() -> pa.Schema:
    """The 97-column schema every production table exposes, in catalogue order."""
    return pa.schema(
        [pa.field(f.name, arrow_type(f.dtype), nullable=f.name not in ("symbol", "datetime")) for f in FIELDS]
    )


@cache
def storage_schema() -> pa.Schema:
    """What is physically stored: the 97 columns plus the partition column."""
    return bar_schema().append(pa.field(PARTITION_COLUMN, pa.string(), nullable=False))


__all__ = ["arrow_type", "bar_schema", "storage_schema"]
