"""`predict`: score the latest bars with a saved model and serve them in the `signals` support table.

What is served is what was trained on: the features are recomputed from the stored bars with the
warehouse's own engine (`features.compute_table`, the function ingestion stores), over the whole table
so cross-sectional fields (sector, benchmark) see the same peers as the stored ones, then passed through
the dataset's missing-feature policy and cross-sectional transforms (`datasets.build.assemble`) recorded
in the model's manifest, in the model's feature order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.datasets.build import _store, assemble
from marketlake.datasets.transforms import Groups, rank
from marketlake.errors import ConfigError
from marketlake.research import model as _model
from marketlake.schema import BAR_COLUMNS, METADATA_COLUMNS, SUPPORT_SCHEMAS, get_table
from marketlake.storage.versioned import read_at


@dataclass
class Prediction:
    signals: pa.Table  # the rows written (schema of the `signals` support table)
    features: pa.Table  # symbol, datetime and the served (transformed) features
    model: _model.SavedModel
    table: str
    source_version: int
    written: bool


def _us(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.cast(col, pa.timestamp("us", tz="UTC")).to_numpy(zero_copy_only=False).astype("datetime64[us]").astype(np.int64)


def predict(
    warehouse: Any,
    model_path: str | Path,
    *,
    table: str | None = None,
    symbols: list[str] | None = None,
    universe: str | None = None,
    last: int = 1,
    name: str | None = None,
    write: bool = True,
) -> Prediction:
    """Scores for the `last` latest datetimes of `table` (default: the model's training table)."""
    saved = _model.load(model_path)
    config = dict(saved.manifest["config"])
    tname = get_table(table or config["table"]).name
    store = _store(warehouse)
    if not store.exists(tname):
        raise ConfigError(f"table {tname} does not exist in {store.root}")
    if last < 1:
        raise ConfigError("--last must be at least 1")
    wanted = list(symbols) if symbols else None
    if universe:
        from marketlake.config import load_config
        from marketlake.sources.twelvedata.universes import resolve_universe

        wanted = list(dict.fromkeys((wanted or []) + resolve_universe(universe, load_config(), table=tname)))
    if wanted is None and config.get("symbols"):
        wanted = list(config["symbols"])
    rows, info = read_at(store, tname, columns=[*BAR_COLUMNS, *METADATA_COLUMNS])
    if rows.num_rows == 0:
        raise ConfigError(f"{tname} has no bars to score")
    dt_all = _us(rows.column("datetime"))
    pool = np.flatnonzero(pc.is_in(rows.column("symbol"), value_set=pa.array(wanted)).to_numpy(
        zero_copy_only=False)) if wanted else np.arange(rows.num_rows)
    if not len(pool):
        raise ConfigError(f"none of the requested symbols has bars in {tname}")
    times = np.unique(dt_all[pool])
    since_us = int(times[-min(last, len(times))])
    from marketlake.features import compute_table

    since = datetime.fromtimestamp(since_us / 1e6, tz=UTC)
    computed = compute_table(rows.to_pandas(), tname, since=since)
    if wanted:
        computed = computed.filter(pc.is_in(computed.column("symbol"), value_set=pa.array(wanted)))
    missing = [f for f in saved.features if f not in computed.column_names]
    if missing:
        raise ConfigError(f"the model needs features the engine does not produce: {missing}")
    cfg = {**config, "features": saved.features, "labels": ["fwd_return:1"], "splits": None, "membership": None}
    served, _ = assemble(computed.select(list(dict.fromkeys(["symbol", "datetime", "close", *saved.features]))), cfg)
    x = np.empty((served.num_rows, len(saved.features)), dtype=np.float32)
    for j, f in enumerate(saved.features):
        x[:, j] = pc.cast(served.column(f), pa.float64()).to_numpy()
    score = _model.predict(saved.model, x) if served.num_rows else np.empty(0)
    g = Groups(_us(served.column("datetime")))
    pct = rank(g, score)
    now = datetime.now(UTC)
    n = served.num_rows
    signals = pa.table({
        "symbol": served.column("symbol"),
        "datetime": served.column("datetime"),
        "model": pa.array([name or saved.name] * n, pa.string()),
        "model_version": pa.array([saved.version] * n, pa.string()),
        "score": pa.array(score, pa.float64()),
        "rank": pa.array(pct, pa.float64(), from_pandas=True),
        "table": pa.array([tname] * n, pa.string()),
        "source_version": pa.array([info.version] * n, pa.int64()),
        "created_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
    }).cast(SUPPORT_SCHEMAS["signals"])
    if write and n:
        store.upsert_support("signals", signals, keys=["symbol", "datetime", "model", "model_version"])
    return Prediction(signals, served.select(["symbol", "datetime", *saved.features]), saved, tname, info.version,
                      write and n > 0)


__all__ = ["Prediction", "predict"]
