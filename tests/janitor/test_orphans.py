"""Orphan data files (written by killed writes, referenced by no Delta version) are found and removed,
past the retention only, without touching the current table or a retained version."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.storage import DeltaStore
from tests.janitor.conftest import small_bars

T = "stocks_daily_clean"
HOURS = 24


def _sorted(t: pa.Table) -> pa.Table:
    return t.sort_by([("symbol", "ascending"), ("datetime", "ascending")])


def _orphan(table_dir: Path, i: int, *, age_hours: float) -> Path:
    """A complete Parquet file in a partition folder that no commit names, as a killed write leaves."""
    source = next(p for p in sorted(table_dir.rglob("*.parquet")) if "_delta_log" not in p.parts)
    target = source.parent / f"part-{90000 + i:05d}-{i:08x}-dead-beef-0000-killedwrite-c000.zstd.parquet"
    shutil.copyfile(source, target)
    stamp = time.time() - age_hours * 3600
    os.utime(target, (stamp, stamp))
    return target


def test_janitor_removes_old_orphans_and_keeps_versions(tmp_path: Path) -> None:
    store = DeltaStore(tmp_path / "wh")
    bars = small_bars(stocks=2, crypto=0, days=60)
    store.write_bars(T, bars)
    head = bars.slice(0, 5)
    store.write_bars(T, head.set_column(head.schema.get_field_index("close"), "close",
                                        pa.array(head.column("close").to_numpy() * 1.01)))  # v1 removes files
    table_dir = Path(store.path(T))
    first = DeltaTable(str(table_dir), version=0).to_pyarrow_table()
    current = _sorted(store.read(T))
    old = [_orphan(table_dir, i, age_hours=72) for i in range(3)]
    fresh = _orphan(table_dir, 9, age_hours=0)  # could be a write still under way: younger than the horizon
    orphan_bytes = sum(p.stat().st_size for p in old)

    runner = CliRunner()
    res = runner.invoke(app, ["janitor", "plan", "-w", store.root, "--json", "--vacuum-hours", str(HOURS)])
    assert res.exit_code == 0, res.output
    vac = [e for e in json.loads(res.output) if e["name"] == T and e["action"] == "vacuum"]
    assert len(vac) == 1 and vac[0]["bytes"] == orphan_bytes, vac
    assert "3 orphan files" in vac[0]["reason"]
    assert all(p.exists() for p in old)  # the plan changed nothing

    res = runner.invoke(app, ["janitor", "apply", "-w", store.root, "--yes", "--vacuum-hours", str(HOURS),
                              "--no-compact"])
    assert res.exit_code == 0, res.output
    assert not any(p.exists() for p in old) and fresh.exists()
    reread = DeltaStore(store.root)
    assert _sorted(reread.read(T)).equals(current)  # the table still reads fully
    assert DeltaTable(str(table_dir), version=0).to_pyarrow_table().equals(first)  # time travel within retention
    done = [r for r in reread.read_support("janitor_log").to_pylist()
            if r["name"] == T and r["action"] == "vacuum" and r["detail"].startswith("done")]
    assert len(done) == 1 and done[0]["bytes"] == orphan_bytes
    res = runner.invoke(app, ["janitor", "plan", "-w", store.root, "--json", "--vacuum-hours", str(HOURS)])
    assert not [e for e in json.loads(res.output) if e["name"] == T]  # nothing left to do
