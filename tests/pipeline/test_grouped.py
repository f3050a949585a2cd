"""Grouped loads (pipeline.grouped): the same table as one in-memory load, in one commit, atomic on a kill.

The oracle is `load_bars` on the concatenated batches, run on its own warehouse with the same clock:
both tables are compared value for value (all 97 columns, updated_at included)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from marketlake.errors import ConfigError
from marketlake.pipeline import ingest_source, load_bars
from marketlake.pipeline.core import refresh_cross_section
from marketlake.pipeline.grouped import STAGING_DIR, load_grouped, plan_groups
from marketlake.pipeline.memory_budget import (
    BASE_BYTES,
    BYTES_PER_ROW,
    default_budget,
    group_rows,
    machine_memory,
    parse_budget,
)
from marketlake.schema import get_table
from marketlake.sources.base import RawBatch
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore

NOW = datetime(2025, 1, 1, tzinfo=UTC)
DAILY = "stocks_daily_clean"
SEED = (datetime(2023, 11, 1, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC))
NEXT = (datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 31, tzinfo=UTC))
REVISED_FROM = datetime(2024, 2, 12, tzinfo=UTC)


def _budget_for(rows: int) -> int:
    """A budget whose groups hold about `rows` bars."""
    return BASE_BYTES + rows * BYTES_PER_ROW


def _source():  # type: ignore[no-untyped-def]
    return get_source("synthetic", stocks=8, crypto=6, seed=5)  # 3 members each: IT, Health Care, smart contracts


def _batches(table: str, span: tuple[datetime, datetime], *, symbols: list[str] | None = None,
             revise: dict[str, float] | None = None) -> list[RawBatch]:
    """Source batches; `revise` scales the prices of those symbols from REVISED_FROM on (stored bars change)."""
    out = []
    for batch in _source().fetch(symbols, get_table(table), start=span[0], end=span[1]):
        bars = batch.bars.copy()
        for sym, factor in (revise or {}).items():
            hit = (bars["symbol"] == sym) & (bars["datetime"] >= REVISED_FROM)
            for col in ("open", "high", "low", "close"):
                bars.loc[hit, col] *= factor
        out.append(RawBatch(bars=bars, metadata=batch.metadata))
    return out


def _reference(store: DeltaStore, table: str, batches: list[RawBatch]) -> None:
    raw = pd.concat([b.bars for b in batches], ignore_index=True)
    meta = pd.concat([b.metadata for b in batches if b.metadata is not None], ignore_index=True)
    load_bars(store, table, raw, source="synthetic", metadata=meta, now=NOW)


def _same_tables(a: DeltaStore, b: DeltaStore, table: str) -> None:
    x, y = a.read(table).to_pandas(), b.read(table).to_pandas()
    assert len(x) > 0
    pd.testing.assert_frame_equal(x, y, check_exact=True)


def test_grouped_load_equals_one_load_in_one_commit_through_revisions_and_benchmark_moves(tmp_path: Path) -> None:
    ref, grp = DeltaStore(tmp_path / "ref"), DeltaStore(tmp_path / "grp")
    budget = _budget_for(2 * 100)  # about two symbols per group: every sector split across groups
    steps = [
        _batches(DAILY, SEED),  # into an empty table
        _batches(DAILY, NEXT, revise={"MSFT": 1.02}),  # new bars + a revision: partitions rewritten
        _batches(DAILY, NEXT, symbols=["SPY"], revise={"SPY": 0.97}),  # the benchmark moves: everyone changes
    ]
    for batches in steps:
        _reference(ref, DAILY, batches)
        before = grp.version(DAILY) if grp.exists(DAILY) else 0
        report = load_grouped(grp, DAILY, batches, source="synthetic", memory_budget=budget, now=NOW)
        assert report.timings["groups"] >= 4
        assert grp.version(DAILY) == before + 1  # one commit for the whole load (the table's creation is v0)
        assert report.changed > 0
        _same_tables(ref, grp, DAILY)
    assert not os.path.exists(os.path.join(grp.root, STAGING_DIR))
    # a re-run changes nothing and commits nothing
    version = grp.version(DAILY)
    report = load_grouped(grp, DAILY, steps[-1], source="synthetic", memory_budget=budget, now=NOW)
    assert report.changed == 0 and grp.version(DAILY) == version
    # the symbol master agrees with the in-memory load's
    cols = ["symbol", "sector", f"first_bar_{DAILY}", f"last_bar_{DAILY}"]
    m_ref = ref.read_support("symbols").to_pandas()[cols].sort_values("symbol").reset_index(drop=True)
    m_grp = grp.read_support("symbols").to_pandas()[cols].sort_values("symbol").reset_index(drop=True)
    pd.testing.assert_frame_equal(m_ref, m_grp)


def test_grouped_minute_load_equals_one_load(tmp_path: Path) -> None:
    table = "crypto_1min_clean"
    span = (datetime(2024, 5, 1, 20, tzinfo=UTC), datetime(2024, 5, 2, 4, tzinfo=UTC))  # two day partitions
    ref, grp = DeltaStore(tmp_path / "ref"), DeltaStore(tmp_path / "grp")
    batches = _batches(table, span)
    _reference(ref, table, batches)
    report = load_grouped(grp, table, batches, source="synthetic", memory_budget=_budget_for(1), now=NOW)
    assert report.timings["groups"] == 6 and grp.version(table) == 1
    _same_tables(ref, grp, table)


def test_ingest_source_streams_a_load_bigger_than_the_budget_through_groups(tmp_path: Path) -> None:
    ref, grp = DeltaStore(tmp_path / "ref"), DeltaStore(tmp_path / "grp")
    (small,) = ingest_source(ref, _source(), [DAILY], start=SEED[0], end=SEED[1])
    (big,) = ingest_source(grp, _source(), [DAILY], start=SEED[0], end=SEED[1], memory_budget=_budget_for(150))
    assert "groups" not in small.timings and big.timings["groups"] >= 4
    x, y = ref.read(DAILY).to_pandas().drop(columns="updated_at"), grp.read(DAILY).to_pandas().drop(columns="updated_at")
    pd.testing.assert_frame_equal(x, y, check_exact=True)


def test_a_deferred_cross_section_refresh_in_groups_equals_the_one_in_memory(tmp_path: Path) -> None:
    ref, grp = DeltaStore(tmp_path / "ref"), DeltaStore(tmp_path / "grp")
    for store in (ref, grp):  # backfill pages: own symbols only, peers' cross-sectional fields left stale
        for batches in (_batches(DAILY, SEED, symbols=["AAPL", "JNJ", "MSFT"]),
                        _batches(DAILY, SEED, symbols=["SPY", "NVDA", "UNH", "AMGN"])):
            raw = pd.concat([b.bars for b in batches], ignore_index=True)
            meta = pd.concat([b.metadata for b in batches if b.metadata is not None], ignore_index=True)
            load_bars(store, DAILY, raw, source="synthetic", metadata=meta, now=NOW, peers=False)
    version = grp.version(DAILY)
    refresh_cross_section(ref, DAILY, now=NOW)
    report = refresh_cross_section(grp, DAILY, now=NOW, memory_budget=_budget_for(100))
    assert report.timings["groups"] >= 4 and report.updated > 0 and grp.version(DAILY) == version + 1
    _same_tables(ref, grp, DAILY)


_KILLED = textwrap.dedent("""
    import os, signal, sys
    from datetime import UTC, datetime
    sys.path.insert(0, {tests!r})
    from test_grouped import DAILY, NEXT, NOW, _batches, _budget_for
    from marketlake.pipeline.grouped import load_grouped
    from marketlake.storage import DeltaStore

    def die(i, n):
        if i == 3:  # three groups' files are in the table directory, the commit has not happened
            os.kill(os.getpid(), signal.SIGKILL)

    load_grouped(DeltaStore(sys.argv[1]), DAILY, _batches(DAILY, NEXT, revise={{"MSFT": 1.02}}),
                 source="synthetic", memory_budget=_budget_for(100), now=NOW, on_group=die)
""")


def test_a_grouped_load_killed_before_its_commit_leaves_the_table_as_it_was(tmp_path: Path) -> None:
    store = DeltaStore(tmp_path / "wh")
    _reference(store, DAILY, _batches(DAILY, SEED))
    version, before = store.version(DAILY), store.read(DAILY).to_pandas()
    files_before = sum(len(f) for _, _, f in os.walk(store.path(DAILY)))
    script = tmp_path / "killed.py"
    script.write_text(_KILLED.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(script), store.root], env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == -9, proc.stderr[-2000:]
    fresh = DeltaStore(store.root)
    assert fresh.version(DAILY) == version
    pd.testing.assert_frame_equal(fresh.read(DAILY).to_pandas(), before)
    assert sum(len(f) for _, _, f in os.walk(store.path(DAILY))) > files_before  # orphans, never committed
    # the next load cleans the stale staging directory and lands as usual
    ref = DeltaStore(tmp_path / "ref")
    _reference(ref, DAILY, _batches(DAILY, SEED))
    _reference(ref, DAILY, _batches(DAILY, NEXT, revise={"MSFT": 1.02}))
    load_grouped(fresh, DAILY, _batches(DAILY, NEXT, revise={"MSFT": 1.02}), source="synthetic",
                 memory_budget=_budget_for(100), now=NOW)
    assert fresh.version(DAILY) == version + 1
    _same_tables(ref, fresh, DAILY)


def test_memory_budget_decides_the_group_size() -> None:
    sizes = {f"S{i:02d}": 1_000 for i in range(20)}
    small = plan_groups(list(sizes), sizes, budget=_budget_for(3_000))
    large = plan_groups(list(sizes), sizes, budget=_budget_for(10_000))
    assert [len(g) for g in small] == [3] * 6 + [2]
    assert [len(g) for g in large] == [10, 10]
    assert plan_groups(list(sizes), sizes, budget=1) == [[s] for s in sorted(sizes)]  # never below a symbol
    # the benchmark rides with every group, so it counts against each
    with_bench = plan_groups(list(sizes), {**sizes, "SPY": 1_000}, budget=_budget_for(3_000), benchmark="SPY")
    assert max(len(g) for g in with_bench) == 2
    assert sorted(s for g in small for s in g) == sorted(sizes)  # contiguous runs of the sorted symbols
    assert group_rows(_budget_for(3_000)) == 3_000 and group_rows(10) == 1


def test_memory_budget_parses_sizes_and_defaults_to_a_quarter_of_ram_capped() -> None:
    assert parse_budget("512M") == 512 * 1024**2
    assert parse_budget("1.5GiB") == int(1.5 * 1024**3)
    assert parse_budget(" 2 gb ") == 2 * 1024**3
    assert parse_budget(4096) == 4096
    assert parse_budget(None) == default_budget() <= min(machine_memory() // 4 + 1, 6 * 1024**3)
    for bad in ("lots", "-1G", "0", "5 parsecs"):
        with pytest.raises(ConfigError, match="memory budget"):
            parse_budget(bad)


def test_a_grouped_load_leaves_the_feature_state_the_next_append_continues(tmp_path: Path) -> None:
    """Without it the first update after a big grouped load recomputed every symbol from its first bar
    (13.2 M one-minute bars: 6+ GB and minutes instead of one bar per symbol)."""
    import pyarrow.compute as pc

    from marketlake.pipeline.incremental import read_states

    ref, grp = DeltaStore(tmp_path / "ref"), DeltaStore(tmp_path / "grp")
    batches = _batches(DAILY, SEED)
    _reference(ref, DAILY, batches)
    report = load_grouped(grp, DAILY, batches, source="synthetic", memory_budget=_budget_for(2 * 100), now=NOW)
    assert report.timings["groups"] >= 4

    def states(store: DeltaStore) -> pd.DataFrame:
        st = read_states(store)
        return st.filter(pc.equal(st["table"], DAILY)).to_pandas().sort_values("symbol").reset_index(drop=True)

    assert len(states(grp)) == len(set(pd.concat([b.bars for b in batches])["symbol"]))
    pd.testing.assert_frame_equal(states(grp), states(ref), check_exact=True)
    nxt = [b for b in _source().fetch(None, get_table(DAILY), start=SEED[1], end=datetime(2024, 3, 8, tzinfo=UTC))]
    day = pd.concat([b.bars for b in nxt], ignore_index=True)
    day = day[day["datetime"] == day["datetime"].min()]
    assert "SPY" in set(day["symbol"])  # the benchmark moves: without the state, every symbol is recomputed
    step = load_bars(ref, DAILY, day, source="synthetic", now=NOW)
    assert "cross_section" in step.timings and step.inserted == len(day)  # continued from the state
    # the table is bigger than this budget's group, yet the append goes the incremental way, not in groups
    assert int(grp.file_index(DAILY).records.sum()) > 200
    step = load_bars(grp, DAILY, day, source="synthetic", now=NOW, memory_budget=_budget_for(200))
    assert "groups" not in step.timings and "cross_section" in step.timings and step.inserted == len(day)
    _same_tables(ref, grp, DAILY)
    nxt_day = pd.concat([b.bars for b in nxt], ignore_index=True)
    nxt_day = nxt_day[nxt_day["datetime"] == sorted(set(nxt_day["datetime"]))[1]]
    (via_source,) = ingest_source(grp, _source(), [DAILY], start=nxt_day["datetime"].min(),
                                  end=nxt_day["datetime"].min(), memory_budget=_budget_for(200))
    assert "groups" not in via_source.timings and "cross_section" in via_source.timings
