"""The active file list of a Delta table with per-file partition values and statistics, and pruning.

Built from the Delta log (`get_add_actions(flatten=True)`), so choosing candidate files never opens a
data file. Parquet footers of files already seen are cached as dataset fragments: a table version never
changes its files, so repeated reads skip the footer parsing that dominates small reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from marketlake.schema import PARTITION_COLUMN, TableSpec
from marketlake.storage.layout import partition_bounds

_STAT_TRUNCATE = 32  # delta-rs truncates string statistics; a max this long is not a safe upper bound


@dataclass
class FileIndex:
    """Files of one table version. Columns are aligned numpy/Python arrays, one entry per file."""

    version: int
    paths: list[str]  # relative to the table root, as in the log
    sizes: np.ndarray
    records: np.ndarray
    partitions: list[str | None]
    min_symbol: list[str | None]
    max_symbol: list[str | None]
    min_dt: np.ndarray  # int64 microseconds, INT64 min when unknown
    max_dt: np.ndarray  # int64 microseconds, INT64 max when unknown
    last_modified_ms: int
    fragments: dict[str, "_Cached"] = field(default_factory=dict)

    @property
    def files(self) -> int:
        return len(self.paths)


def _col(t: pa.Table, name: str) -> list[object] | None:
    return t.column(name).to_pylist() if name in t.column_names else None


def _micros(t: pa.Table, name: str, fill: int) -> np.ndarray:
    if name not in t.column_names:
        return np.full(t.num_rows, fill, dtype=np.int64)
    arr = pc.cast(t.column(name), pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return pc.fill_null(arr, fill).to_numpy()


def build_index(add_actions: pa.Table, version: int) -> FileIndex:
    """A FileIndex from the flattened add actions of one version."""
    n = add_actions.num_rows
    none: list[object] = [None] * n
    mod = add_actions.column("modification_time") if n else None
    last = 0
    if mod is not None:
        last = int(pc.max(pc.cast(mod, pa.int64())).as_py() or 0)
    return FileIndex(
        version=version,
        paths=[unquote(str(p)) for p in add_actions.column("path").to_pylist()],
        sizes=add_actions.column("size_bytes").to_numpy() if n else np.empty(0, np.int64),
        records=pc.fill_null(add_actions.column("num_records"), 0).to_numpy() if n else np.empty(0, np.int64),
        partitions=_col(add_actions, f"partition.{PARTITION_COLUMN}") or none,  # type: ignore[arg-type]
        min_symbol=_col(add_actions, "min.symbol") or none,  # type: ignore[arg-type]
        max_symbol=_col(add_actions, "max.symbol") or none,  # type: ignore[arg-type]
        min_dt=_micros(add_actions, "min.datetime", np.iinfo(np.int64).min),
        max_dt=_micros(add_actions, "max.datetime", np.iinfo(np.int64).max),
        last_modified_ms=last,
    )


def _us(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


def prune(
    index: FileIndex,
    spec: TableSpec | None,
    *,
    symbols: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[int]:
    """Positions of files that may hold rows for the symbols within [start, end] (both inclusive)."""
    keep = np.ones(index.files, dtype=bool)
    if start is not None:
        keep &= index.max_dt >= _us(start)
    if end is not None:
        keep &= index.min_dt <= _us(end)
    if spec is not None and (start is not None or end is not None):
        for i, part in enumerate(index.partitions):
            if keep[i] and part is not None:
                lo, hi = partition_bounds(part, spec)
                if (start is not None and hi <= start) or (end is not None and lo > end):
                    keep[i] = False
    if symbols:
        wanted = sorted(set(symbols))
        for i in np.flatnonzero(keep):
            lo, hi = index.min_symbol[i], index.max_symbol[i]
            if lo is None or hi is None:
                continue
            open_top = len(hi) >= _STAT_TRUNCATE
            pos = int(np.searchsorted(np.asarray(wanted, dtype=object), lo))
            if pos >= len(wanted) or (not open_top and wanted[pos] > hi):
                keep[i] = False
    return [int(i) for i in np.flatnonzero(keep)]


@dataclass
class _Cached:
    """A fragment with its parsed footer and per-row-group min/max of symbol and datetime."""

    fragment: ds.ParquetFileFragment
    min_symbol: list[str | None]
    max_symbol: list[str | None]
    min_dt: np.ndarray
    max_dt: np.ndarray


def _stat_us(value: object, fill: int) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1_000_000)
    return fill


def _load(path: str, filesystem: pafs.FileSystem, fmt: ds.ParquetFileFormat) -> _Cached:
    frag = fmt.make_fragment(path, filesystem=filesystem)
    frag.ensure_complete_metadata()
    md = frag.metadata
    names = md.schema.names
    lo_s: list[str | None] = []
    hi_s: list[str | None] = []
    lo_t, hi_t = [], []
    i_sym = names.index("symbol") if "symbol" in names else None
    i_dt = names.index("datetime") if "datetime" in names else None
    imin, imax = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        st = rg.column(i_sym).statistics if i_sym is not None else None
        ok = st is not None and st.has_min_max
        lo_s.append(st.min if ok else None)  # type: ignore[union-attr]
        hi_s.append(st.max if ok else None)  # type: ignore[union-attr]
        st = rg.column(i_dt).statistics if i_dt is not None else None
        ok = st is not None and st.has_min_max
        lo_t.append(_stat_us(st.min, imin) if ok else imin)  # type: ignore[union-attr]
        hi_t.append(_stat_us(st.max, imax) if ok else imax)  # type: ignore[union-attr]
    return _Cached(frag, lo_s, hi_s, np.asarray(lo_t, np.int64), np.asarray(hi_t, np.int64))


def _keep_symbols(lo: list[str | None], hi: list[str | None], wanted: np.ndarray) -> np.ndarray:
    keep = np.ones(len(lo), dtype=bool)
    for g, (a, b) in enumerate(zip(lo, hi)):
        if a is None or b is None:
            continue
        pos = int(np.searchsorted(wanted, a))
        keep[g] = pos < len(wanted) and wanted[pos] <= b
    return keep


def fragments(
    index: FileIndex,
    positions: list[int],
    *,
    root: str,
    filesystem: pafs.FileSystem,
    fmt: ds.ParquetFileFormat,
    symbols: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[ds.ParquetFileFragment]:
    """Fragments of the chosen files restricted to row groups whose statistics may match.

    Row groups are pruned here rather than by a dataset filter: files written by delta-rs MERGE or
    OPTIMIZE store strings as string_view, and Arrow cannot compare those statistics with a string
    literal ("no kernel matching input types (string, string_view)").
    """
    wanted = np.asarray(sorted(set(symbols)), dtype=object) if symbols else None
    out = []
    for i in positions:
        rel = index.paths[i]
        cached = index.fragments.get(rel)
        if cached is None:
            cached = _load(f"{root}/{rel}", filesystem, fmt)
            index.fragments[rel] = cached
        keep = np.ones(len(cached.min_symbol), dtype=bool)
        if start is not None:
            keep &= cached.max_dt >= _us(start)
        if end is not None:
            keep &= cached.min_dt <= _us(end)
        if wanted is not None:
            keep &= _keep_symbols(cached.min_symbol, cached.max_symbol, wanted)
        if keep.all():
            out.append(cached.fragment)
        elif keep.any():
            out.append(cached.fragment.subset(row_group_ids=[int(g) for g in np.flatnonzero(keep)]))
    return out


__all__ = ["FileIndex", "build_index", "fragments", "prune"]
