"""Incremental loads (pipeline.incremental) on real Delta tables equal a full compute of the same bars.

Sequences of loads on daily, hourly and 1-minute synthetic bars: appends continued from the stored feature
state, a benchmark arriving after the other symbols, sector peers arriving after their sector, late bars,
revisions, a run killed between the bars commit and the state commit, a state that no longer fits. After
them the table must equal one `compute_table` over the final bars (the oracle: a full rebuild), compared
here column by column (not with features.equivalence): bit-identical or within 1e-12 relative, the drift
columns within 1e-9, NULL positions identical; and a full rebuild (`refresh_cross_section`) writes no row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketlake.features import compute_table
from marketlake.pipeline import load_bars
from marketlake.pipeline.core import refresh_cross_section
from marketlake.pipeline.incremental import read_states
from marketlake.pipeline.report import LoadReport
from marketlake.schema import BAR_COLUMNS, METADATA_COLUMNS, get_table
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore

EXACT = ("open", "high", "low", "close", "volume")
DRIFT = ("wma_20", "bb_upper", "bb_lower", "bb_width", "bb_percent_b", "mfi_14", "cmf_20", "beta_60")


class Run:
    """One table loaded step by step; `bars` keeps what a full rebuild would start from."""

    def __init__(self, root: Path, table: str, meta: pd.DataFrame) -> None:
        self.store = DeltaStore(root)
        self.table = table
        self.meta = meta
        self.bars = pd.DataFrame(columns=list(BAR_COLUMNS))

    def load(self, bars: pd.DataFrame) -> LoadReport:
        report = load_bars(self.store, self.table, bars.reset_index(drop=True), source="synthetic",
                           metadata=self.meta[self.meta["symbol"].isin(bars["symbol"].unique())])
        both = pd.concat([self.bars, bars[list(BAR_COLUMNS)]], ignore_index=True)
        self.bars = both.drop_duplicates(["symbol", "datetime"], keep="last")
        return report

    def check(self) -> None:
        got = self.store.read(self.table).to_pandas()
        meta = got.groupby("symbol", sort=True)[list(METADATA_COLUMNS)].last().reset_index()
        want = compute_table(self.bars.assign(source="synthetic"), self.table, metadata=meta,
                             updated_at=datetime(2026, 1, 1, tzinfo=UTC)).to_pandas()
        assert_same(got, want)
        master = self.store.read_support("symbols").to_pandas().set_index("symbol")
        spans = got.groupby("symbol")["datetime"].agg(["min", "max"])
        assert sorted(master.index) == sorted(spans.index)  # the master keeps every symbol, once
        first = pd.to_datetime(master[f"first_bar_{self.table}"], utc=True).reindex(spans.index)
        last = pd.to_datetime(master[f"last_bar_{self.table}"], utc=True).reindex(spans.index)
        assert (first == spans["min"]).all() and (last == spans["max"]).all()
        rebuild = refresh_cross_section(self.store, self.table)
        assert rebuild.inserted == 0 and rebuild.updated == 0, "a full rebuild must write no row"


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_values(["symbol", "datetime"], ignore_index=True)
    want = want.sort_values(["symbol", "datetime"], ignore_index=True)
    assert list(got.columns) == list(want.columns)
    assert got[["symbol", "datetime"]].equals(want[["symbol", "datetime"]])
    for col in got.columns:
        if col == "updated_at":
            continue
        a, b = got[col], want[col]
        if a.dtype.kind == "f":
            x, y = a.to_numpy(np.float64), b.to_numpy(np.float64)
            assert (np.isnan(x) == np.isnan(y)).all(), f"{col}: NULL positions differ"
            ok = ~np.isnan(x)
            x, y = x[ok], y[ok]
            scale = np.maximum(np.abs(x), np.abs(y))
            if col in EXACT:
                bad = x != y
            elif col in DRIFT:
                bad = np.abs(x - y) > 1e-9 * scale + (0 if col in DRIFT[:3] else 1e-9)
            else:
                bad = np.abs(x - y) > 1e-12 * scale
            assert not bad.any(), f"{col}: {int(bad.sum())} values differ, e.g. {x[bad][:3]} vs {y[bad][:3]}"
        else:
            xa = a.astype(object).where(a.notna(), None).tolist()
            ya = b.astype(object).where(b.notna(), None).tolist()
            assert xa == ya, f"{col} differs"


def _raw(table: str, start: datetime, end: datetime, *, stocks: int = 10, crypto: int = 4) -> pd.DataFrame:
    src = get_source("synthetic", stocks=stocks, crypto=crypto, seed=5)
    batches = list(src.fetch(None, get_table(table), start=start, end=end))
    bars = pd.concat([b.bars for b in batches], ignore_index=True)
    return bars.sort_values(["datetime", "symbol"], ignore_index=True)


def _meta(bars: pd.DataFrame, benchmark: str, groups: int = 2) -> pd.DataFrame:
    symbols = sorted(set(bars["symbol"]) - {benchmark})
    sectors = [f"Sector{i % groups}" for i in range(len(symbols))]
    return pd.DataFrame({"symbol": [benchmark, *symbols], "sector": ["Funds", *sectors]})


def _appended(report: LoadReport) -> bool:
    return "cross_section" in report.timings  # the incremental path's stage


def _at(bars: pd.DataFrame, i: int) -> pd.DataFrame:
    times = np.sort(bars["datetime"].unique())
    return bars[bars["datetime"] == times[i]]


def _states(run: Run) -> pd.DataFrame:
    st = read_states(run.store)
    return st.filter(pc.equal(st["table"], run.table)).to_pandas()


def test_daily_appends_arrivals_late_bars_and_revisions_equal_a_full_rebuild(tmp_path: Path) -> None:
    table = "stocks_daily_clean"
    bars = _raw(table, datetime(2022, 10, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC), stocks=8)
    meta = _meta(bars, "SPY")
    run = Run(tmp_path, table, meta)
    times = np.sort(bars["datetime"].unique())
    cut = len(times) - 8  # the last 8 sessions arrive one by one
    sector0 = meta.loc[meta["sector"] == "Sector0", "symbol"].tolist()
    late_sym, rev_sym = sector0[0], sector0[1]
    late_key = (bars["symbol"] == late_sym) & (bars["datetime"] == times[cut - 40])
    first = run.load(bars[(bars["datetime"] < times[cut]) & ~late_key])
    assert first.inserted > 0 and len(_states(run)) == len(meta)  # the first load leaves a state per symbol

    day = _at(bars, cut)
    step = run.load(day)
    assert _appended(step) and step.inserted == len(day) and step.updated == 0

    day = _at(bars, cut + 1)  # the benchmark and half a sector come late
    early = day[~day["symbol"].isin(["SPY", *sector0[:2]])]
    assert _appended(run.load(early))
    bench = run.load(day[day["symbol"] == "SPY"])
    assert _appended(bench) and bench.updated == len(early)  # their rs_benchmark_20 and beta_60 at that day
    peers = run.load(day[day["symbol"].isin(sector0[:2])])
    assert _appended(peers) and peers.updated >= 1  # rs_sector_20 of the sector's rows at that day
    run.check()

    late = run.load(bars[late_key])  # a bar before the last stored one: recomputed from the first bar
    assert not _appended(late) and late.inserted == 1
    assert _appended(run.load(_at(bars, cut + 2)))

    rev = bars[(bars["symbol"] == rev_sym) & (bars["datetime"] == times[cut - 5])].copy()
    rev[["high", "close"]] *= 1.02
    revised = run.load(rev)
    assert not _appended(revised) and revised.updated > 0
    assert _appended(run.load(_at(bars, cut + 3)))
    run.check()

    # a run killed after its bars commit and before its state commit: the states are one bar behind
    before = read_states(run.store)
    assert _appended(run.load(_at(bars, cut + 4)))
    run.store.replace_support("feature_state", before)
    assert _appended(run.load(_at(bars, cut + 5)))
    # a state at the last bar whose recursions do not match the stored row (another writer changed it)
    st = read_states(run.store).to_pandas()
    st.loc[st["symbol"] == rev_sym, "ema_12"] *= 1.001
    run.store.replace_support("feature_state", pa.Table.from_pandas(st, preserve_index=False))
    assert _appended(run.load(_at(bars, cut + 6)))
    run.check()


def test_hourly_appends_with_a_late_benchmark_late_bars_and_revisions_equal_a_full_rebuild(tmp_path: Path) -> None:
    table = "stocks_hourly_clean"
    bars = _raw(table, datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 3, 8, tzinfo=UTC), stocks=7)
    run = Run(tmp_path, table, _meta(bars, "SPY"))
    times = np.sort(bars["datetime"].unique())
    cut = len(times) - 5
    newcomer = sorted(set(bars["symbol"]) - {"SPY"})[-1]  # listed at the last load, in a sector with peers
    bars = bars[(bars["symbol"] != newcomer) | (bars["datetime"] >= times[cut + 3])]
    late_sym = sorted(set(bars["symbol"]) - {"SPY", newcomer})[0]
    late_key = (bars["symbol"] == late_sym) & (bars["datetime"] == times[cut - 12])
    run.load(bars[(bars["datetime"] < times[cut]) & ~late_key])
    assert _appended(run.load(_at(bars, cut)))
    late = run.load(bars[late_key])  # a late bar: that symbol recomputed from its first bar
    assert not _appended(late) and late.inserted == 1
    rev = bars[(bars["symbol"] == late_sym) & (bars["datetime"] == times[cut - 3])].copy()
    rev[["high", "close"]] *= 1.02
    revised = run.load(rev)
    assert not _appended(revised) and revised.updated > 0
    two = bars[bars["datetime"].isin(times[cut + 1:cut + 3])]  # two bars per symbol, SPY after the others
    assert _appended(run.load(two[two["symbol"] != "SPY"]))
    bench = run.load(two[two["symbol"] == "SPY"])
    assert _appended(bench) and bench.updated == 2 * (two["symbol"].nunique() - 1)
    assert _appended(run.load(bars[bars["datetime"] >= times[cut + 3]]))
    assert newcomer in set(_states(run)["symbol"])
    run.check()


def test_one_minute_appends_with_late_bars_and_revisions_equal_a_full_rebuild(tmp_path: Path) -> None:
    table = "crypto_1min_clean"
    start = datetime(2024, 5, 1, tzinfo=UTC)
    bars = _raw(table, start, start + timedelta(hours=7), stocks=1, crypto=4)
    meta = pd.DataFrame({"symbol": sorted(bars["symbol"].unique())}).assign(sector="Digital Assets")
    run = Run(tmp_path, table, meta)
    times = np.sort(bars["datetime"].unique())
    cut = len(times) - 6
    alt = sorted(set(bars["symbol"]) - {"BTC/USD"})[0]
    gap = (bars["symbol"] == alt) & (bars["datetime"] == times[cut - 3])
    run.load(bars[(bars["datetime"] < times[cut]) & ~gap])
    for i in range(cut, cut + 3):
        minute = _at(bars, i)
        if i == cut + 1:  # the benchmark comes a little later: the others' rs_benchmark_20/beta_60 follow
            assert _appended(run.load(minute[minute["symbol"] != "BTC/USD"]))
            bench = run.load(minute[minute["symbol"] == "BTC/USD"])
            assert _appended(bench) and bench.updated == len(minute) - 1
            continue
        assert _appended(run.load(minute))
    assert not _appended(run.load(bars[gap]))  # a late bar
    rev = bars[(bars["symbol"] == "BTC/USD") & (bars["datetime"] == times[cut - 30])].copy()
    rev[["high", "close"]] *= 1.01  # a revision of the benchmark: every symbol's rs/beta after it moves
    revised = run.load(rev)
    assert not _appended(revised) and revised.updated > 0
    assert _appended(run.load(bars[bars["datetime"] >= times[cut + 3]]))
    run.check()


@pytest.mark.parametrize("when", ["2024-05-01T10:00", "2024-05-01"])
def test_one_new_bar_per_symbol_from_an_iso_timestamp_window(when: str) -> None:
    """`--start T --end T` (ingest synthetic) asks the source for the one bar at T."""
    from marketlake.cli.common import parse_when

    src = get_source("synthetic", stocks=1, crypto=3, seed=5)
    t = parse_when(when)
    bars = pd.concat([b.bars for b in src.fetch(None, get_table("crypto_1min_clean"), start=t, end=t)])
    assert len(bars) == 3 and (pd.to_datetime(bars["datetime"], utc=True) == pd.Timestamp(t)).all()


def test_a_table_built_in_symbol_groups_is_continued_from_its_state(tmp_path: Path) -> None:
    """A load bigger than the memory budget (`pipeline.grouped`, how full-size tables are built) leaves a
    state per symbol, and the next one-bar update (the benchmark's included, so it moves every symbol of a
    table bigger than the budget) continues every symbol from it instead of recomputing whole histories in
    groups; the table still equals a full rebuild."""
    from marketlake.pipeline.memory_budget import BASE_BYTES, BYTES_PER_ROW

    table = "crypto_1min_clean"
    start = datetime(2024, 5, 1, tzinfo=UTC)
    bars = _raw(table, start, start + timedelta(hours=6), stocks=1, crypto=5)
    meta = pd.DataFrame({"symbol": sorted(bars["symbol"].unique())}).assign(sector="Digital Assets")
    run = Run(tmp_path, table, meta)
    times = np.sort(bars["datetime"].unique())
    first = bars[bars["datetime"] < times[-2]]
    budget = BASE_BYTES + 400 * BYTES_PER_ROW  # groups of ~400 bars: one symbol each
    built = load_bars(run.store, table, first.reset_index(drop=True), source="synthetic", metadata=meta,
                      memory_budget=budget)
    run.bars = first[list(BAR_COLUMNS)]
    assert built.timings.get("groups", 0) > 1  # it did go through the grouped load
    assert sorted(_states(run)["symbol"]) == sorted(meta["symbol"])
    said: list[str] = []
    step = load_bars(run.store, table, _at(bars, len(times) - 2).reset_index(drop=True), source="synthetic",
                     metadata=meta, progress=said.append, memory_budget=budget)  # the table exceeds it: the
    # benchmark's bar moves every symbol, yet the append is continued, not recomputed in groups
    run.bars = pd.concat([run.bars, _at(bars, len(times) - 2)[list(BAR_COLUMNS)]], ignore_index=True)
    assert _appended(step) and any(f"{len(meta)} continued from stored state" in m for m in said), said
    assert _appended(run.load(_at(bars, len(times) - 1)))
    run.check()
