"""Build a dataset: read a pinned table version, add labels, filter members, transform, split, write.

Flow (all vectorised over rows, no per-row Python):
  read (symbol, datetime)-sorted rows of the features + close at one Delta version ->
  labels per symbol on the whole sample (a label reads the symbol's own next h bars) ->
  membership filter (a symbol is in the sample at t only when it has a bar at t and, with a membership
  file, is a member at t) -> reorder to (datetime, symbol) -> missing-feature policy and cross-sectional
  transforms within each datetime -> fold columns -> Parquet files + manifest.json.

The configuration is a plain dict (recorded verbatim in the manifest), so `--from-manifest` rebuilds from
exactly what the first build used, at the version it pinned.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from marketlake.datasets import labels as _labels
from marketlake.datasets import manifest as _manifest
from marketlake.datasets import splits as _splits
from marketlake.datasets import transforms as _tx
from marketlake.datasets.dataset import Dataset
from marketlake.datasets.spec import LabelSpec, SplitSpec, TransformSpec, check_missing
from marketlake.errors import ConfigError
from marketlake.schema import FIELDS, FIELDS_BY_NAME, get_table
from marketlake.storage import DeltaStore
from marketlake.storage.layout import to_utc
from marketlake.storage.versioned import read_at

NUMERIC = tuple(f.name for f in FIELDS if f.dtype in ("float64", "int8"))
"""Every numeric catalogue field: the default features."""
ROWS_PER_FILE = 500_000
ROW_GROUP = 65_536
_US = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Membership:
    """Index membership over time: `symbol` is a member from `start` to `end` (inclusive; None = open)."""

    rows: tuple[tuple[str, str | None, str | None], ...]

    @staticmethod
    def read(path: str | os.PathLike[str]) -> Membership:
        import csv

        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"membership file {p} does not exist")
        with p.open(newline="") as fh:
            reader = csv.DictReader(line for line in fh if not line.startswith("#"))
            names = [n.strip().lower() for n in reader.fieldnames or []]
            if not {"symbol", "start"} <= set(names):
                raise ConfigError(f"membership file {p} needs the columns symbol,start[,end]; it has {names}")
            out = []
            for i, row in enumerate(reader, start=2):
                r = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                if not r.get("symbol"):
                    raise ConfigError(f"membership file {p}, line {i}: empty symbol")
                for key in ("start", "end"):
                    if r.get(key):
                        try:
                            to_utc(r[key])
                        except ValueError:
                            raise ConfigError(f"membership file {p}, line {i}: {key} {r[key]!r} is not an ISO "
                                              f"date") from None
                out.append((r["symbol"], r.get("start") or None, r.get("end") or None))
        return Membership(tuple(out))

    def mask(self, symbol: np.ndarray, dt_us: np.ndarray) -> np.ndarray:
        """True where the row's symbol is a member at the row's datetime (vectorised per interval)."""
        keep = np.zeros(len(symbol), dtype=bool)
        for sym, start, end in self.rows:
            rows = symbol == sym
            lo = _us(start) if start else np.iinfo(np.int64).min
            hi = _end_us(end) if end else np.iinfo(np.int64).max
            keep |= rows & (dt_us >= lo) & (dt_us <= hi)
        return keep


def _us(value: str | datetime) -> int:
    ts = to_utc(value)
    assert ts is not None
    return int(ts.timestamp() * 1_000_000)


def _end_us(value: str) -> int:
    """An end bound; a plain date covers that whole day."""
    if len(value) == 10:
        return _us(value) + 86_400_000_000 - 1
    return _us(value)


def _iso(value: str | date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        ts = to_utc(value)
        assert ts is not None
        return ts.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    to_utc(value)  # validates
    return str(value)


def make_config(
    *,
    table: str,
    start: str | date | datetime | None,
    end: str | date | datetime | None,
    symbols: list[str] | None = None,
    universe: str | None = None,
    membership: str | os.PathLike[str] | Membership | None = None,
    features: list[str] | None = None,
    labels: list[str] | None = None,
    splits: str | None = "walk_forward:folds=5,embargo=5",
    transforms: list[str] | None = None,
    missing: str = "keep",
    rows_per_file: int = ROWS_PER_FILE,
) -> dict[str, Any]:
    """The normalised configuration a manifest records (universe resolved to symbols, specs canonical)."""
    spec = get_table(table)
    names = list(dict.fromkeys(features)) if features else list(NUMERIC)
    bad = [f for f in names if f not in FIELDS_BY_NAME]
    if bad:
        raise ConfigError(f"unknown features {bad}; see `marketlake schema` for the catalogue")
    non_numeric = [f for f in names if f not in NUMERIC]
    if non_numeric:
        raise ConfigError(f"features must be numeric catalogue fields; {non_numeric} are not")
    label_specs = [LabelSpec.parse(t) for t in (labels or ["fwd_return:5"])]
    seen: set[str] = set()
    for ls in label_specs:
        if ls.name in seen or ls.name in names:
            raise ConfigError(f"two columns named {ls.name!r}: give the label a name, e.g. {ls.kind}:h={ls.h},name=...")
        seen.add(ls.name)
    split = SplitSpec.parse(splits) if splits else None
    syms = list(dict.fromkeys(symbols)) if symbols else None
    if universe:
        from marketlake.config import load_config
        from marketlake.sources.twelvedata.universes import resolve_universe

        syms = list(dict.fromkeys((syms or []) + resolve_universe(universe, load_config(), table=spec.name)))
    members = membership if isinstance(membership, Membership) or membership is None else Membership.read(membership)
    return {
        "table": spec.name,
        "symbols": sorted(syms) if syms is not None else None,
        "universe": universe,
        "membership": [list(r) for r in members.rows] if members else None,
        "start": _iso(start),
        "end": _iso(end),
        "features": names,
        "labels": [str(ls) for ls in label_specs],
        "splits": str(split) if split else None,
        "transforms": [str(TransformSpec.parse(t)) for t in transforms or []],
        "missing": check_missing(missing),
        "benchmark": spec.default_benchmark,
        "label_dtype": "float64",
        "rows_per_file": _positive(rows_per_file),
    }


def _positive(n: int) -> int:
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"rows_per_file must be a whole number >= 1, not {n!r}")
    return n


def _numpy(col: pa.ChunkedArray) -> np.ndarray:
    """A numeric column as float64 with NaN for NULL."""
    arr = pc.cast(col, pa.float64()).combine_chunks() if col.type != pa.float64() else col.combine_chunks()
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)


def _dt_us(col: pa.ChunkedArray) -> np.ndarray:
    return pc.cast(col, _US).combine_chunks().cast(pa.int64()).to_numpy()


def _symbol_codes(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct symbols, each row's index into them): integer work instead of strings."""
    enc = pc.dictionary_encode(col.combine_chunks())
    dictionary = np.asarray(enc.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    ranks = np.argsort(np.argsort(dictionary, kind="stable"), kind="stable")
    return dictionary[np.argsort(dictionary, kind="stable")], ranks[enc.indices.to_numpy()]


def _float_array(x: np.ndarray) -> pa.Array:
    return pa.array(x, pa.float64(), from_pandas=True)  # NaN -> NULL


class _Reorder:
    """Moves columns into the dataset's (datetime, symbol) order block by block.

    Storage hands rows over partition by partition (a month of daily bars), so the permutation only moves
    rows within runs of source rows: one `take` per run reads a cache-sized slice instead of gathering
    from the whole column (a 2 M-row gather was ~3x slower, mostly cache misses)."""

    def __init__(self, order: np.ndarray) -> None:
        self.order = order
        n = len(order)
        if n == 0:
            self.bounds = np.zeros(1, np.int64)
            self.sources: list[tuple[int, int]] = []
            return
        prefix_max = np.maximum.accumulate(order)
        suffix_min = np.minimum.accumulate(order[::-1])[::-1]
        cuts = np.flatnonzero(prefix_max[:-1] < suffix_min[1:]) + 1  # no row after a cut comes from before it
        self.bounds = np.concatenate([[0], cuts, [n]]).astype(np.int64)
        self.sources = [(int(suffix_min[a]), int(prefix_max[b - 1]) + 1)
                        for a, b in zip(self.bounds[:-1], self.bounds[1:])]

    def plan(self, lo: int, hi: int) -> list[tuple[int, int, pa.Array]]:
        """(source start, source length, positions within it) of each block part making output rows [lo, hi)."""
        first = max(int(np.searchsorted(self.bounds, lo, side="right")) - 1, 0)
        parts = []
        for k in range(first, len(self.sources)):
            a, b = int(self.bounds[k]), int(self.bounds[k + 1])
            if a >= hi:
                break
            a, b = max(a, lo), min(b, hi)
            if a < b:
                src_lo, src_hi = self.sources[k]
                parts.append((src_lo, src_hi - src_lo, pa.array(self.order[a:b] - src_lo)))
        return parts

    @staticmethod
    def take(col: pa.ChunkedArray, plan: list[tuple[int, int, pa.Array]]) -> pa.ChunkedArray:
        """`col` (in source order) at the rows `plan` names, in output order."""
        chunks: list[pa.Array] = []
        for src_lo, size, local in plan:
            chunks.extend(col.slice(src_lo, size).take(local).chunks)
        return pa.chunked_array(chunks, type=col.type)


INDEX_COLUMNS = ("symbol", "datetime", "close")
"""What the sample's order, labels and folds are computed from: `Index` needs nothing else, so it can run
while the feature columns are still being read."""


class Index:
    """The sample of a dataset from its source rows' (symbol, datetime, close), in source order: which rows
    are in it, their (datetime, symbol) order, the labels and the fold assignments.

    Computed from three columns only, so `build` runs it beside the read of the feature columns (the
    labels and folds took ~2 s of one core after a read that kept both busy). `keep_extra` removes more
    rows before the order is fixed (the `drop` missing-feature policy, which needs the features)."""

    def __init__(self, rows: pa.Table, config: dict[str, Any], keep_extra: np.ndarray | None = None) -> None:
        label_specs = [LabelSpec.parse(t) for t in config["labels"]]
        names, codes = _symbol_codes(rows.column("symbol"))
        dt = _dt_us(rows.column("datetime"))
        self.source_dt = dt
        self.source_symbol = rows.column("symbol")  # for `matches`
        keep = np.ones(len(dt), dtype=bool) if keep_extra is None else keep_extra.copy()
        if config.get("membership"):
            keep &= Membership(tuple(tuple(r) for r in config["membership"])).mask(names[codes], dt)  # type: ignore[arg-type]
        # (datetime, symbol) order: cross-sections contiguous, symbols sorted within a datetime
        order = np.lexsort((codes, dt))
        self.order = order[keep[order]]
        by_symbol = np.lexsort((dt, codes))  # rows may come in storage order: labels need (symbol, datetime)
        series = _labels.Series.of(codes[by_symbol], dt[by_symbol], _numpy(rows.column("close"))[by_symbol], names)
        back = np.empty(len(dt), np.int64)
        back[by_symbol] = np.arange(len(dt))
        self.labels = {ls.name: _labels.compute_label(series, ls, default_benchmark=config["benchmark"])[back][self.order]
                       for ls in label_specs}
        label_end = _labels.label_end(series, max(ls.h for ls in label_specs))[back][self.order]
        del series, back, by_symbol
        self.dt = dt[self.order]
        self.symbol_count = len(np.unique(codes[self.order]))
        self.folds: list[np.ndarray] = []
        self.infos: list[_splits.FoldInfo] = []
        if config.get("splits"):
            self.folds, self.infos = _splits.assign(self.dt, label_end, SplitSpec.parse(config["splits"]))

    def matches(self, rows: pa.Table) -> bool:
        """Whether `rows` are the rows this index was computed from, in the same order (two reads of one
        Delta version return the same files in the same order; this is the proof, not an assumption)."""
        mine = self.source_symbol
        if rows.num_rows != len(self.source_dt):
            return False
        if not np.array_equal(_dt_us(rows.column("datetime")), self.source_dt):
            return False
        theirs = rows.column("symbol")
        if theirs.type != mine.type:
            theirs, mine = theirs.cast(pa.string()), mine.cast(pa.string())
        return pc.all(pc.equal(theirs, mine)).as_py() is True and theirs.null_count == mine.null_count


class Assembly:
    """A dataset before it is written: every column in (datetime, symbol) order, built slice by slice.

    Labels, folds and any transformed features are NumPy arrays over the whole sample (a transform needs
    whole cross-sections, a label a symbol's future); stored features are reordered from the source rows
    only when a slice is asked for, so writing file by file never holds a second copy of the table.
    `index`: the sample computed beforehand from these rows' (symbol, datetime, close) (`Index`)."""

    def __init__(self, rows: pa.Table, config: dict[str, Any], index: Index | None = None) -> None:
        features: list[str] = config["features"]
        transforms = [TransformSpec.parse(t) for t in config["transforms"]]
        missing = config["missing"]
        self.passthrough = not transforms and missing != "impute"
        if index is None:
            keep = None
            if missing == "drop":
                # rows dropped for a missing feature leave before the transforms: those see the surviving
                # cross-section
                keep = np.ones(rows.num_rows, dtype=bool)
                for name in features:
                    col = rows.column(name)
                    if col.null_count or pa.types.is_floating(col.type):
                        keep &= ~np.isnan(_numpy(col))
            index = Index(rows, config, keep)
        order = index.order
        self.labels, self.dt, self.symbol_count = index.labels, index.dt, index.symbol_count
        self.folds, self.infos = index.folds, index.infos
        self.rows, self.features, self.reorder = rows, features, _Reorder(order)
        groups = _tx.Groups(self.dt)
        self.computed: dict[str, np.ndarray] = {}
        if not self.passthrough:
            for name in features:
                x = _numpy(rows.column(name))[order]
                if missing == "impute":
                    x = _tx.impute(groups, x)
                for t in transforms:
                    x = _tx.apply(groups, x, t)
                self.computed[name] = x

    @property
    def num_rows(self) -> int:
        return len(self.dt)

    def slice(self, lo: int, hi: int, *, pool: ThreadPoolExecutor | None = None) -> pa.Table:
        """Output rows [lo, hi) as the dataset table (symbol, datetime, features, labels, fold_1..fold_k)."""
        plan = self.reorder.plan(lo, hi)

        def stored(name: str) -> pa.ChunkedArray:
            return self.reorder.take(self.rows.column(name), plan)

        names = ["symbol", "datetime"] + [f for f in self.features if f not in self.computed]
        taken = dict(zip(names, pool.map(stored, names) if pool is not None else map(stored, names)))
        cols: dict[str, Any] = {"symbol": taken["symbol"], "datetime": taken["datetime"]}
        for name in self.features:
            cols[name] = _float_array(self.computed[name][lo:hi]) if name in self.computed else taken[name]
        for name, y in self.labels.items():
            cols[name] = _float_array(y[lo:hi])
        for i, c in enumerate(self.folds, start=1):
            cols[f"fold_{i}"] = _splits.to_arrow(c[lo:hi])
        return pa.table(cols)

    def table(self) -> pa.Table:
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            return self.slice(0, self.num_rows, pool=pool)


def assemble(rows: pa.Table, config: dict[str, Any]) -> tuple[pa.Table, list[_splits.FoldInfo]]:
    """The dataset table (symbol, datetime, features, labels, fold_1..fold_k) from source rows holding the
    features and `close` (in any order), with the folds' descriptions."""
    asm = Assembly(rows, config)
    return asm.table(), asm.infos


def _chunks(dt: np.ndarray, rows_per_file: int) -> list[tuple[int, int]]:
    """[start, end) row ranges of about `rows_per_file` rows, cut at datetime boundaries."""
    n = len(dt)
    if n == 0:
        return [(0, 0)]
    out, lo = [], 0
    while lo < n:
        hi = min(n, lo + rows_per_file)
        if hi < n:
            hi = int(np.searchsorted(dt, dt[hi - 1], side="right"))  # finish the cross-section
        out.append((lo, hi))
        lo = hi
    return out


class _HashingSink:
    """The file object a Parquet writer writes into: every byte is hashed, counted and (with a file
    handle) written on, so a dataset file is never held whole in memory nor read back to be hashed."""

    closed = False

    def __init__(self, handle: Any | None) -> None:
        self.sha = hashlib.sha256()
        self.size = 0
        self.handle = handle

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.sha.update(view)  # hashlib frees the GIL for large buffers
        if self.handle is not None:
            self.handle.write(view)
        self.size += view.nbytes
        return view.nbytes

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        if self.handle is not None:
            self.handle.flush()

    def close(self) -> None:
        self.closed = True


def _write_parquet(rows: Callable[[int, int], pa.Table], lo: int, hi: int, handle: Any | None) -> tuple[int, str]:
    """Rows [lo, hi) as deterministic Parquet bytes: fixed writer options, no timestamps, row groups of
    ROW_GROUP rows, produced and encoded one row group at a time. Returns (bytes, sha256).

    Snappy: market features are mostly incompressible floats; zstd saved ~7% of the bytes for ~45% more
    CPU when measured on the benchmark table."""
    sink = _HashingSink(handle)
    stream = pa.BufferedOutputStream(pa.PythonFile(sink, mode="w"), buffer_size=1 << 20)
    writer: pq.ParquetWriter | None = None
    for g in range(lo, max(hi, lo + 1), ROW_GROUP):
        part = rows(g, min(g + ROW_GROUP, hi))
        if writer is None:
            writer = pq.ParquetWriter(
                stream, part.schema, compression="snappy",
                use_dictionary=["symbol"] + [c for c in part.column_names if c.startswith("fold_")],
                write_statistics=["symbol", "datetime"], write_page_index=True)
        writer.write_table(part, row_group_size=ROW_GROUP)
    assert writer is not None
    writer.close()
    stream.close()
    return sink.size, sink.sha.hexdigest()


def write_files(data: pa.Table | Assembly, out: str | os.PathLike[str] | None, *,
                rows_per_file: int = ROWS_PER_FILE) -> list[dict[str, Any]]:
    """Serialise to `out/data/part-NNNNN.parquet` (files in parallel); returns the manifest's file list.

    An `Assembly` is materialised one row group at a time (reorder, encode, hash, write, free): memory
    stays at a few row groups whatever the dataset's size."""
    if isinstance(data, Assembly):
        dt = data.dt
        rows: Callable[[int, int], pa.Table] = data.slice
    else:
        table = data
        dt = _dt_us(table.column("datetime")) if table.num_rows else np.empty(0, np.int64)
        rows = lambda a, b: table.slice(a, b - a)  # noqa: E731
    ranges = _chunks(dt, rows_per_file)
    if out is not None:
        folder = Path(out) / "data"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("part-*.parquet"):
            old.unlink()

    def one(i: int) -> dict[str, Any]:
        lo, hi = ranges[i]
        rel = f"data/part-{i:05d}.parquet"
        if out is None:
            size, sha = _write_parquet(rows, lo, hi, None)
        else:
            with open(Path(out) / rel, "wb") as handle:
                size, sha = _write_parquet(rows, lo, hi, handle)
        return {"path": rel, "rows": hi - lo, "bytes": size, "sha256": sha}

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(one, range(len(ranges))))


def build(
    warehouse: str | os.PathLike[str] | DeltaStore | Any,
    *,
    table: str = "stocks_daily_clean",
    start: str | date | datetime | None = None,
    end: str | date | datetime | None = None,
    symbols: list[str] | None = None,
    universe: str | None = None,
    membership: str | os.PathLike[str] | Membership | None = None,
    features: list[str] | None = None,
    labels: list[str] | None = None,
    splits: str | None = "walk_forward:folds=5,embargo=5",
    transforms: list[str] | None = None,
    missing: str = "keep",
    out: str | os.PathLike[str] | None = None,
    version: int | None = None,
    register: bool = True,
    rows_per_file: int = ROWS_PER_FILE,
    progress: Callable[[str], None] | None = None,
) -> Dataset:
    """Build a leak-free dataset from one table version (the latest unless `version`); see the module doc.

    Returns a `Dataset` (features, labels, folds, manifest; pandas/Polars/Arrow; batches). With `out`, the
    Parquet files and manifest.json are written there and the dataset is registered in the warehouse's
    `dataset_manifests` table (so the janitor knows which versions it pins).
    """
    config = make_config(table=table, start=start, end=end, symbols=symbols, universe=universe,
                         membership=membership, features=features, labels=labels, splits=splits,
                         transforms=transforms, missing=missing, rows_per_file=rows_per_file)
    return build_from_config(warehouse, config, out=out, version=version, register=register, progress=progress)


def _store(warehouse: Any) -> DeltaStore:
    if isinstance(warehouse, DeltaStore):
        return warehouse
    if hasattr(warehouse, "store") and isinstance(warehouse.store, DeltaStore):
        return warehouse.store
    from marketlake.storage.location import parse

    if parse(str(warehouse)).remote:  # s3:// gs:// az://: the store reports a missing bucket itself
        return DeltaStore(str(warehouse))
    root = Path(warehouse)
    if not root.is_dir():
        raise ConfigError(f"no warehouse at {root}: check the path (or --warehouse / MARKETLAKE_WAREHOUSE)")
    return DeltaStore(root)


def build_from_config(
    warehouse: Any, config: dict[str, Any], *, out: str | os.PathLike[str] | None = None,
    version: int | None = None, register: bool = True, progress: Callable[[str], None] | None = None,
) -> Dataset:
    """Build from a normalised configuration (what `make_config` returns and a manifest records).

    `progress` hears each step (read, labels and folds, write) as it starts.
    """
    import time

    say = progress or (lambda _m: None)

    store = _store(warehouse)
    if out is not None:
        _check_out(Path(out))
    if not store.exists(config["table"]):
        raise ConfigError(f"table {config['table']} does not exist in {store.root}; load bars first")
    t0 = time.perf_counter()
    need = list(dict.fromkeys([*INDEX_COLUMNS, *config["features"]]))
    selection = dict(symbols=config["symbols"], start=config["start"], end=_end_bound(config["end"]), sort=False)
    say(f"reading {config['table']} ({len(need)} columns)")
    narrow, info = read_at(store, config["table"], version=version, columns=list(INDEX_COLUMNS), **selection)
    if narrow.num_rows == 0:
        raise ConfigError(f"no bars in {config['table']} (version {info.version}) for this selection "
                          f"(symbols, {config['start']}..{config['end']}): nothing to build")
    index: Index | None = None
    with ThreadPoolExecutor(max_workers=1) as beside:  # labels and folds while the features are read
        pending = beside.submit(Index, narrow, config) if config["missing"] != "drop" else None
        del narrow
        rows, _ = read_at(store, config["table"], version=info.version, columns=need, **selection)
        t_read = time.perf_counter() - t0
        say(f"labels, transforms and folds for {rows.num_rows:,} rows")
        if pending is not None:
            index = pending.result()
    if index is not None and not index.matches(rows):
        index = None  # the two reads differ (they never should): compute from the rows read
    asm = Assembly(rows, config, index)
    del index  # its copy of the symbols is not needed past the check
    data = asm.table() if out is None else None  # an in-memory dataset; files are written slice by slice
    t_assemble = time.perf_counter() - t0 - t_read
    if out is not None:
        say(f"writing {asm.num_rows:,} rows to {out}")
    files = write_files(asm if data is None else data, out,
                        rows_per_file=int(config.get("rows_per_file", ROWS_PER_FILE)))
    del rows
    t_total = time.perf_counter() - t0
    features = config["features"]
    label_names = [LabelSpec.parse(t).name for t in config["labels"]]
    infos = asm.infos
    man: dict[str, Any] = {
        "format": _manifest.FORMAT,
        "source": {"warehouse": store.root, "table": info.table, "version": info.version,
                   "timestamp": info.timestamp.isoformat()},
        "config": config,
        "rows": asm.num_rows,
        "symbols": asm.symbol_count,
        "datetimes": len(np.unique(asm.dt)),
        "first_datetime": _ts(_from_us(int(asm.dt.min()))) if asm.num_rows else None,
        "last_datetime": _ts(_from_us(int(asm.dt.max()))) if asm.num_rows else None,
        "columns": {"features": features, "labels": label_names,
                    "folds": [f"fold_{i}" for i in range(1, len(asm.folds) + 1)]},
        "label_rows": {n: int((~np.isnan(asm.labels[n])).sum()) for n in label_names},
        "folds": [i.to_dict() for i in infos],
        "files": files,
        "content_hash": _manifest.content_hash(files),
        "built_at": datetime.now(UTC).isoformat(),
        "build_seconds": {"read": round(t_read, 3), "assemble": round(t_assemble, 3),
                          "write": round(t_total - t_read - t_assemble, 3), "total": round(t_total, 3)},
        "versions": _versions(),
    }
    if out is not None:
        _manifest.write(out, man)
        if register and not store.remote:
            from marketlake.datasets.registry import register_manifest

            register_manifest(store, Path(out), man)
    return Dataset(man, path=Path(out) if out is not None else None, table=data)


def _check_out(out: Path) -> None:
    """`out` is new, empty, or a dataset directory (rebuilt in place); anything else is refused."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a directory")
    if out.is_dir():
        foreign = [p.name for p in out.iterdir() if p.name not in ("data", _manifest.MANIFEST, "baseline.json",
                                                                   "baseline.html")]
        if foreign:
            raise ConfigError(f"--out {out} is not empty and not a dataset ({', '.join(sorted(foreign)[:3])}); "
                              f"choose a new directory")


def _end_bound(end: str | None) -> str | datetime | None:
    """An end given as a plain date includes that whole day (intraday bars)."""
    if end is not None and len(end) == 10:
        return datetime.fromtimestamp(_end_us(end) / 1e6, tz=UTC)
    return end


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _ts(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"pyarrow": pa.__version__, "numpy": np.__version__}
    try:
        out["marketlake"] = version("marketlake")
    except PackageNotFoundError:
        out["marketlake"] = "unknown"
    return out


def rebuild(manifest_path: str | os.PathLike[str], *, out: str | os.PathLike[str], warehouse: Any = None,
            register: bool = True, progress: Callable[[str], None] | None = None) -> Dataset:
    """Rebuild a dataset from its manifest at the Delta version it pinned (byte-identical files)."""
    man = _manifest.load(manifest_path)
    store = _store(warehouse if warehouse is not None else man["source"]["warehouse"])
    return build_from_config(store, man["config"], out=out, version=int(man["source"]["version"]),
                             register=register, progress=progress)


__all__ = ["INDEX_COLUMNS", "NUMERIC", "Assembly", "Index", "Membership", "assemble", "build", "build_from_config", "make_config", "rebuild",
           "write_files"]
