"""Migrating a warehouse written by release 96800c0 (layout 1, `fixtures/layout1`, see build_layout1.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from marketlake.schema import PARTITION_COLUMN, bar_schema
from marketlake.storage import DeltaStore
from marketlake.storage.commits import LAYOUT_VERSION
from marketlake.storage.migrate import layout_version, migrate_warehouse

FIXTURE = Path(__file__).parent / "fixtures" / "layout1"
PROD = ("stocks_daily_clean", "crypto_hourly_clean")


def _old_rows(table_dir: Path) -> pa.Table:
    """Oracle: the active files of the old log, replayed by hand and read with plain pyarrow."""
    active: dict[str, None] = {}
    for f in sorted((table_dir / "_delta_log").glob("*.json")):
        for line in f.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                active[action["add"]["path"]] = None
            elif "remove" in action:
                active.pop(action["remove"]["path"], None)
    rows = pa.concat_tables([pq.read_table(table_dir / p) for p in active])
    return rows.cast(bar_schema()).sort_by([("symbol", "ascending"), ("datetime", "ascending")])


@pytest.fixture()
def old_warehouse(tmp_path: Path) -> Path:
    wh = tmp_path / "wh"
    shutil.copytree(FIXTURE, wh)
    return wh


def test_fixture_is_layout_1(old_warehouse: Path) -> None:
    for name in PROD:
        assert DeltaTable(str(old_warehouse / name)).metadata().partition_columns == ["_partition"]


def test_open_migrates_and_keeps_every_row(old_warehouse: Path) -> None:
    expected = {name: _old_rows(old_warehouse / name) for name in PROD}
    store = DeltaStore(old_warehouse)
    for name in PROD:
        got = store.read(name)
        assert got.equals(expected[name]), name
        assert layout_version(store, name) == LAYOUT_VERSION
        dt = DeltaTable(store.path(name))
        assert dt.metadata().partition_columns == [PARTITION_COLUMN]
        assert dt.metadata().configuration["delta.checkpointInterval"]
        assert ds.dataset(store.path(name), format="parquet", partitioning="hive").count_rows() == got.num_rows
    assert store.read_support("ingest_state").num_rows == 2
    assert layout_version(store, "ingest_state") == LAYOUT_VERSION
    # the migrated table takes writes and upserts as usual
    more = store.read("stocks_daily_clean", symbols=["AAA"]).slice(0, 2)
    more = more.set_column(more.schema.get_field_index("close"), "close", pa.array([1.0, 2.0]))
    result = store.write_bars("stocks_daily_clean", more)
    assert (result.inserted, result.updated) == (0, 2)
    assert DeltaStore(old_warehouse).read("stocks_daily_clean").num_rows == expected["stocks_daily_clean"].num_rows


def test_cli_migrate_previews_then_applies(old_warehouse: Path) -> None:
    from typer.testing import CliRunner

    from marketlake.cli.main import app

    runner = CliRunner()
    preview = runner.invoke(app, ["migrate", "-w", str(old_warehouse)])
    assert preview.exit_code == 0, preview.output
    assert "stocks_daily_clean" in preview.output and "--yes" in preview.output
    assert DeltaTable(str(old_warehouse / "stocks_daily_clean")).metadata().partition_columns == ["_partition"]
    done = runner.invoke(app, ["migrate", "-w", str(old_warehouse), "--yes"])
    assert done.exit_code == 0, done.output
    again = runner.invoke(app, ["migrate", "-w", str(old_warehouse)])
    assert "up to date" in again.output


def test_killed_migration_leaves_tables_readable_and_a_rerun_finishes(old_warehouse: Path) -> None:
    expected = {name: _old_rows(old_warehouse / name) for name in PROD}
    script = textwrap.dedent(f"""
        import os
        from marketlake.storage import DeltaStore, migrate
        real = migrate._commit
        calls = []
        def dying(store, name, version, actions):
            calls.append(name)
            if len(calls) == 2:  # the second table: files linked, commit not yet written
                os._exit(9)
            real(store, name, version, actions)
        migrate._commit = dying
        migrate.migrate_warehouse(DeltaStore({str(old_warehouse)!r}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    layouts = {}
    for name in PROD:  # each table is wholly old or wholly new, and its rows are all there
        dt = DeltaTable(str(old_warehouse / name))
        layouts[name] = dt.metadata().partition_columns
        rows = pa.table(dt.to_pyarrow_table()).drop_columns(dt.metadata().partition_columns)
        assert rows.cast(bar_schema()).sort_by([("symbol", "ascending"), ("datetime", "ascending")]).equals(
            expected[name])
    assert sorted(layouts.values()) == [["_partition"], [PARTITION_COLUMN]]
    store = DeltaStore(old_warehouse)
    assert migrate_warehouse(store)  # the rest
    assert migrate_warehouse(store) == []
    for name in PROD:
        assert store.read(name).equals(expected[name])
