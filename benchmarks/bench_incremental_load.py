"""End-to-end incremental loads: one new bar per symbol into stored tables, commit included.

Not a timed test. In one running process (as `sync --watch` runs it), prints the wall (and CPU) time of
`load_bars` (validate -> read state and tails -> compute -> write -> commit -> state -> symbol master;
the synthetic fetch is timed apart) for
  * one new minute for each of the 150 one-minute symbols (100 stocks in stocks_1min_clean + 50 crypto in
    crypto_1min_clean: two loads), target <= 2 s;
  * one new session for 2,650 symbols in stocks_daily_clean, target <= 1 s;
each continued from the stored feature state (pipeline.incremental) and, in the same run, through the
full-recompute path (the incremental path switched off) on a copy of the same tables, with the ratio. Both
paths load the same bars; each makes its updates back to back on its own copy, as a running process does
(the incremental path first, then the full path).

Sizes: by default --minute-days 3 of history and --daily-sessions 400 (a quick run); --full builds the
issue's sizes (100 stocks x 126 sessions + 50 crypto x 183 days; 2,650 x 756 sessions): the build itself
then takes long and needs the bounded-memory full path.
--cache DIR keeps the built tables in DIR and copies them for the updates of later runs (a full-size build
takes long); --memory-budget bounds the builds' memory (grouped loads).
Run: .venv/bin/python benchmarks/bench_incremental_load.py [--repeat 3] [--full] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from marketlake.features import retain_memory
from marketlake.pipeline import incremental as _incremental
from marketlake.pipeline import ingest_source, load_bars
from marketlake.pipeline.report import LoadReport
from marketlake.schema import get_table
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore

_ORIGINAL = _incremental.load_appended


def _switch(on: bool) -> None:
    """The full-recompute path of this run: the incremental path declines every load."""
    _incremental.load_appended = _ORIGINAL if on else (lambda *a, **k: False)  # type: ignore[assignment]


def _fetch(src: object, tables: list[str], start: datetime, end: datetime) -> tuple[float, list[tuple]]:
    """The new bars of each table (not timed as the load: a vendor's HTTP in production): (seconds, bars)."""
    t = time.perf_counter()
    fetched = []
    for table in tables:
        batches = list(src.fetch(None, get_table(table), start=start, end=end))  # type: ignore[attr-defined]
        bars = pd.concat([b.bars for b in batches], ignore_index=True)
        meta = pd.concat([b.metadata for b in batches], ignore_index=True)
        fetched.append((table, bars, meta))
    return time.perf_counter() - t, fetched


def _update(store: DeltaStore, fetched: list[tuple]) -> tuple[float, float, list[LoadReport]]:
    """Load each table's new bars: (load wall s, load CPU s of this process, reports)."""
    t, cpu = time.perf_counter(), time.process_time()
    reports = [load_bars(store, table, bars, source="synthetic", metadata=meta) for table, bars, meta in fetched]
    return time.perf_counter() - t, time.process_time() - cpu, reports


def _both_paths(stores: dict[bool, DeltaStore], src: object, tables: list[str],
                windows: list[tuple[datetime, datetime]]) -> dict[bool, list[tuple[float, float]]]:
    """Each window's bars (fetched first) loaded into both copies of the tables: all windows through the
    incremental path, one after the other, then all through the full path into the other copy. Each path
    thus makes consecutive updates of its own table in this process, as `sync --watch` does (a full-path
    commit, or its gigabytes of garbage, between two incremental updates is not what a running process
    sees), at the same table sizes, a minute or two apart."""
    fetched = [_fetch(src, tables, start, end) for start, end in windows]
    runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for on in (True, False):
        _switch(on)
        for fetch, bars in fetched:
            wall, cpu, reports = _update(stores[on], bars)
            runs[on].append((wall, cpu))
            print(_line(on, wall, cpu, fetch, reports))
    _switch(True)
    return runs


def _copies(store: DeltaStore, root: Path, name: str) -> dict[bool, DeltaStore]:
    """The built tables for the incremental path, and a copy of them for the full path."""
    shutil.copytree(root / name, root / f"{name}-full")
    return {True: store, False: DeltaStore(root / f"{name}-full")}


def _line(on: bool, wall: float, cpu: float, fetch: float, reports: list[LoadReport]) -> str:
    inserted = sum(r.inserted for r in reports)
    return (f"  {'incremental' if on else 'full path  '}: {inserted} new bars, load {wall:.3f} s wall, {cpu:.3f} s CPU "
            f"(fetch {fetch:.2f} s; {_stages(reports)})")


def _stages(reports: list[LoadReport]) -> str:
    keys: dict[str, float] = {}
    for r in reports:
        for k, v in r.timings.items():
            keys[k] = keys.get(k, 0.0) + v
    return " ".join(f"{k}={v:.2f}" for k, v in keys.items())


def _built(root: Path, name: str, cache: Path | None, build: Callable[[DeltaStore], None]) -> DeltaStore:
    """The warehouse `root/name`, built by `build`, or copied from `cache/name` when a previous run built
    it there (the updates then run on the copy: every run starts from the same tables)."""
    if cache is not None and (cache / name / "complete").exists():
        t = time.perf_counter()
        shutil.copytree(cache / name, root / name)
        print(f"{name}: copied from the cache {cache / name} in {time.perf_counter() - t:.1f} s")
        return DeltaStore(root / name)
    store = DeltaStore(root / name)
    build(store)
    if cache is not None:
        shutil.rmtree(cache / name, ignore_errors=True)
        shutil.copytree(root / name, cache / name)
        (cache / name / "complete").write_text("built by bench_incremental_load.py\n")
    return store


BUDGET: str | None = None
"""--memory-budget of the builds (the grouped, bounded-memory load when the table exceeds it)."""


def _pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, round(q * (len(v) - 1)))]


def _summary(runs: dict[bool, list[tuple[float, float]]]) -> tuple[float, float]:
    """Print p50/p95 of wall and CPU per path (CPU beside wall: on a loaded machine wall is mostly waiting);
    return the median walls (incremental, full path)."""
    for on in (True, False):
        wall, cpu = [w for w, _ in runs[on]], [c for _, c in runs[on]]
        print(f"  {'incremental' if on else 'full path  '}: n={len(wall)} wall p50 {statistics.median(wall):.3f} "
              f"p95 {_pct(wall, 0.95):.3f} s; CPU p50 {statistics.median(cpu):.3f} p95 {_pct(cpu, 0.95):.3f} s")
    print(f"  machine load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    return statistics.median(w for w, _ in runs[True]), statistics.median(w for w, _ in runs[False])


def minute(root: Path, days: float, repeat: int, cache: Path | None = None) -> tuple[float, float]:
    src = get_source("synthetic", stocks=100, crypto=50, seed=3)
    end = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)  # a Tuesday, the stock session open
    start = end - timedelta(days=days)

    def build(store: DeltaStore) -> None:
        t = time.perf_counter()
        for table in ("stocks_1min_clean", "crypto_1min_clean"):
            ingest_source(store, src, [table], start=start, end=end - timedelta(minutes=repeat * 2 + 2),
                          memory_budget=BUDGET)
        print(f"1-minute tables built in {time.perf_counter() - t:.1f} s")

    store = _built(root, f"minute-{days:g}d-r{repeat}", cache, build)
    rows = sum(store.table_info(n).rows for n in ("stocks_1min_clean", "crypto_1min_clean"))
    print(f"1-minute tables: {rows:,} rows")
    clock = end - timedelta(minutes=repeat * 2 + 1)
    minutes = [(clock + timedelta(minutes=i), clock + timedelta(minutes=i)) for i in range(repeat)]
    stores = _copies(store, root, f"minute-{days:g}d-r{repeat}")
    return _summary(_both_paths(stores, src, ["stocks_1min_clean", "crypto_1min_clean"], minutes))


def daily(root: Path, symbols: int, sessions: int, repeat: int, cache: Path | None = None) -> tuple[float, float]:
    src = get_source("synthetic", stocks=symbols, crypto=1, seed=4)
    end = datetime(2026, 11, 13, tzinfo=UTC)  # a Friday; the updates run on the following sessions
    start = end - timedelta(days=int(sessions * 365 / 252))

    def build(store: DeltaStore) -> None:
        t = time.perf_counter()
        ingest_source(store, src, ["stocks_daily_clean"], start=start, end=end, memory_budget=BUDGET)
        print(f"daily table built in {time.perf_counter() - t:.1f} s")

    name = f"daily-{symbols}x{sessions}"
    store = _built(root, name, cache, build)
    info = store.table_info("stocks_daily_clean")
    print(f"daily table: {info.rows:,} rows, {symbols} symbols")
    import exchange_calendars as xcals

    first = pd.Timestamp((end + timedelta(days=1)).date())
    sessions = xcals.get_calendar("XNYS").sessions_in_range(first, first + pd.Timedelta(days=10 * repeat))
    days = [pd.Timestamp(d, tz="UTC") for d in sessions[:repeat]]  # no holiday: each day brings 2,650 bars
    stores = _copies(store, root, name)
    return _summary(_both_paths(stores, src, ["stocks_daily_clean"], [(d, d + timedelta(hours=23, minutes=59))
                                                                      for d in days]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3, help="updates per path (consecutive windows, each path on its own copy of the tables)")
    ap.add_argument("--minute-days", type=float, default=3.0)
    ap.add_argument("--daily-symbols", type=int, default=2650)
    ap.add_argument("--daily-sessions", type=int, default=400)
    ap.add_argument("--full", action="store_true", help="the issue's sizes (long build)")
    ap.add_argument("--skip-minute", action="store_true")
    ap.add_argument("--skip-daily", action="store_true")
    ap.add_argument("--cache", type=Path, default=None,
                    help="keep the built tables here and reuse them on later runs (updates run on a copy)")
    ap.add_argument("--memory-budget", default=None, help="of the table builds, e.g. 3G (default: the machine's)")
    ap.add_argument("--default-malloc", action="store_true", help="do not call retain_memory() (the CLI does)")
    args = ap.parse_args()
    print("freed memory retained (retain_memory, as the CLI and `sync --watch`)"
          if not args.default_malloc and retain_memory() else "default malloc")
    global BUDGET
    BUDGET = args.memory_budget
    if args.full:
        args.minute_days, args.daily_sessions = 183.0, 756
    with tempfile.TemporaryDirectory(prefix="bench-incr-") as tmp:
        root = Path(tmp)
        if not args.skip_minute:
            inc, full = minute(root, args.minute_days, args.repeat, args.cache)
            print(f"150 one-minute symbols, 1 new bar each: incremental {inc:.3f} s (target <= 2 s), "
                  f"full path {full:.3f} s, ratio {full / inc:.1f}x")
        if not args.skip_daily:
            inc, full = daily(root, args.daily_symbols, args.daily_sessions, args.repeat, args.cache)
            print(f"{args.daily_symbols} daily symbols, 1 new session: incremental {inc:.3f} s (target <= 1 s), "
                  f"full path {full:.3f} s, ratio {full / inc:.1f}x")


if __name__ == "__main__":
    main()
