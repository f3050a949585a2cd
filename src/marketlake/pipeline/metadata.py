"""Symbol metadata for a load: what the source says, filled in from the symbol master, then defaults."""

from __future__ import annotations

import pandas as pd

from marketlake.schema import METADATA_COLUMNS, TableSpec


def default_metadata(table: TableSpec) -> dict[str, str]:
    """Values a column takes when no source knows better (only where the table implies them)."""
    if table.asset == "crypto":
        return {"asset_type": "crypto", "exchange_timezone": "UTC"}
    return {"exchange_timezone": "America/New_York"}


def resolve_metadata(
    symbols: list[str],
    table: TableSpec,
    *,
    provided: pd.DataFrame | None,
    master: pd.DataFrame | None,
) -> pd.DataFrame:
    """One row per symbol with every metadata column: provided first, then the master, then defaults.

    The source's own metadata wins because it describes the bars being loaded; the master fills the
    gaps (e.g. GICS sectors from the reference files), and table defaults fill what is implied.
    """
    frame = pd.DataFrame({"symbol": pd.Series(sorted(set(symbols)), dtype=object)})
    for col in METADATA_COLUMNS:
        frame[col] = pd.Series([None] * len(frame), dtype=object)
    frame = frame.set_index("symbol")
    for layer in (provided, master):
        if layer is None or layer.empty:
            continue
        cols = [c for c in METADATA_COLUMNS if c in layer.columns]
        lay = layer.drop_duplicates("symbol", keep="last").set_index("symbol")[cols]
        lay = lay.reindex(frame.index).astype(object)
        lay = lay.where(lay.notna() & (lay.astype(str) != ""), None)
        for col in cols:
            frame[col] = frame[col].where(frame[col].notna(), lay[col])
    for col, value in default_metadata(table).items():
        frame[col] = frame[col].where(frame[col].notna(), value)
    return frame.reset_index()


__all__ = ["default_metadata", "resolve_metadata"]
