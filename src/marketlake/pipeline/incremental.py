"""Appending bars costs what is new: continue each symbol from its stored feature state.

A load whose every incoming bar of a symbol lies after that symbol's last stored bar (and whose metadata
did not change) is an append. For each such symbol with a valid state row in `feature_state`, only its last
`continued_history_bars()` stored bars are read, nine columns of them (OHLCV, return_1 and the long windows'
hist_volatility_20), and only the new rows are computed (`compute_table(state=..., long_rows=...)`: the
engine over the last `short_history_bars()`, the 200/252-bar fields from the narrow columns); a
symbol without one (new, or its state was dropped or does not fit) is computed from its first stored bar,
as a full load would, and gets its state. Cross-sectional columns are then refreshed where the new bars
move them (`_cross`): the new rows themselves, the stored rows of any symbol at the new datetimes (sector
medians), and, when the benchmark got new bars, every stored row from its first new bar on (rs_benchmark_20,
beta_60), from the stored `return_20` / `return_1` columns instead of recomputing the peers' histories.

Validity of a state row (else the symbol is recomputed from its first bar): this engine's `fingerprint()`,
its `datetime` is the symbol's last stored bar, and its recursions equal the stored row at that bar
(`_CHECKS`: EMA 12/26, OBV, A/D equal the outputs there). Bars commit first, the state after it: a run killed
in between leaves a state one bar behind the stored last bar, which the check refuses. A full load that
recomputes symbols drops their state before its bars commit (`forget_states`).

In a running process the tails of the previous append are served from memory while the table is still at
the version that append committed (`known_tails`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.features import FeatureInputError, compute_table, cross_section
from marketlake.features import state as fstate
from marketlake.features._segments import Segments
from marketlake.frames import concat_rows, datetime_ns, isin, runs_of
from marketlake.pipeline import known_tails
from marketlake.pipeline.report import LoadReport
from marketlake.pipeline.symbol_master import record_symbols
from marketlake.schema import (
    BAR_COLUMNS,
    FIELDS_BY_NAME,
    METADATA_COLUMNS,
    SUPPORT_SCHEMAS,
    TableSpec,
    bar_schema,
)
from marketlake.storage import DeltaStore
from marketlake.storage.files import prune

Progress = Callable[[str], None]
STATE_TABLE = "feature_state"
CROSS_COLUMNS: tuple[str, ...] = ("rs_benchmark_20", "rs_sector_20", "beta_60")
"""The cross-stage columns (`features.registry`, stage "cross"): the only ones a peer's bars move."""
_CHECKS = {"ema_12": "ema_12", "ema_26": "ema_26", "obv": "obv", "ad_line": "ad"}  # stored column -> state column
_BETA = int(FIELDS_BY_NAME["beta_60"].params.get("timeperiod", 60))
_MIN_PEERS = 3
_TAIL_COLS = [*BAR_COLUMNS, "return_1"]  # the stored `source` never reaches a computed row; return_1: beta's context
_CONTINUED_COLS = [*_TAIL_COLS, *(c for c in fstate.LONG_COLUMNS if c not in _TAIL_COLS)]
_SERIES_COLS = ["symbol", "datetime", "return_1", "return_20"]
MAX_FRESH_ROWS = 2_000_000
"""Bars (incoming + stored histories of symbols without a usable state) above which a load is left to the
full path, which streams big loads in bounded memory; it writes the states the next append continues."""


def _span(spec: TableSpec, bars: int) -> pd.Timedelta:
    """A first guess of the calendar time holding `bars` bars (widened when it does not: weekends, gaps)."""
    per_bar = 365 * 86_400 / spec.bars_per_year
    slack = 1.15 if spec.intraday else 1.05  # a year of daily bars holds its bars_per_year within a few
    return pd.Timedelta(seconds=bars * per_bar * slack + 2 * spec.bar_seconds)


def _table_start(store: DeltaStore, spec: TableSpec) -> pd.Timestamp | None:
    """The earliest datetime any file of the table may hold (file statistics); None when unknown."""
    index = store.file_index(spec.name)
    if not index.files:
        return None
    known = index.min_dt[index.min_dt != np.iinfo(np.int64).min]
    if len(known) < index.files:
        return None
    return pd.Timestamp(int(known.min()), unit="us", tz="UTC")


def _window_start(floor: pd.Timestamp | None, start: pd.Timestamp, span: pd.Timedelta) -> pd.Timestamp | None:
    """Where `_read_back` starts reading: `span` before `start`, or None (from the first row) when that
    reaches the table's first datetime `floor` (or the floor is unknown)."""
    lo = start - span
    return None if floor is None or lo <= floor else lo


def _continued_tails(
    store: DeltaStore, spec: TableSpec, symbols: list[str], start: pd.Timestamp,
    enough: Callable[[pd.DataFrame], pd.Series], bars: int, n_bars: pd.Series,
) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """`_read_back` of `_CONTINUED_COLS` (and the window start it used), served from `known_tails` for the
    symbols this process appended last while the table is still at that version; the others are read."""
    lo = _window_start(_table_start(store, spec), start, _span(spec, bars))
    known = known_tails.recall(store.path(spec.name), table_id=_table_id(store, spec),
                               version=store.version(spec.name), lo=lo, symbols=symbols, need=bars, n_bars=n_bars)
    if known is None:
        return _read_back(store, spec, symbols, start, _CONTINUED_COLS, enough, bars), lo
    served, rest = known
    if not rest:
        return served, lo
    return concat_rows([served, _read_back(store, spec, rest, start, _CONTINUED_COLS, enough, bars)],
                       ignore_index=True), lo


def _table_id(store: DeltaStore, spec: TableSpec) -> str:
    """The Delta table's own id: a table deleted and created again restarts its versions, not its id."""
    return str(store.table(spec.name, refresh=False).metadata().id)


def _read_back(
    store: DeltaStore, spec: TableSpec, symbols: list[str], start: pd.Timestamp, columns: list[str],
    enough: Callable[[pd.DataFrame], pd.Series], bars: int,
) -> pd.DataFrame:
    """Each symbol's stored rows from a start far enough back for `enough` (per symbol: True when its rows
    suffice), doubling the window for the symbols still short, until the table's first datetime."""
    floor = _table_start(store, spec)
    span = _span(spec, bars)
    lo = _window_start(floor, start, span)
    # keep=True: a running process (`sync --watch`) reads these same files' tails on every update
    parts = [store.read(spec.name, symbols=symbols, start=lo, columns=columns, sort="grouped", keep=True).to_pandas()]
    todo = symbols
    while lo is not None:
        got = concat_rows(parts, ignore_index=True)
        ok = enough(got).reindex(todo, fill_value=False)
        todo = ok.index[~ok.to_numpy()].tolist()
        if not todo:
            break
        span = span * 2
        hi = lo - pd.Timedelta(microseconds=1)
        lo = start - span
        if floor is not None and lo <= floor:
            lo = None
        parts.append(store.read(spec.name, symbols=todo, start=lo, end=hi, columns=columns, sort=False).to_pandas())
    if len(parts) == 1:
        return parts[0]
    out = concat_rows(parts, ignore_index=True)
    if out.empty:
        return out
    codes, _ = pd.factorize(out["symbol"])  # contiguous per symbol, chronological: no string sort
    return out.iloc[np.lexsort((datetime_ns(out["datetime"]), codes))].reset_index(drop=True)


def read_states(store: DeltaStore) -> pa.Table:
    """Every `feature_state` row (all tables; the table is small: one row per table and symbol)."""
    return store.read_support(STATE_TABLE)


def forget_states(store: DeltaStore, spec: TableSpec, symbols: list[str]) -> None:
    """Drop the state rows of `symbols` (call before a commit that rewrites their history: a run killed
    after it recomputes them from their first bar, never continues a state the new bars contradict)."""
    if not store.exists(STATE_TABLE):
        return
    states = read_states(store)
    hit = pc.and_(pc.equal(states["table"], spec.name), pc.is_in(states["symbol"], pa.array(symbols, pa.string())))
    if not pc.any(hit).as_py():
        return
    store.replace_support(STATE_TABLE, states.filter(pc.invert(hit)))


def save_states(store: DeltaStore, spec: TableSpec, parts: list[pa.Table]) -> None:
    """Store the states of a load (`compute_table(state_out=True)` parts) after its bars commit."""
    new = pa.concat_tables(parts) if parts else None
    if new is None or new.num_rows == 0:
        return
    _save_states(store, spec, read_states(store), new)


def _save_states(store: DeltaStore, spec: TableSpec, old: pa.Table, new: pa.Table) -> None:
    """`old` with the rows of `new`'s symbols replaced (one overwrite commit of the small table)."""
    mine = pc.and_(pc.equal(old["table"], spec.name), pc.is_in(old["symbol"], new["symbol"]))
    kept = old.filter(pc.invert(mine)).cast(new.schema)
    last = pd.Series(np.arange(new.num_rows)).groupby(new["symbol"].to_numpy(zero_copy_only=False)).max()
    new = new.take(pa.array(np.sort(last.to_numpy())))  # one row per symbol (a chunked compute repeats none, but)
    store.replace_support(STATE_TABLE, pa.concat_tables([kept, new]))


def _same_values(a: pd.DataFrame, b: pd.DataFrame, cols: list[str]) -> bool:
    """Row-aligned frames: equal in `cols`, any NULL (None, NaN, NA) equal to any other (NumPy object
    arrays: `DataFrame.where` per column cost more than the rest of a one-bar append)."""
    if len(a) != len(b):
        return False
    for col in cols:
        x, y = a[col].to_numpy(object), b[col].to_numpy(object)
        nx, ny = pd.isna(x), pd.isna(y)
        if not np.array_equal(nx, ny):
            return False
        if not bool(np.all(x[~nx] == y[~ny])):
            return False
    return True


def _same_meta(resolved: pd.DataFrame, stored: pd.DataFrame) -> bool:
    a = resolved.drop_duplicates("symbol", keep="last").set_index("symbol")
    b = stored.set_index("symbol").reindex(a.index)
    return _same_values(a, b, list(METADATA_COLUMNS))


def _runs(tails: pd.DataFrame) -> pd.DataFrame:
    """Per symbol of `tails` (contiguous per symbol, chronological: `_read_back`): its rows [start, stop)
    and its last datetime, from comparing neighbours (per-row string groupbys and isins cost ~50 ms each
    at 2,650 daily symbols x 251 bars, a factorize ~20 ms)."""
    if tails.empty:
        return pd.DataFrame({"start": pd.Series(dtype=np.int64), "stop": pd.Series(dtype=np.int64),
                             "last": pd.Series(dtype="datetime64[ns, UTC]")})
    starts, symbols = runs_of(tails["symbol"])
    stops = np.r_[starts[1:], len(tails)]
    index = pd.Index(symbols, dtype=object)
    last = pd.DatetimeIndex(datetime_ns(tails["datetime"])[stops - 1]).tz_localize("UTC")
    return pd.DataFrame({"start": starts, "stop": stops, "last": last}, index=index)


def _rows_of(runs: pd.DataFrame, symbols: list[str] | None = None,
             last: int | np.ndarray | None = None) -> np.ndarray:
    """Row positions of `runs`' symbols (all, or `symbols`), each run's `last` rows only when given (one
    count for every run, or one per run of `runs`, with `symbols=None`)."""
    r = runs if symbols is None else runs.loc[runs.index.intersection(pd.Index(symbols, dtype=object))]
    stops = r["stop"].to_numpy(np.int64)
    starts = r["start"].to_numpy(np.int64) if last is None else np.maximum(r["start"].to_numpy(np.int64), stops - last)
    lengths = stops - starts
    if not len(lengths):
        return np.empty(0, np.int64)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.sort(np.repeat(starts, lengths) + offsets)


def _fits(states: pd.DataFrame, runs: pd.DataFrame, first_new: pd.Series) -> pd.Series:
    """Per state symbol: is its state at its last stored bar, with no more stored bars than it counted?"""
    if runs.empty:
        return pd.Series(False, index=states.index)
    at = runs["last"].reindex(states.index)
    count = (runs["stop"] - runs["start"]).reindex(states.index, fill_value=0)
    ok = at.notna() & (at == states["datetime"])
    ok &= count <= states["n_bars"]
    ok &= states["datetime"] < first_new.reindex(states.index)
    return ok


def _same_recursions(states: pd.DataFrame, last_rows: pd.DataFrame) -> pd.Series:
    """Per state symbol: do the state's recursions equal the stored outputs at its last bar (`_CHECKS`)?"""
    last = last_rows.set_index("symbol").reindex(states.index)
    ok = pd.Series(True, index=states.index)
    for col, scol in _CHECKS.items():
        a = last[col].to_numpy(np.float64, na_value=np.nan)
        b = states[scol].to_numpy(np.float64, na_value=np.nan)
        ok &= (a == b) | (np.isnan(a) & np.isnan(b))
    return ok & last["datetime"].notna().to_numpy()


def load_appended(
    store: DeltaStore, spec: TableSpec, good: pd.DataFrame, *, source: str, resolved: pd.DataFrame,
    master: pd.DataFrame, benchmark: str, stamp: datetime, report: LoadReport, say: Progress, peers: bool = True,
) -> bool:
    """Load `good` (validated bars) as an append if it is one; False (nothing written) when it is not:
    the caller then runs the full path. The caller holds the writer lock."""
    t0 = time.perf_counter()
    incoming = good[list(BAR_COLUMNS)].assign(source=source).drop_duplicates(["symbol", "datetime"], keep="last")
    if incoming.empty or len(incoming) > MAX_FRESH_ROWS or not store.exists(spec.name):
        return False
    first_new = incoming.groupby("symbol", sort=True)["datetime"].min()
    touched = first_new.index.tolist()
    all_states = read_states(store)
    frame = all_states.select(["table", "symbol", "datetime", "n_bars", "engine", *fstate.STATE_COLUMNS]).to_pandas()
    frame = frame[(frame["table"] == spec.name) & isin(frame["symbol"], touched)
                  & (frame["engine"] == fstate.fingerprint())].drop_duplicates("symbol", keep="last")
    frame = frame.set_index("symbol", drop=False)
    frame = frame[frame["datetime"] < first_new.reindex(frame.index)]

    need = fstate.continued_history_bars(spec)
    tails = pd.DataFrame(columns=_CONTINUED_COLS)
    window: pd.Timestamp | None = None
    if len(frame):
        n_bars = frame["n_bars"]

        def enough(rows: pd.DataFrame) -> pd.Series:
            count = rows.groupby("symbol", sort=False).size()
            return (count >= need) | (count >= n_bars.reindex(count.index))

        tails, window = _continued_tails(store, spec, frame.index.tolist(), frame["datetime"].min(), enough, need,
                                         n_bars)
    runs = _runs(tails)
    fits = _fits(frame, runs, first_new)
    continued = sorted(fits.index[fits.to_numpy()].tolist())
    fresh = sorted(set(touched) - set(continued))
    if len(continued) < len(runs):
        tails = tails.iloc[_rows_of(runs, continued)].reset_index(drop=True)
        runs = _runs(tails)
    if fresh and _fresh_rows_guess(store, spec, master, fresh) + len(incoming) > MAX_FRESH_ROWS:
        return False
    history = store.read(spec.name, symbols=fresh, columns=_TAIL_COLS, sort=False).to_pandas() if fresh else tails[:0]
    last_bar = concat_rows([runs["last"], history.groupby("symbol", sort=False)["datetime"].max()]).sort_index()
    if (first_new.reindex(last_bar.index) <= last_bar).any():
        return False  # a revision or a late bar: the full path recomputes those symbols from their first bar
    last_rows = _last_rows(store, spec, last_bar)
    same = _same_recursions(frame.loc[continued], last_rows)
    if not same.all():  # another writer changed these symbols' history: recompute them from the first bar
        redo = same.index[~same.to_numpy()].tolist()
        continued = sorted(set(continued) - set(redo))
        fresh = sorted(set(fresh) | set(redo))
        tails = tails.iloc[_rows_of(runs, continued)].reset_index(drop=True)
        runs = _runs(tails)
        history = store.read(spec.name, symbols=fresh, columns=_TAIL_COLS, sort=False).to_pandas()
    if len(history) + len(incoming) > MAX_FRESH_ROWS:
        return False
    # the engine gets the continued symbols' last short_history_bars(), aligned for CCI (no realignment in the
    # engine); their long-window fields come from
    # the narrow columns of the whole tail (`compute_table(long_rows=...)`)
    counts = fstate.aligned_tail_bars(frame["n_bars"].reindex(runs.index).to_numpy(np.int64),
                                      (runs["stop"] - runs["start"]).to_numpy(np.int64), spec)
    trimmed = tails.iloc[_rows_of(runs, last=counts)]
    stored = concat_rows([trimmed, history], ignore_index=True)  # the cross section's beta context, the spans
    stored_meta = last_rows[["symbol", *METADATA_COLUMNS]]
    if not stored_meta.empty and not _same_meta(resolved[isin(resolved["symbol"], stored_meta["symbol"])],
                                                stored_meta):
        return False  # metadata changed: every row of the symbol changes
    report.timings["read_history"] = time.perf_counter() - t0
    report.symbols_loaded = len(touched)
    report.symbols_computed = len(touched)

    t = time.perf_counter()
    say(f"computing 97 fields for {len(touched)} symbols ({len(incoming):,} new bars): {len(continued)} continued "
        f"from stored state, {len(fresh)} from their first bar")
    states = all_states.filter(pc.and_(pc.equal(all_states["table"], spec.name),
                                       pc.is_in(all_states["symbol"], pa.array(continued, pa.string()))))
    states = states.filter(pc.equal(states["engine"], fstate.fingerprint()))
    long_rows = tails[list(fstate.LONG_COLUMNS)]
    base = stored[list(BAR_COLUMNS)].assign(source=source)
    rows_parts, state_parts = [], []
    groups = first_new.groupby(first_new).groups
    try:
        for since, syms in groups.items():  # one call per first new datetime
            members = set(syms)
            if len(groups) == 1:  # every symbol: no filtering of ~250k rows by string
                bars = concat_rows([base, incoming], ignore_index=True)
                meta = resolved
            else:
                bars = concat_rows([base[isin(base["symbol"], members)], incoming[isin(incoming["symbol"], members)]],
                                 ignore_index=True)
                meta = resolved[isin(resolved["symbol"], members)]
            st = states.filter(pc.is_in(states["symbol"], pa.array(sorted(members), pa.string())))
            rows, new_state = compute_table(bars, spec, benchmark=benchmark, updated_at=stamp, metadata=meta,
                                            since=pd.Timestamp(since).to_pydatetime(), state=st, state_out=True,
                                            long_rows=long_rows)
            rows_parts.append(rows)
            state_parts.append(new_state)
    except FeatureInputError:
        return False  # the state does not fit after all: recompute from the first bars
    new_rows = pa.concat_tables(rows_parts)
    new_state = pa.concat_tables(state_parts)
    report.timings["compute"] = time.perf_counter() - t

    t = time.perf_counter()
    groups = first_new.nunique()
    whole = groups == 1 and benchmark in touched  # one engine call saw every new row and the benchmark's
    out = _cross(store, spec, new_rows, stored, benchmark=benchmark, peers=peers, whole=whole,
                 continued=set(continued))
    report.timings["cross_section"] = time.perf_counter() - t

    t = time.perf_counter()
    say(f"writing {out.num_rows:,} candidate rows")
    since_all = pc.min(out["datetime"]).as_py()
    result = store.write_bars(spec.name, out, compare_since=since_all)
    report.inserted, report.updated, report.unchanged = result.inserted, result.updated, result.unchanged
    report.version = result.version
    report.timings["write"] = time.perf_counter() - t

    t = time.perf_counter()
    _save_states(store, spec, all_states, new_state)  # after the bars: a kill in between leaves a stale state
    report.timings["state"] = time.perf_counter() - t

    t = time.perf_counter()
    if not _advance_master(store, spec, master, resolved, incoming, stamp):
        record_symbols(store, spec, _spans(master, spec, stored, incoming), resolved, master=master, now=stamp,
                       whole=True)
    report.timings["symbols"] = time.perf_counter() - t
    _remember_tails(store, spec, window, tails, runs, out)
    return True


def _remember_tails(store: DeltaStore, spec: TableSpec, window: pd.Timestamp | None, tails: pd.DataFrame,
                    runs: pd.DataFrame, written: pa.Table) -> None:
    """Keep the continued symbols' tails plus the rows this commit appended to them (`known_tails`), for
    the next append of this process. `written` holds the new rows and stored rows whose cross-sectional
    columns moved (not among `_CONTINUED_COLS`): only rows after a symbol's last tail row are appended."""
    key = store.path(spec.name)
    if tails.empty:
        known_tails.forget(key)
        return
    cols = _CONTINUED_COLS
    rows = written.select(cols).cast(pa.schema([bar_schema().field(c) for c in cols])).to_pandas()
    last = runs["last"].reindex(rows["symbol"].to_numpy(object))
    after = last.notna().to_numpy() & (datetime_ns(rows["datetime"]) > datetime_ns(last.fillna(pd.Timestamp(0, tz="UTC"))))
    known_tails.remember(key, table_id=_table_id(store, spec), version=store.version(spec.name), lo=window,
                         tails=tails, runs=runs, appended=rows[after])


def _fresh_rows_guess(store: DeltaStore, spec: TableSpec, master: pd.DataFrame, symbols: list[str]) -> int:
    """Stored rows of `symbols` to expect before reading them: the rows of the files whose statistics may
    hold them, or, when that bound is large (files hold many symbols), the symbol master's first/last bars
    times the table's bar rate (a symbol the master has no first bar for counts as new)."""
    index = store.file_index(spec.name)
    picks = prune(index, spec, symbols=symbols)
    bound = int(index.records[picks].sum()) if picks else 0
    col_first, col_last = f"first_bar_{spec.name}", f"last_bar_{spec.name}"
    if bound <= MAX_FRESH_ROWS or master.empty or col_first not in master.columns:
        return bound
    rows = master[isin(master["symbol"], symbols)].drop_duplicates("symbol", keep="last")
    span = (pd.to_datetime(rows[col_last], utc=True) - pd.to_datetime(rows[col_first], utc=True)).dropna()
    years = span.dt.total_seconds().to_numpy(np.float64) / (365.25 * 86_400)
    return int(np.sum(years * spec.bars_per_year + 1))


def _last_rows(store: DeltaStore, spec: TableSpec, last_bar: pd.Series) -> pd.DataFrame:
    """Each symbol's stored row at its last bar: symbol, datetime, metadata and the `_CHECKS` outputs."""
    cols = ["symbol", "datetime", *METADATA_COLUMNS, *_CHECKS]
    if last_bar.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    rows = store.read(spec.name, symbols=last_bar.index.tolist(), start=last_bar.min(), columns=cols,
                      sort=False).to_pandas()
    rows = rows[datetime_ns(rows["datetime"]) == datetime_ns(last_bar.reindex(rows["symbol"].to_numpy()))]
    return rows.drop_duplicates("symbol", keep="last").reset_index(drop=True)


def _advance_master(store: DeltaStore, spec: TableSpec, master: pd.DataFrame, resolved: pd.DataFrame,
                    incoming: pd.DataFrame, stamp: datetime) -> bool:
    """The symbol master after an append where only the last bars moved: every touched symbol has a row
    with its first bar, `active`, and exactly the resolved metadata; then `record_symbols` would change
    `last_bar_<table>` alone, written here without its row-by-row comparison. False: not that case."""
    first_col, last_col = f"first_bar_{spec.name}", f"last_bar_{spec.name}"
    if master.empty or master["symbol"].duplicated().any():
        return False
    rows = master.set_index("symbol")
    touched = resolved["symbol"].tolist()
    if not isin(rows.index, touched).sum() == len(touched):
        return False
    mine = rows.loc[touched]
    if mine[first_col].isna().any() or mine["active"].isna().any():
        return False
    if not _same_values(mine, resolved.set_index("symbol").reindex(mine.index), list(METADATA_COLUMNS)):
        return False
    last = incoming.groupby("symbol", sort=False)["datetime"].max().reindex(touched)
    old_last = pd.to_datetime(mine[last_col], utc=True)
    new_last = pd.to_datetime(last, utc=True)
    later = new_last.where(old_last.isna() | (new_last > old_last), old_last)
    out = rows.copy()
    out.loc[touched, last_col] = later.to_numpy()
    out.loc[touched, "updated_at"] = pd.Timestamp(stamp).tz_convert("UTC") if pd.Timestamp(stamp).tzinfo \
        else pd.Timestamp(stamp, tz="UTC")
    schema = SUPPORT_SCHEMAS["symbols"]
    store.replace_support("symbols", pa.Table.from_pandas(out.reset_index()[schema.names], schema=schema,
                                                          preserve_index=False))
    return True


def _spans(master: pd.DataFrame, spec: TableSpec, stored: pd.DataFrame, incoming: pd.DataFrame) -> pd.DataFrame:
    """(symbol, datetime) rows whose min/max per symbol are its first and last bar, for the symbol master:
    the master's first bar where it has one (only the tail of a continued symbol was read)."""
    col = f"first_bar_{spec.name}"
    parts = [incoming[["symbol", "datetime"]], stored[["symbol", "datetime"]]]
    if not master.empty and col in master.columns:
        known = master.loc[master[col].notna() & isin(master["symbol"], incoming["symbol"].unique()), ["symbol", col]]
        parts.append(known.rename(columns={col: "datetime"}).assign(datetime=lambda f: pd.to_datetime(f["datetime"],
                                                                                                      utc=True)))
    return concat_rows(parts, ignore_index=True)


# -- cross-sectional columns -----------------------------------------------------------------------------------


def _cross(
    store: DeltaStore, spec: TableSpec, new_rows: pa.Table, stored: pd.DataFrame, *, benchmark: str, peers: bool,
    whole: bool = False, continued: set[str] | None = None,
) -> pa.Table:
    """The new rows and the stored rows whose cross-sectional columns they move, with those columns
    recomputed from `return_20` / `return_1` (bit for bit the engine's kernels, beta within its drift).

    `whole`: one engine call computed every new row, the benchmark's included. Then, when no stored row
    shares their datetimes, the engine's rs_sector_20 / rs_benchmark_20 are the full compute's, and so is
    its beta_60 wherever the tail held 60 matched bars (non-NULL); only the NULL betas of `continued`
    symbols (whose tail may have been too short) are recomputed."""
    new_dt = pd.DatetimeIndex(new_rows["datetime"].to_pandas())
    d_lo, d_hi = new_dt.min(), new_dt.max()
    new_syms = new_rows["symbol"].to_numpy(zero_copy_only=False)
    bench_new = new_dt[new_syms == benchmark]
    b_lo = bench_new.min() if len(bench_new) else None
    # stored rows at the new datetimes (sector medians), and from the benchmark's first new bar on
    hi = None if b_lo is not None else d_hi
    # keys first: the stored rows of a one-minute partition at the new datetimes are usually none, and
    # reading every column of the whole partition to find that out cost more than the append itself
    keys = store.read(spec.name, start=d_lo, end=hi, columns=["symbol", "datetime"], sort=False)
    adt = pd.DatetimeIndex(keys["datetime"].to_pandas())
    at_new = adt.isin(new_dt.unique())
    moved = at_new | (adt >= b_lo) if b_lo is not None else at_new
    if moved.any():
        syms = pc.unique(keys["symbol"].filter(pa.array(moved))).to_pylist()
        lo = adt[moved].min()
        around = store.read(spec.name, symbols=syms, start=lo, end=hi, sort=False)
        adt = pd.DatetimeIndex(around["datetime"].to_pandas())
        at_new = adt.isin(new_dt.unique())
        moved = at_new | (adt >= b_lo) if b_lo is not None else at_new
        around = around.filter(pa.array(moved))
        adt = adt[moved]
        at_new = at_new[moved]
    else:
        around = store.read(spec.name, symbols=[], columns=None, sort=False)  # the schema, no rows
        adt = adt[moved]
        at_new = at_new[moved]

    cols = ["symbol", "datetime", "sector", "return_1", "return_20"]
    if whole and around.num_rows == 0:
        syms = new_rows["symbol"].to_numpy(zero_copy_only=False)
        cont = continued or set()  # a set lookup: np.isin on object arrays compares all pairs (~0.2 s at 2,650)
        redo = new_rows["beta_60"].is_null().to_numpy(zero_copy_only=False) & np.fromiter(
            (s in cont for s in syms), bool, len(syms))
        if not redo.any():
            return new_rows
        frame = new_rows.select(cols).to_pandas().assign(_new=True, _pos=np.arange(new_rows.num_rows))
        frame["datetime"] = pd.to_datetime(frame["datetime"], utc=True)
        _, beta = _benchmark(store, spec, frame[redo], stored, frame, benchmark)
        return _patch(new_rows, [("beta_60", beta)], True)
    frame = concat_rows([around.select(cols).to_pandas().assign(_new=False, _pos=np.arange(around.num_rows)),
                       new_rows.select(cols).to_pandas().assign(_new=True, _pos=np.arange(new_rows.num_rows))],
                      ignore_index=True)
    frame["datetime"] = pd.to_datetime(frame["datetime"], utc=True)
    rs_sector = _sector(frame[np.concatenate([at_new, np.ones(new_rows.num_rows, bool)])])
    targets = frame if b_lo is not None else frame[frame["_new"]]
    rs_bench, beta = _benchmark(store, spec, targets, stored, frame, benchmark)

    values = [("rs_sector_20", rs_sector), ("rs_benchmark_20", rs_bench), ("beta_60", beta)]
    out = _patch(new_rows, values, True)
    if peers and around.num_rows:
        out = pa.concat_tables([out, _patch(around.select(new_rows.column_names).cast(new_rows.schema), values,
                                            False)])
    return out


def _patch(table: pa.Table, values: list[tuple[str, pd.DataFrame]], is_new: bool) -> pa.Table:
    """`table` with the recomputed values (`_new`, `_pos`, `value` rows) of its side written in."""
    for name, frame in values:
        mine = frame[frame["_new"] == is_new]
        if mine.empty:
            continue
        col = table[name].to_pandas().to_numpy(np.float64, na_value=np.nan).copy()
        col[mine["_pos"].to_numpy(np.int64)] = mine["value"].to_numpy(np.float64)
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(col, pa.float64(), from_pandas=True))
    return table


def _sector(frame: pd.DataFrame) -> pd.DataFrame:
    """rs_sector_20 of every row of `frame` (all rows of the affected datetimes), with the engine's kernel."""
    frame = frame.sort_values(["symbol", "datetime"], ignore_index=True)
    if frame.empty:
        return frame.assign(value=np.empty(0))
    sym_codes, symbols = pd.factorize(frame["symbol"], sort=True)
    lengths = np.bincount(sym_codes, minlength=len(symbols))
    seg = Segments.from_lengths(lengths)
    sector_codes, _ = pd.factorize(frame["sector"])
    dt_ns = pd.DatetimeIndex(frame["datetime"]).as_unit("ns").asi8
    time_codes, times = pd.factorize(dt_ns)
    lay = cross_section.layout(dt_ns, seg, np.asarray(symbols, dtype=object), sector_codes.astype(np.int32),
                               time_codes.astype(np.int32), len(times), None)
    ret = frame["return_20"].to_numpy(np.float64, na_value=np.nan)
    values = cross_section.sector_relative_strength(ret, lay, min_peers=_MIN_PEERS)
    return frame[["_new", "_pos"]].assign(value=values)


class _Series:
    """The benchmark's return_1/return_20 by datetime (sorted int64 ns), NaN where it has no bar."""

    def __init__(self, rows: pd.DataFrame) -> None:
        ns = datetime_ns(rows["datetime"])
        order = np.argsort(ns, kind="stable")
        ns = ns[order]
        last = np.r_[ns[1:] != ns[:-1], True] if len(ns) else np.empty(0, bool)  # a later row (new) wins
        self.ns = ns[last]
        self.r1 = rows["return_1"].to_numpy(np.float64, na_value=np.nan)[order][last]
        self.r20 = rows["return_20"].to_numpy(np.float64, na_value=np.nan)[order][last]
        self.start = int(self.ns[0]) if len(self.ns) else None

    def at(self, ns: np.ndarray, values: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.ns, ns)
        hit = i < len(self.ns)
        hit[hit] = self.ns[i[hit]] == ns[hit]
        out = np.full(len(ns), np.nan)
        out[hit] = values[i[hit]]
        return out


def _last_per_symbol(rows: pd.DataFrame, k: int) -> pd.DataFrame:
    """Each symbol's latest `k` rows (any input order; string sorts avoided: int codes and int64 times)."""
    if len(rows) == 0:
        return rows
    codes, _ = pd.factorize(rows["symbol"])
    order = np.lexsort((datetime_ns(rows["datetime"]), codes))
    c = codes[order]
    ends = np.r_[np.flatnonzero(c[1:] != c[:-1]), len(c) - 1]
    to_end = ends[np.searchsorted(ends, np.arange(len(c)))] - np.arange(len(c))
    return rows.iloc[np.sort(order[to_end < k])]


def _bench_series(
    store: DeltaStore, spec: TableSpec, frame: pd.DataFrame, benchmark: str, lo: pd.Timestamp
) -> _Series:
    """The benchmark's stored return_1/return_20 from `lo` on, with its rows in `frame` (new or moved)
    over them."""
    stored = store.read(spec.name, symbols=[benchmark], start=lo, columns=_SERIES_COLS, sort=False).to_pandas()
    mine = frame.loc[frame["symbol"] == benchmark, _SERIES_COLS]
    return _Series(concat_rows([stored, mine], ignore_index=True))


def _benchmark(
    store: DeltaStore, spec: TableSpec, targets: pd.DataFrame, stored: pd.DataFrame, frame: pd.DataFrame,
    benchmark: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """rs_benchmark_20 and beta_60 of the target rows; beta over each symbol's stored return_1 before them
    (a context read back until it holds `_BETA` matched bars, or the symbol's whole history)."""
    if targets.empty:
        empty = targets[["_new", "_pos"]].assign(value=np.empty(0))
        return empty, empty
    lo = targets["datetime"].min() - _span(spec, 4 * _BETA)
    bench = _bench_series(store, spec, frame, benchmark, lo)
    t_ns = datetime_ns(targets["datetime"])
    rs = targets[["_new", "_pos"]].assign(
        value=targets["return_20"].to_numpy(np.float64, na_value=np.nan) - bench.at(t_ns, bench.r20))
    first = pd.Series(t_ns).groupby(targets["symbol"].to_numpy()).min()
    series = bench

    def before_first(rows: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        ns = datetime_ns(rows["datetime"])
        cut = first.reindex(rows["symbol"].to_numpy()).to_numpy(np.float64, na_value=-np.inf)
        keep = ns < cut
        return rows[keep], ns[keep]

    def enough(rows: pd.DataFrame) -> pd.Series:
        r, ns = before_first(rows)
        matched = r["return_1"].notna().to_numpy() & ~np.isnan(series.at(ns, series.r1))
        return pd.Series(matched).groupby(r["symbol"].to_numpy()).sum() >= _BETA

    known = _last_per_symbol(stored.loc[isin(stored["symbol"], first.index), ["symbol", "datetime", "return_1"]],
                             3 * _BETA)
    short = enough(known).reindex(first.index, fill_value=False)
    more = short.index[~short.to_numpy()].tolist()
    if more:
        since = pd.Timestamp(int(first[more].min()), tz="UTC")
        known = concat_rows([known[~isin(known["symbol"], more)],
                           _read_back(store, spec, more, since, _SERIES_COLS, enough, 2 * _BETA)], ignore_index=True)
    context, c_ns = before_first(known)
    if len(c_ns) and bench.start is not None and int(c_ns.min()) < bench.start:  # reaches further back
        bench = _bench_series(store, spec, frame, benchmark, pd.Timestamp(int(c_ns.min()), tz="UTC"))
    sym = np.concatenate([context["symbol"].to_numpy(object), targets["symbol"].to_numpy(object)])
    ns = np.concatenate([c_ns, t_ns])
    r1 = np.concatenate([context["return_1"].to_numpy(np.float64, na_value=np.nan),
                         targets["return_1"].to_numpy(np.float64, na_value=np.nan)])
    pos = np.concatenate([np.full(len(context), -1), targets["_pos"].to_numpy(np.int64)])
    new = np.concatenate([np.zeros(len(context), bool), targets["_new"].to_numpy(bool)])
    codes, symbols = pd.factorize(sym, sort=True)
    order = np.lexsort((ns, codes))
    seg = Segments.from_lengths(np.bincount(codes, minlength=len(symbols)))
    values = cross_section.beta(r1[order], bench.at(ns[order], bench.r1), timeperiod=_BETA, seg=seg)
    picked = pos[order] >= 0
    beta = pd.DataFrame({"_new": new[order][picked], "_pos": pos[order][picked], "value": values[picked]})
    return rs, beta


__all__ = ["CROSS_COLUMNS", "forget_states", "load_appended", "read_states", "save_states"]
