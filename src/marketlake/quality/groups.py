"""The quality checks in symbol groups: never the whole table in memory.

Every check but three is per symbol (its rows alone decide its issues), so a table is checked group by
group: contiguous runs of its sorted symbols holding at most `memory_budget.group_rows(budget)` rows,
each read with all 97 columns (`DeltaStore.read`, pruned by file and row-group statistics), checked and
dropped before the next. The three facts that span symbols come from light passes first, streamed in
record batches of a few columns (`TableContext`):

- the stored symbols and their row counts (coverage against the tier target and the universe, and the
  group plan itself);
- the benchmark's datetimes with return_20 / return_1 (the dependency check of rs_benchmark_20 and
  beta_60), from a read of the benchmark alone;
- per (sector, datetime), how many rows have a return_20 (the sector-peer count behind rs_sector_20).

With one group (a table under the budget) the checks see exactly the frame the whole-table path built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from marketlake.frames import concat_rows
from marketlake.pipeline.memory_budget import group_rows, parse_budget
from marketlake.quality.frame import Frame, build
from marketlake.schema import TableSpec, bar_schema
from marketlake.storage import DeltaStore

_BATCH_ROWS = 262_144  # rows per record batch of the light passes


@dataclass(frozen=True)
class TableContext:
    """What a group's checks need to know about the rest of the table (small: no per-row data)."""

    symbols: list[str]  # every stored symbol, sorted
    counts: dict[str, int]  # rows per symbol
    benchmark: str
    bench_r20_us: np.ndarray  # sorted datetimes (int64 us) where the benchmark has return_20
    bench_r1_us: np.ndarray  # ... return_1
    peers: pd.DataFrame | None  # columns s (sector), t (int64 us), n (rows with return_20); None: not needed

    @property
    def bench_present(self) -> bool:
        return self.counts.get(self.benchmark, 0) > 0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def _batches(store: DeltaStore, table: str, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """The active files' `columns`, streamed in record batches (memory: one batch at a time)."""
    files = store.active_files(table)
    if not files:
        return
    schema = bar_schema()
    sub = pa.schema([schema.field(c) for c in columns])
    if store.remote:  # object stores: through the store's filesystem
        data = pads.dataset([store.fs_path(f) for f in files], schema=sub, format="parquet",
                            filesystem=store.filesystem)
    else:
        data = pads.dataset(files, schema=sub, format="parquet")
    yield from data.to_batches(columns=columns, batch_size=_BATCH_ROWS)


def table_context(store: DeltaStore, spec: TableSpec, *, benchmark: str, with_peers: bool) -> TableContext:
    """The light passes (see the module doc)."""
    counts: dict[str, int] = {}
    partial: list[pd.DataFrame] = []
    cols = ["symbol", "sector", "datetime", "return_20"] if with_peers else ["symbol"]
    for batch in _batches(store, spec.name, cols):
        vc = pc.value_counts(batch.column(0))
        for sym, n in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()):
            counts[sym] = counts.get(sym, 0) + int(n)
        if with_peers:
            df = pd.DataFrame({
                "s": batch.column(1).to_pandas(),
                "t": pc.cast(batch.column(2), pa.int64()).to_numpy(zero_copy_only=False),
                "n": pc.is_valid(batch.column(3)).to_numpy(zero_copy_only=False).astype(np.int64),
            })
            partial.append(df.groupby(["s", "t"], sort=False, dropna=False, as_index=False)["n"].sum())
            if len(partial) > 16:  # fold: the aggregate stays one row per (sector, datetime)
                partial = [_fold(partial)]
    peers = _fold(partial) if with_peers and partial else None
    r20 = r1 = np.empty(0, np.int64)
    if counts.get(benchmark):
        bench = store.read(spec.name, symbols=[benchmark], columns=["datetime", "return_20", "return_1"], sort=False)
        ts = pc.cast(bench.column("datetime"), pa.int64()).to_numpy(zero_copy_only=False)
        r20 = np.unique(ts[pc.is_valid(bench.column("return_20")).to_numpy(zero_copy_only=False)])
        r1 = np.unique(ts[pc.is_valid(bench.column("return_1")).to_numpy(zero_copy_only=False)])
    return TableContext(sorted(counts), counts, benchmark, r20, r1, peers)


def _fold(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return concat_rows(parts, ignore_index=True).groupby(["s", "t"], sort=False, dropna=False, as_index=False)["n"].sum()


def plan(symbols: list[str], counts: dict[str, int], limit: int) -> list[list[str]]:
    """Contiguous runs of the sorted `symbols` of at most `limit` rows (a bigger symbol: a group alone)."""
    groups: list[list[str]] = []
    filled = 0
    for sym in sorted(symbols):
        n = counts.get(sym, 0)
        if groups and filled + n <= limit:
            groups[-1].append(sym)
            filled += n
        else:
            groups.append([sym])
            filled = n
    return groups


def iter_frames(store: DeltaStore, spec: TableSpec, context: TableContext, *,
                memory_budget: int | str | None = None, max_rows: int | None = None) -> Iterator[Frame]:
    """One `Frame` per symbol group, in symbol order; a group holds at most `max_rows` rows (default:
    `group_rows(memory_budget)`) unless one symbol alone has more."""
    limit = int(max_rows) if max_rows is not None else group_rows(parse_budget(memory_budget))
    for members in plan(context.symbols, context.counts, limit):
        data = store.read(spec.name, symbols=members, sort=False)
        yield build(spec, data)
        del data


__all__ = ["TableContext", "iter_frames", "plan", "table_context"]
