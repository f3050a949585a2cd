"""Keep the `symbols` support table current after a load: metadata gaps filled, first/last bar per table."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pyarrow as pa

from marketlake.schema import METADATA_COLUMNS, SUPPORT_SCHEMAS, TableSpec
from marketlake.storage import DeltaStore


def record_symbols(
    store: DeltaStore,
    spec: TableSpec,
    bars: pd.DataFrame,
    resolved: pd.DataFrame,
    *,
    master: pd.DataFrame,
    now: datetime,
) -> int:
    """Upsert master rows for the symbols in `bars`; returns how many rows changed.

    Existing values win over new ones only where the new value is NULL, so a curated master
    (reference files, vendor profiles) is never blanked by a source that knows less.
    """
    schema = SUPPORT_SCHEMAS["symbols"]
    spans = bars.groupby("symbol")["datetime"].agg(["min", "max"])
    first_col, last_col = f"first_bar_{spec.name}", f"last_bar_{spec.name}"
    current = master.set_index("symbol") if not master.empty else pd.DataFrame(columns=schema.names).set_index("symbol")
    meta = resolved.set_index("symbol")
    rows = []
    for symbol, (first, last) in spans.iterrows():
        old = current.loc[symbol].to_dict() if symbol in current.index else {}
        new = {name: old.get(name) for name in schema.names if name != "symbol"}
        new["symbol"] = symbol
        if symbol in meta.index:
            for col in METADATA_COLUMNS:
                value = meta.at[symbol, col]
                if value is not None and not (isinstance(value, float) and pd.isna(value)):
                    new[col] = value
        new[first_col], new[last_col] = first.to_pydatetime(), last.to_pydatetime()
        if new.get("active") is None or pd.isna(new.get("active")):
            new["active"] = True
        if _same(old, new, schema.names):
            continue
        new["updated_at"] = now
        rows.append(new)
    if rows:
        frame = pd.DataFrame(rows)
        table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
        store.upsert_support("symbols", table, keys=["symbol"])
    return len(rows)


def _same(old: dict[str, object], new: dict[str, object], names: list[str]) -> bool:
    if not old:
        return False
    for name in names:
        if name in ("symbol", "updated_at"):
            continue
        a, b = old.get(name), new.get(name)
        a_null = a is None or (not isinstance(a, str) and pd.isna(a))
        b_null = b is None or (not isinstance(b, str) and pd.isna(b))
        if a_null and b_null:
            continue
        if a_null != b_null:
            return False
        if isinstance(a, datetime) or isinstance(b, datetime):
            if pd.Timestamp(a) != pd.Timestamp(b):  # type: ignore[arg-type]
                return False
        elif a != b:
            return False
    return True


__all__ = ["record_symbols"]
