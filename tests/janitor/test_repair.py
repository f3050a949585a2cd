"""`janitor plan` offers the repair of a damaged table and `janitor apply --yes` goes back to the last good
version: the rows of that version are readable again and writes resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.errors import CorruptTable
from marketlake.storage import DeltaStore
from marketlake.storage.commits import CHECKPOINT_INTERVAL
from tests.damage import commit_file, damage
from tests.janitor.conftest import small_bars

T = "stocks_daily_clean"


@pytest.fixture(scope="module")
def bars() -> pa.Table:
    return small_bars(T, stocks=3, crypto=0, days=120)


def _by_symbol(bars: pa.Table) -> list[pa.Table]:
    symbols = sorted(set(bars.column("symbol").to_pylist()))
    return [bars.filter(pa.compute.equal(bars.column("symbol"), s)) for s in symbols]


def _plan(root: str) -> str:
    """The repair entries of `janitor plan --json`, one `name: reason` line each."""
    out = CliRunner().invoke(app, ["janitor", "plan", "--json", "-w", root])
    assert out.exit_code == 0, out.output
    return "\n".join(f"{e['name']}: {e['action']} {e['reason']}" for e in json.loads(out.output)
                     if e["action"] == "repair")


def _apply(root: str) -> None:
    out = CliRunner().invoke(app, ["janitor", "apply", "--yes", "-w", root])
    assert out.exit_code == 0, out.output


@pytest.mark.parametrize("how", ["zero", "truncate", "garble"])
def test_damaged_latest_commit_goes_back_to_the_previous_version(tmp_path: Path, bars: pa.Table, how: str) -> None:
    store = DeltaStore(tmp_path / "wh")
    first, second, third = _by_symbol(bars)
    store.write_bars(T, first)
    good = store.write_bars(T, second).version
    good_rows = store.read(T)
    store.write_bars(T, third)
    damage(commit_file(store.path(T), good + 1), how)
    with pytest.raises(CorruptTable):
        DeltaStore(store.root).read(T)
    shown = _plan(store.root)
    assert "repair" in shown and T in shown and f"back to version {good}" in shown
    assert not CliRunner().invoke(app, ["janitor", "apply", "-w", store.root]).exit_code == 0  # preview only
    with pytest.raises(CorruptTable):
        DeltaStore(store.root).read(T)
    _apply(store.root)
    fresh = DeltaStore(store.root)
    assert fresh.version(T) == good and fresh.read(T).equals(good_rows)
    moved = list((Path(store.root) / ".marketlake-corrupt" / T).rglob("*.json"))
    assert [p.name for p in moved] == [commit_file(store.path(T), good + 1).name]  # kept aside, not deleted
    assert fresh.write_bars(T, third).inserted == third.num_rows  # writes resume on the good version
    assert "repair" not in _plan(store.root)


def test_damaged_commit_under_a_checkpoint_is_moved_aside(tmp_path: Path, bars: pa.Table) -> None:
    store = DeltaStore(tmp_path / "wh")
    rows = bars.slice(0, CHECKPOINT_INTERVAL + 2)
    for k in range(rows.num_rows):
        store.write_bars(T, rows.slice(k, 1))
    expected, version = store.read(T), store.version(T)  # one commit per write, plus automatic compactions
    assert version >= rows.num_rows
    damage(commit_file(store.path(T), 3), "garble")
    assert "repair" in _plan(store.root)
    _apply(store.root)
    fresh = DeltaStore(store.root)
    assert fresh.read(T).equals(expected) and fresh.version(T) == version
    assert not commit_file(store.path(T), 3).exists()


def test_damaged_data_file_goes_back_to_a_version_without_it(tmp_path: Path, bars: pa.Table) -> None:
    store = DeltaStore(tmp_path / "wh")
    first, second, _ = _by_symbol(bars)
    store.write_bars(T, first)
    good_rows = store.read(T)
    before = set(store.active_files(T))
    store.write_bars(T, second)
    newest = sorted(set(store.active_files(T)) - before)[0]
    damage(Path(newest), "truncate")
    with pytest.raises(CorruptTable, match=os.path.basename(newest)):
        DeltaStore(store.root).read(T)
    assert "restore version 1" in _plan(store.root)
    _apply(store.root)
    assert DeltaStore(store.root).read(T).equals(good_rows)


def test_a_damaged_support_table_is_repaired_alone(tmp_path: Path, bars: pa.Table) -> None:
    store = DeltaStore(tmp_path / "wh")
    store.write_bars(T, bars)
    row = pa.Table.from_pylist([{"row_id": "r1", "table": T, "rule": "x"}])
    store.append_support("quarantine", row)
    store.append_support("quarantine", row)
    damage(commit_file(store.path("quarantine"), store.version("quarantine")), "zero")
    shown = _plan(store.root)
    assert "quarantine" in shown and "repair" in shown
    _apply(store.root)
    fresh = DeltaStore(store.root)
    assert fresh.read_support("quarantine").num_rows == 1 and fresh.read(T).num_rows == bars.num_rows


def test_damaged_checkpoint_is_refused_then_moved_aside(tmp_path: Path, bars: pa.Table) -> None:
    store = DeltaStore(tmp_path / "wh")
    rows = bars.slice(0, CHECKPOINT_INTERVAL + 1)
    for k in range(rows.num_rows):
        store.write_bars(T, rows.slice(k, 1))
    expected = store.read(T)
    checkpoint = sorted((Path(store.path(T)) / "_delta_log").glob("*.checkpoint.parquet"))[-1]
    damage(checkpoint, "garble")
    with pytest.raises(CorruptTable, match=checkpoint.name):
        DeltaStore(store.root).read(T)
    _apply(store.root)
    assert not checkpoint.exists() and DeltaStore(store.root).read(T).equals(expected)
