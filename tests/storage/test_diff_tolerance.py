"""The storage diff keeps a stored row whose values are within the equivalence tolerance (no rebuild churn)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from marketlake.schema import bar_schema
from marketlake.storage.diff import diff_rows


def _rows(n: int = 4) -> pa.Table:
    schema = bar_schema()
    cols = {}
    for f in schema:
        if f.name == "symbol":
            cols[f.name] = pa.array([f"S{i}" for i in range(n)], f.type)
        elif f.name == "datetime":
            cols[f.name] = pa.array([datetime(2024, 1, 2, tzinfo=UTC)] * n, f.type)
        elif pa.types.is_floating(f.type):
            cols[f.name] = pa.array(np.linspace(1.0, 2.0, n) * 100.0, f.type)
        else:
            cols[f.name] = pa.nulls(n, f.type)
    return pa.table(cols, schema=schema)


def _with(table: pa.Table, name: str, values: list[float | None]) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i), pa.array(values, pa.float64()))


def test_last_bit_differences_are_unchanged_real_changes_are_not() -> None:
    stored = _rows()
    base = stored["ema_12"].to_pylist()
    drift = stored["bb_percent_b"].to_pylist()
    incoming = _with(stored, "ema_12", [base[0] * (1 + 4e-16), base[1] * (1 + 1e-9), base[2], None])
    incoming = _with(incoming, "bb_percent_b", [drift[0] * (1 + 5e-11), drift[1], drift[2] * (1 + 1e-6), drift[3]])
    diff = diff_rows(incoming, stored)
    # row 0: an ulp in ema_12 and a drift-size difference in bb_percent_b: the stored row stays
    # row 1: 1e-9 in a bit-exact column; row 2: 1e-6 in a drift column; row 3: NULL vs a value
    assert diff.changed.tolist() == [1, 2, 3]
    assert diff.unchanged == 1 and diff.new.size == 0


def test_inputs_compare_exactly() -> None:
    stored = _rows(2)
    close = stored["close"].to_pylist()
    incoming = _with(stored, "close", [close[0] * (1 + 2e-16), close[1]])
    assert diff_rows(incoming, stored).changed.tolist() == [0]
