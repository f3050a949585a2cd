"""The stored tails a running process appended last, kept to serve its next append without reading them.

An incremental update reads each continued symbol's last bars (`incremental.continued_history_bars()`, nine
columns): for 2,650 daily symbols ~700k rows, 0.17-0.30 s of a ~1.2 s update even with the files' decoded
pieces kept (`DeltaStore.read(keep=True)`: the rows still have to be masked, grouped, decoded and
converted). Once that update commits, the process knows those rows exactly: the rows it read, then, per
symbol, the rows it appended. `sync --watch` makes the next update in the same process.

What is served is exact by construction, never a guess: the rows are served only while the table is the
same Delta table (its metadata id) at the very version this process committed, so no other writer (another
process, `quality --yes`, retention, compaction, a restore) has touched it since; the caller holds the
writer lock from this check to its own commit. A symbol is served only when the kept rows cover the
requested window (each symbol's rows are all of its stored rows from some datetime on); the others are
read from storage as before. A process keeps at most one entry per table, replaced by each append.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketlake.frames import concat_rows, datetime_ns


@dataclass(frozen=True)
class _Tails:
    table_id: str
    version: int
    lo_ns: int | None  # every stored row of each symbol from here on (None: from its first bar)
    base: pd.DataFrame  # contiguous per symbol, chronological
    symbols: pd.Index  # the symbol of each run of `base`
    starts: np.ndarray  # each run's rows [start, stop) in `base`
    stops: np.ndarray
    base_ns: np.ndarray  # `base`'s datetimes, int64 ns
    appended: pd.DataFrame  # the rows the commit added after each symbol's run, by run then datetime
    app_starts: np.ndarray  # each run's appended rows [start, stop) in `appended`
    app_stops: np.ndarray


_known: dict[str, _Tails] = {}
_lock = threading.Lock()


def _positions(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The row positions [start, stop) of each run, run after run."""
    lengths = (stops - starts).astype(np.int64)
    if not len(lengths) or not lengths.sum():
        return np.empty(0, np.int64)
    return np.repeat(starts.astype(np.int64), lengths) + np.arange(int(lengths.sum())) - np.repeat(
        np.cumsum(lengths) - lengths, lengths)


def recall(
    key: str, *, table_id: str, version: int, lo: pd.Timestamp | None, symbols: list[str], need: int,
    n_bars: pd.Series,
) -> tuple[pd.DataFrame, list[str]] | None:
    """The kept rows from `lo` on (all, when None) of the `symbols` that have at least `need` of them or
    all `n_bars` (per symbol) their state counted, contiguous per symbol and chronological, and the symbols
    left to read from storage; None when nothing kept is valid for this table version and window."""
    with _lock:
        known = _known.get(key)
    if known is None or known.table_id != table_id or known.version != version:
        return None
    lo_ns = None if lo is None else int(pd.Timestamp(lo).as_unit("ns").value)
    if known.lo_ns is not None and (lo_ns is None or lo_ns < known.lo_ns):
        return None  # the window reaches further back than what is kept
    wanted = pd.Index(symbols, dtype=object)
    at = known.symbols.get_indexer(wanted)
    hit = at >= 0
    runs = at[hit]
    starts, stops = known.starts[runs], known.stops[runs]
    if lo_ns is not None:  # each run is chronological: its rows before `lo` are a prefix (appended rows are later)
        before = np.concatenate([[0], np.cumsum(known.base_ns < lo_ns)])
        starts = starts + (before[stops] - before[starts])
    app_starts, app_stops = known.app_starts[runs], known.app_stops[runs]
    count = (stops - starts) + (app_stops - app_starts)
    counted = n_bars.reindex(wanted[hit]).to_numpy(np.float64, na_value=np.inf)
    ok = (count >= need) | (count >= counted)
    offset = len(known.base)  # positions in the concatenation of base and appended: per symbol, both runs
    both_starts = np.column_stack([starts[ok], app_starts[ok] + offset]).ravel()
    both_stops = np.column_stack([stops[ok], app_stops[ok] + offset]).ravel()
    rows = concat_rows([known.base, known.appended], ignore_index=True)
    served = rows.iloc[_positions(both_starts, both_stops)].reset_index(drop=True)
    served_symbols = set(wanted[hit][ok])
    return served, [s for s in symbols if s not in served_symbols]


def remember(
    key: str, *, table_id: str, version: int, lo: pd.Timestamp | None, tails: pd.DataFrame, runs: pd.DataFrame,
    appended: pd.DataFrame,
) -> None:
    """After a commit at `version`: per symbol of `tails` (contiguous per symbol, chronological; all the
    table's rows of those symbols from `lo` on, or from further back, before the commit; `runs`: each
    symbol's rows [start, stop) in it, indexed by symbol), its rows followed by the rows of `appended` the
    commit added after them (only symbols of `tails`). Replaces what was kept for the table."""
    symbols = pd.Index(runs.index, dtype=object)
    codes = symbols.get_indexer(pd.Index(appended["symbol"].to_numpy(object), dtype=object))
    if (codes < 0).any():
        raise ValueError("appended rows of a symbol without tails")  # pragma: no cover - caller bug guard
    order = np.lexsort((datetime_ns(appended["datetime"]), codes))
    appended = appended.iloc[order][list(tails.columns)].reset_index(drop=True)
    counts = np.bincount(codes, minlength=len(symbols)).astype(np.int64)
    app_stops = np.cumsum(counts)
    entry = _Tails(table_id=table_id, version=version,
                   lo_ns=None if lo is None else int(pd.Timestamp(lo).as_unit("ns").value), base=tails,
                   symbols=symbols, starts=runs["start"].to_numpy(np.int64), stops=runs["stop"].to_numpy(np.int64),
                   base_ns=datetime_ns(tails["datetime"]), appended=appended, app_starts=app_stops - counts,
                   app_stops=app_stops)
    with _lock:
        _known[key] = entry


def forget(key: str | None = None) -> None:
    """Drop what is kept for one table (`key`), or for every table."""
    with _lock:
        if key is None:
            _known.clear()
        else:
            _known.pop(key, None)


__all__ = ["forget", "recall", "remember"]
