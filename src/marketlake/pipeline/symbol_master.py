"""Keep the `symbols` support table current after a load: metadata gaps filled, first/last bar per table."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from marketlake.frames import isin
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
    whole: bool = False,
) -> int:
    """Upsert master rows for the symbols in `bars`; returns how many rows changed.

    Existing values win over new ones only where the new value is NULL, so a curated master
    (reference files, vendor profiles) is never blanked by a source that knows less. `master` must have
    been read under the writer lock the caller still holds (`load_bars` does): rows upserted from an
    older read would undo what another writer recorded meanwhile. `whole`: `master` is the entire table
    (read under that lock), so the new content is written as one overwrite instead of a MERGE (~5x
    faster; what an append updating every symbol's last bar each minute pays).
    """
    schema = SUPPORT_SCHEMAS["symbols"]
    spans = bars.groupby("symbol", sort=True)["datetime"].agg(["min", "max"])
    if spans.empty:
        return 0
    first_col, last_col = f"first_bar_{spec.name}", f"last_bar_{spec.name}"
    index = pd.Index(spans.index.astype(object), name="symbol")
    others = [c for c in schema.names if c != "symbol"]
    if master.empty:
        old = pd.DataFrame(index=index, columns=others, dtype=object)
    else:
        old = master.drop_duplicates("symbol", keep="last").set_index("symbol").reindex(index)
        old = old.reindex(columns=others)
    new = old.copy()
    meta = resolved.drop_duplicates("symbol", keep="last").set_index("symbol").reindex(index)
    for col in METADATA_COLUMNS:  # the load's value where it has one, else what the master had
        if col in meta.columns:
            new[col] = meta[col].where(meta[col].notna(), new[col])
    new[first_col] = spans["min"].to_numpy()
    new[last_col] = spans["max"].to_numpy()
    new["active"] = new["active"].where(new["active"].notna(), True)
    changed = ~_same_rows(old, new, [c for c in others if c != "updated_at"])
    if not changed.any():
        return 0
    out = new.loc[changed].copy()
    out["updated_at"] = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now, tz="UTC")
    out = out.reset_index()
    table = pa.Table.from_pandas(out[schema.names], schema=schema, preserve_index=False)
    if whole and not master.empty:
        rest = master[~isin(master["symbol"], out["symbol"])].drop_duplicates("symbol", keep="last")
        kept = pa.Table.from_pandas(rest[schema.names], schema=schema, preserve_index=False)
        store.replace_support("symbols", pa.concat_tables([kept, table]))
    else:
        store.upsert_support("symbols", table, keys=["symbol"])
    return int(changed.sum())


def _same_rows(old: pd.DataFrame, new: pd.DataFrame, names: list[str]) -> np.ndarray:
    """Per row: every column equal, NULL equal to NULL (timestamps compared as instants)."""
    same = np.ones(len(old), dtype=bool)
    for name in names:
        a, b = old[name], new[name]
        if name.startswith(("first_bar_", "last_bar_")):
            a = pd.to_datetime(a, utc=True)
            b = pd.to_datetime(b, utc=True)
        a_null, b_null = a.isna().to_numpy(), b.isna().to_numpy()
        equal = (a.astype(object).to_numpy() == b.astype(object).to_numpy())
        same &= (a_null & b_null) | (~a_null & ~b_null & equal)
    return same


def resync_spans(store: DeltaStore, spec: TableSpec, *, now: datetime) -> int:
    """Set every master row's first/last bar of `spec`'s table to what the table holds now.

    Why: a restore or a data repair takes a table back to an older version, so the master's last bars
    (which loads only ever move forward) would name bars that no longer exist, and a symbol the
    version does not hold would keep spans it lost. Reads two columns of the table (per-symbol min/max
    in Arrow) and rewrites only the rows that differ, under the writer lock from the read to the
    commit. Idempotent: a second call changes nothing. Returns how many master rows changed.
    """
    if not store.exists("symbols") or not store.exists(spec.name):
        return 0
    first_col, last_col = f"first_bar_{spec.name}", f"last_bar_{spec.name}"
    with store.writer_lock():
        master = store.read_support("symbols").to_pandas()
        if master.empty:
            return 0
        spans = (store.read(spec.name, columns=["symbol", "datetime"], sort=False)
                 .group_by("symbol").aggregate([("datetime", "min"), ("datetime", "max")]).to_pandas()
                 .set_index("symbol"))
        master = master.drop_duplicates("symbol", keep="last").set_index("symbol")
        new = master.copy()
        new[first_col] = spans["datetime_min"].reindex(master.index).to_numpy()
        new[last_col] = spans["datetime_max"].reindex(master.index).to_numpy()
        changed = ~_same_rows(master, new, [first_col, last_col])
        if not changed.any():
            return 0
        out = new.loc[changed].copy()
        out["updated_at"] = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo \
            else pd.Timestamp(now, tz="UTC")
        schema = SUPPORT_SCHEMAS["symbols"]
        table = pa.Table.from_pandas(out.reset_index()[schema.names], schema=schema, preserve_index=False)
        store.upsert_support("symbols", table, keys=["symbol"])
        return int(changed.sum())


__all__ = ["record_symbols", "resync_spans"]
