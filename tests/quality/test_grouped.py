"""The checks in symbol groups: bounded rows held at once, and the same issues as the whole-table read."""

from __future__ import annotations

from datetime import UTC, datetime

from deltalake import DeltaTable

from marketlake.pipeline.memory_budget import BASE_BYTES, BYTES_PER_ROW
from marketlake.quality import QualityConfig, run_quality
from marketlake.quality import checks_rows as rows
from marketlake.quality.checks_jumps import check_jumps
from marketlake.quality.checks_time import check_coverage, check_missing_bars, check_staleness
from marketlake.quality.frame import build
from marketlake.quality.groups import iter_frames, table_context
from marketlake.quality.issues import Issue
from marketlake.schema import get_table
from marketlake.storage import DeltaStore
from marketlake.storage import maintenance as mt
from tests.quality.conftest import replace_rows

AS_OF = datetime(2024, 6, 29, tzinfo=UTC)
T = "stocks_daily_clean"
GROUP_ROWS = 700  # two of the fixture's ~290-bar symbols per group


def _whole_table(store: DeltaStore, cfg: QualityConfig) -> list[Issue]:
    """The checks as they ran before groups: one frame of the whole table (the oracle)."""
    from marketlake.actions.quality import known_splits  # (after marketlake.quality: a circular import)

    spec = get_table(T)
    frame = build(spec, mt.scan_table(store, T))
    out = rows.check_nulls(frame) + rows.check_dependencies(frame, benchmark=spec.default_benchmark)
    out += rows.check_bar_metadata(frame) + rows.check_duplicates(frame) + rows.check_ohlc(frame)
    out += check_coverage(frame, cfg, universe=cfg.universes.get(T, ()))
    out += check_missing_bars(frame, tolerance=cfg.missing_tolerance)
    out += check_staleness(frame, as_of=cfg.as_of, max_sessions=cfg.stale_sessions, inactive=set())
    out += check_jumps(frame, sigma=cfg.outlier_sigma, tolerance=cfg.split_tolerance, known=known_splits(store, T))
    return out


def _key(i: Issue) -> tuple[object, ...]:
    return (i.check, i.severity, i.symbol or "", i.field or "", i.detail, i.count, i.first_datetime, i.last_datetime)


def _damage(store: DeltaStore) -> None:
    """Defects whose verdict needs other groups: the benchmark's values, the sector peers' counts."""
    replace_rows(store, T, "AAPL", lambda d: d.assign(rsi_14=d["rsi_14"].where(~d.index.isin([100, 101]), None)))
    replace_rows(store, T, "NVDA", lambda d: d.assign(  # SPY (another group) has return_20 there: an error
        rs_benchmark_20=d["rs_benchmark_20"].where(~d.index.isin([150, 151, 152]), None)))
    replace_rows(store, T, "JNJ", lambda d: d.assign(  # peers UNH, AMGN sit in other groups
        rs_sector_20=d["rs_sector_20"].where(~d.index.isin([200]), None)))
    dts = store.read(T, symbols=["MSFT"], columns=["datetime"]).column("datetime")
    DeltaTable(store.path(T)).delete(f"symbol = 'MSFT' AND datetime = '{dts[120].as_py().isoformat()}'")


def test_grouped_checks_hold_one_group_and_equal_the_whole_table_read(wh: DeltaStore) -> None:
    _damage(wh)
    total = int(wh.file_index(T).records.sum())
    budget = BASE_BYTES + GROUP_ROWS * BYTES_PER_ROW
    cfg = QualityConfig(as_of=AS_OF, targets={T: 20}, universes={T: ("AAPL", "ZZZZ")}, memory_budget=budget)

    spec = get_table(T)
    context = table_context(wh, spec, benchmark="SPY", with_peers=True)
    assert context.rows == total
    frames = list(iter_frames(wh, spec, context, memory_budget=budget))
    assert len(frames) >= 3
    assert max(f.data.num_rows for f in frames) <= GROUP_ROWS < total
    assert sum(f.data.num_rows for f in frames) == total
    assert [s for f in frames for s in f.symbols] == context.symbols

    rep = run_quality(wh, tables=[T], config=cfg, record=False)
    timings = rep.timings
    assert timings[f"{T}.groups"] >= 3
    assert 0 < timings[f"{T}.max_group_rows"] <= GROUP_ROWS

    grouped = sorted(_key(i) for i in rep.issues if i.table == T)
    oracle = sorted(_key(i) for i in _whole_table(wh, cfg))
    assert grouped == oracle
    found = {(i.check, i.symbol, i.field) for i in rep.issues if i.severity == "error"}
    assert {("nulls", "AAPL", "rsi_14"), ("nulls", "NVDA", "rs_benchmark_20")} <= found
    assert any(i.check == "missing_bars" and i.symbol == "MSFT" for i in rep.issues)
    assert any(i.symbol == "JNJ" and i.field == "rs_sector_20" for i in rep.issues)
    assert any(i.check == "coverage" and i.symbol == "ZZZZ" for i in rep.issues)
    assert any(i.check == "coverage" and i.symbol is None for i in rep.issues)  # 8 symbols, target 20

    whole = run_quality(wh, tables=[T], config=QualityConfig(as_of=AS_OF, targets={T: 20},
                                                             universes={T: ("AAPL", "ZZZZ")}), record=False)
    assert whole.timings[f"{T}.groups"] == 1.0 and whole.timings[f"{T}.max_group_rows"] == total
    assert sorted(_key(i) for i in whole.issues if i.table == T) == oracle
