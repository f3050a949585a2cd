"""Fetch from a registered source and load into one or more tables (one commit per table).

A load that fits the memory budget (its bars plus the table's stored ones) runs as one `load_bars`;
a bigger one streams the source's batches into `pipeline.grouped.load_grouped` (symbol groups, one
commit), so neither the fetched bars nor the table are ever held whole."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

from marketlake.frames import concat_rows
from marketlake.pipeline.core import Progress, load_bars
from marketlake.pipeline.executors import Executor
from marketlake.pipeline.memory_budget import group_rows, parse_budget
from marketlake.pipeline.report import LoadReport
from marketlake.schema import TableSpec, get_table
from marketlake.sources.base import BarSource, RawBatch
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
    memory_budget: int | str | None = None,
    executor: Executor | None = None,
) -> list[LoadReport]:
    """Fetch every batch for each table, then load it in a single commit per table.

    The table's benchmark is fetched with an explicit symbol list, so the relative-performance fields
    of those symbols are never left NULL for want of it. `memory_budget` (bytes or `4G`; None: the
    default, `memory_budget.default_budget()`) decides between one in-memory load and a grouped one;
    an `executor` other than the local one (a Dask cluster) always runs the grouped load on it.
    """
    limit = group_rows(parse_budget(memory_budget))
    reports = []
    for table in tables:
        spec = get_table(table) if isinstance(table, str) else table
        wanted = list(symbols) if symbols is not None else None
        bench = benchmark or spec.default_benchmark
        if wanted is not None and include_benchmark and bench not in wanted:
            wanted.append(bench)
        batches = iter(source.fetch(wanted, spec, start=start, end=end))

        def note(i: int, n: int, name: str = spec.name) -> None:
            if on_batch:
                on_batch(name, i, n)

        buffered, fetched = _buffer(batches, limit, note)
        from marketlake.pipeline.grouped import load_grouped, needs_groups

        moves = any(bool((b.bars["symbol"] == bench).any()) for b in buffered if "symbol" in b.bars)
        distributed = executor is not None and executor.name != "local"
        keys = None  # the incoming keys: an append continued from the state needs no group (`needs_groups`)
        if moves and all({"symbol", "datetime"} <= set(b.bars.columns) for b in buffered):
            keys = concat_rows([b.bars[["symbol", "datetime"]] for b in buffered], ignore_index=True)
        if fetched > limit or (fetched and distributed) or (fetched and needs_groups(store, spec, fetched, moves_everyone=moves,
                                                       memory_budget=memory_budget, bars=keys)):
            stream = _counted(itertools.chain(buffered, batches), len(buffered), fetched, spec.name, on_batch)
            reports.append(load_grouped(store, spec, stream, source=source.name, benchmark=bench,
                                        memory_budget=memory_budget, progress=progress, executor=executor))
            continue
        bars = [b.bars for b in buffered]
        metas = [b.metadata for b in buffered if b.metadata is not None]
        if not bars:
            reports.append(LoadReport(table=spec.name, source=getattr(source, "name", "?")))
            continue
        raw = concat_rows(bars, ignore_index=True)
        meta = concat_rows(metas, ignore_index=True) if metas else None
        reports.append(
            load_bars(store, spec, raw, source=source.name, metadata=meta, benchmark=bench, progress=progress,
                      memory_budget=memory_budget)
        )
    return reports


def _buffer(batches: Iterator[RawBatch], limit: int, note: Callable[[int, int], None]) -> tuple[list[RawBatch], int]:
    """Batches until more than `limit` bars were fetched or the source is exhausted; (batches, bars)."""
    out: list[RawBatch] = []
    rows = 0
    for batch in batches:
        out.append(batch)
        rows += len(batch.bars)
        note(len(out), rows)
        if rows > limit:
            break
    return out, rows


def _counted(batches: Iterator[RawBatch], seen: int, rows: int, table: str,
             on_batch: BatchProgress | None) -> Iterator[RawBatch]:
    """`batches`, reporting each one past the first `seen` (already reported) to `on_batch`."""
    for i, batch in enumerate(batches, start=1):
        if i > seen:
            rows += len(batch.bars)
            if on_batch:
                on_batch(table, i, rows)
        yield batch


__all__ = ["ingest_source"]
