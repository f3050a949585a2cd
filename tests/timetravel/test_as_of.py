"""Point-in-time reads: read(as_of=version|instant), sql --as-of, restore (preview, --yes), and the janitor
naming the time-travel horizon a vacuum would cut."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from marketlake import Warehouse
from marketlake.cli.main import app
from marketlake.errors import StorageError
from marketlake.janitor import plan as janitor_plan
from marketlake.schema import get_table
from marketlake.sources import get_source

TABLE = "stocks_daily_clean"
runner = CliRunner()


def _bars(start: str, end: str) -> pd.DataFrame:
    src = get_source("synthetic", now=datetime(2025, 1, 1, tzinfo=UTC), stocks=3, crypto=1, seed=9)
    return pd.concat([b.bars for b in src.fetch(None, get_table(TABLE), start=start, end=end)], ignore_index=True)


@pytest.fixture(scope="module")
def _built_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int], list[datetime],
                                                                     list[pd.DataFrame]]:
    """Three loads, each a version: H1 2024, then Q3 appended, then Q4 appended. Built once per module
    (three ingests and the sleeps between them are most of this file's time); tests get a copy."""
    root = tmp_path_factory.mktemp("as_of") / "wh"
    wh = Warehouse(root)
    versions, instants, snapshots = [], [], []
    for end in ("2024-06-30", "2024-09-30", "2024-12-31"):
        wh.ingest(_bars("2024-01-01", end), table=TABLE, source="synthetic")
        versions.append(wh.store.version(TABLE))
        instants.append(datetime.now(UTC))
        snapshots.append(wh.read(TABLE, columns=["close", "rsi_14"]))
        time.sleep(1.1)  # distinct commit timestamps (milliseconds, but keep them apart on a busy machine)
    return root, versions, instants, snapshots


@pytest.fixture()
def history(_built_history, tmp_path: Path) -> tuple[Warehouse, list[int], list[datetime], list[pd.DataFrame]]:
    """This test's own copy of the module's history (tests restore, optimize and record actions in it).
    copytree keeps the files' modification times, which delta-rs reads to time-travel to an instant."""
    root, versions, instants, snapshots = _built_history
    shutil.copytree(root, tmp_path / "wh")
    return Warehouse(tmp_path / "wh"), list(versions), list(instants), [s.copy() for s in snapshots]


def test_read_as_of_a_version_or_an_instant_returns_the_rows_as_stored_then(history) -> None:
    wh, versions, instants, snapshots = history
    assert len(set(versions)) == 3
    for version, instant, snapshot in zip(versions, instants, snapshots):
        pd.testing.assert_frame_equal(wh.read(TABLE, columns=["close", "rsi_14"], as_of=version), snapshot)
        pd.testing.assert_frame_equal(wh.read(TABLE, columns=["close", "rsi_14"], as_of=instant), snapshot)
        pd.testing.assert_frame_equal(wh.read(TABLE, columns=["close", "rsi_14"], as_of=instant.isoformat()),
                                      snapshot)
    assert len(snapshots[0]) < len(snapshots[1]) < len(snapshots[2])
    with pytest.raises(StorageError, match="versions 0"):
        wh.read(TABLE, as_of=versions[-1] + 5)


def test_sql_as_of_reads_every_mentioned_table_as_it_was(history) -> None:
    wh, versions, instants, snapshots = history
    query = "SELECT count(*) AS n, max(datetime) AS last FROM stocks_daily_clean"
    then = runner.invoke(app, ["sql", query, "-w", wh.store.root, "--as-of", instants[0].isoformat(), "-f", "json"])
    assert then.exit_code == 0, then.output
    assert f'"n": {len(snapshots[0])}' in then.stdout
    by_version = wh.sql(query, as_of=versions[1])
    assert int(by_version["n"].iloc[0]) == len(snapshots[1])
    assert int(wh.sql(query)["n"].iloc[0]) == len(snapshots[2])


def test_restore_previews_then_brings_the_table_back(history) -> None:
    wh, versions, _instants, snapshots = history
    before = wh.store.version(TABLE)
    preview = runner.invoke(app, ["restore", TABLE, "--version", str(versions[0]), "-w", wh.store.root])
    assert preview.exit_code == 0 and "re-run with --yes" in preview.output
    assert f"{len(snapshots[2]):,} rows) to version {versions[0]}" in preview.output
    assert wh.store.version(TABLE) == before
    done = runner.invoke(app, ["restore", TABLE, "--version", str(versions[0]), "-w", wh.store.root, "--yes"])
    assert done.exit_code == 0, done.output
    assert wh.store.version(TABLE) == before + 1  # a new commit: the restore can itself be undone
    pd.testing.assert_frame_equal(wh.read(TABLE, columns=["close", "rsi_14"]), snapshots[0])
    runner.invoke(app, ["restore", TABLE, "--version", str(before), "-w", wh.store.root, "--yes"])
    pd.testing.assert_frame_equal(wh.read(TABLE, columns=["close", "rsi_14"]), snapshots[2])


def _master_spans(wh: Warehouse) -> pd.DataFrame:
    master = wh.store.read_support("symbols").to_pandas().set_index("symbol").sort_index()
    return master[[f"first_bar_{TABLE}", f"last_bar_{TABLE}"]]


def _table_spans(wh: Warehouse) -> pd.DataFrame:  # the oracle: straight from the bars
    bars = wh.read(TABLE, columns=["datetime"])
    spans = bars.groupby("symbol")["datetime"].agg(["min", "max"]).sort_index()
    return spans.set_axis([f"first_bar_{TABLE}", f"last_bar_{TABLE}"], axis=1)


def test_restore_takes_the_symbol_masters_last_bars_back_too(history) -> None:
    """Loads only move the master's last bars forward: after a restore they must name bars that exist."""
    wh, versions, _instants, _snapshots = history
    assert _master_spans(wh)[f"last_bar_{TABLE}"].min() >= pd.Timestamp("2024-12-01", tz="UTC")
    done = runner.invoke(app, ["restore", TABLE, "--version", str(versions[0]), "-w", wh.store.root, "--yes"])
    assert done.exit_code == 0, done.output
    assert "symbol master" in done.output
    expected = _table_spans(wh)
    assert expected[f"last_bar_{TABLE}"].max() < pd.Timestamp("2024-07-01", tz="UTC")
    got = _master_spans(wh).loc[expected.index]
    pd.testing.assert_frame_equal(got.apply(pd.to_datetime, utc=True), expected.apply(pd.to_datetime, utc=True),
                                  check_dtype=False, check_freq=False)
    again = wh.store.version("symbols")  # a second resync has nothing to change
    from marketlake.pipeline.symbol_master import resync_spans
    assert resync_spans(wh.store, get_table(TABLE), now=datetime.now(UTC)) == 0
    assert wh.store.version("symbols") == again


def test_janitor_plan_names_the_time_travel_a_vacuum_would_end(history) -> None:
    wh, versions, _instants, _snapshots = history
    wh.store.optimize(TABLE)  # rewrites every file: the older versions' files are now unreferenced
    vacuum = [p for p in janitor_plan(wh.store, vacuum_hours=0) if p.name == TABLE and p.action == "vacuum"]
    assert vacuum, "nothing to vacuum"
    newest_cut = wh.store.version(TABLE) - 1
    assert f"time travel (as_of) will reach back to version {newest_cut + 1} only" in vacuum[0].reason
    assert f"version {newest_cut} (" in vacuum[0].reason


def test_past_versions_carry_their_own_commit_times(history) -> None:
    """delta-rs numbers the history of a table loaded at an old version from that version down while
    listing the latest log's commits: the restore preview and the janitor's horizon must still name
    when the old version was committed (the instants taken right after each load bound it)."""
    from marketlake.storage.versioned import plan_restore, version_info

    wh, versions, instants, _snapshots = history
    for i, version in enumerate(versions[:-1]):
        got = version_info(wh.store, TABLE, version=version).timestamp
        assert (instants[i - 1] if i else datetime.min.replace(tzinfo=UTC)) < got <= instants[i], (version, got)
    plan = plan_restore(wh.store, TABLE, versions[0])
    assert plan.target.timestamp <= instants[0] < plan.current.timestamp
    assert f"{plan.target.timestamp:%Y-%m-%d %H:%M:%S}Z" in plan.describe()
    wh.store.optimize(TABLE)  # the janitor's horizon names the last version a vacuum cuts, with its own time
    (vacuum,) = [p for p in janitor_plan(wh.store, vacuum_hours=0) if p.name == TABLE and p.action == "vacuum"]
    cut = version_info(wh.store, TABLE, version=versions[-1]).timestamp
    assert cut <= instants[-1] and f"version {versions[-1]} ({cut:%Y-%m-%d %H:%M}Z)" in vacuum.reason


def test_sql_as_of_offers_the_adjusted_views_with_the_actions_known_then(history) -> None:
    """`<table>_raw` under --as-of: the bars and corporate_actions both as they were at that instant."""
    from marketlake.actions import Action, record

    wh, _versions, instants, snapshots = history
    symbol = str(snapshots[-1]["symbol"].iloc[0])
    record(wh.store, [Action(symbol=symbol, kind="split", date=datetime(2024, 7, 1).date(), from_factor=1,
                             to_factor=2)])
    query = f"SELECT datetime, close FROM stocks_daily_clean_raw WHERE symbol = '{symbol}' ORDER BY datetime"
    now = wh.sql(query, as_of=datetime.now(UTC))
    want = wh.read(TABLE, symbol, columns=["close"], adjust="none")
    assert len(now) == len(want) > 100
    pd.testing.assert_series_equal(now["close"], want["close"], check_exact=False, rtol=1e-12)
    before = wh.sql(query, as_of=instants[-1])  # no action recorded then: as traded = as stored then
    pd.testing.assert_series_equal(before["close"], snapshots[-1][snapshots[-1]["symbol"] == symbol]["close"]
                                   .reset_index(drop=True), check_exact=False, rtol=1e-12)
    assert (before["close"].iloc[0] / now["close"].iloc[0]) == pytest.approx(1.0)  # both as traded
    assert wh.read(TABLE, symbol, columns=["close"])["close"].iloc[0] == pytest.approx(now["close"].iloc[0] / 2)
