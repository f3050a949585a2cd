"""Fetch from a registered source and load into one or more tables (one commit per table)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import pandas as pd

from marketlake.pipeline.core import Progress, load_bars
from marketlake.pipeline.report import LoadReport
from marketlake.schema import TableSpec, get_table
from marketlake.sources.base import BarSource
from marketlake.storage import DeltaStore

BatchProgress = Callable[[str, int, int], None]


def ingest_source(
    store: DeltaStore,
    source: BarSource,
    tables: Iterable[str | TableSpec],
    *,
    symbols: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    benchmark: str | None = None,
    include_benchmark: bool = True,
    on_batch: BatchProgress | None = None,
    progress: Progress | None = None,
) -> list[LoadReport]:
    """Fetch every batch for each table, then load it in a single commit per table.

    The table's benchmark is fetched with an explicit symbol list, so the relative-performance fields
    of those symbols are never left NULL for want of it.
    """
    reports = []
    for table in tables:
        spec = get_table(table) if isinstance(table, str) else table
        wanted = list(symbols) if symbols is not None else None
        bench = benchmark or spec.default_benchmark
        if wanted is not None and include_benchmark and bench not in wanted:
            wanted.append(bench)
        bars, metas = [], []
        for i, batch in enumerate(source.fetch(wanted, spec, start=start, end=end), start=1):
            bars.append(batch.bars)
            if batch.metadata is not None:
                metas.append(batch.metadata)
            if on_batch:
                on_batch(spec.name, i, sum(len(b) for b in bars))
        if not bars:
            reports.append(LoadReport(table=spec.name, source=getattr(source, "name", "?")))
            continue
        raw = pd.concat(bars, ignore_index=True)
        meta = pd.concat(metas, ignore_index=True) if metas else None
        reports.append(
            load_bars(store, spec, raw, source=source.name, metadata=meta, benchmark=bench, progress=progress)
        )
    return reports


__all__ = ["ingest_source"]
