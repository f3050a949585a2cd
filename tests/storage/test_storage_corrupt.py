"""Damaged commit, checkpoint and data files: a clear CorruptTable, no silent wrong state, no commit on top."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from storage_synth import synthetic_bars

from marketlake.errors import CorruptTable
from marketlake.storage import DeltaStore
from marketlake.storage.commits import CHECKPOINT_INTERVAL
from tests.damage import commit_file, damage

T = "stocks_daily_clean"


@pytest.fixture()
def three_writes(store: DeltaStore) -> DeltaStore:
    for k in range(3):
        store.write_bars(T, synthetic_bars([f"S{k}"], periods=30))
    return store


@pytest.mark.parametrize("how", ["zero", "truncate", "garble"])
def test_damaged_latest_commit_is_refused_by_reads_and_writes(three_writes: DeltaStore, how: str) -> None:
    latest = commit_file(three_writes.path(T), three_writes.version(T))
    damage(latest, how)
    log = sorted(os.listdir(latest.parent))
    fresh = DeltaStore(three_writes.root)
    with pytest.raises(CorruptTable) as err:
        fresh.read(T)
    assert T in str(err.value) and latest.name in str(err.value) and err.value.table == T
    with pytest.raises(CorruptTable):
        three_writes.read(T)  # the store that wrote it notices too
    with pytest.raises(CorruptTable):
        fresh.write_bars(T, synthetic_bars(["NEW"], periods=30))
    assert sorted(os.listdir(latest.parent)) == log  # nothing committed on top


def test_damaged_commit_covered_by_a_checkpoint_still_counts(store: DeltaStore) -> None:
    for k in range(CHECKPOINT_INTERVAL + 2):
        store.write_bars(T, synthetic_bars([f"S{k:03d}"], periods=2))
    log = Path(store.path(T)) / "_delta_log"
    assert list(log.glob("*.checkpoint.parquet"))
    damage(commit_file(store.path(T), 5), "garble")
    with pytest.raises(CorruptTable, match="00000000000000000005.json"):
        DeltaStore(store.root).read(T)


@pytest.mark.parametrize("how", ["zero", "truncate", "garble"])
def test_damaged_data_file_names_table_and_file(three_writes: DeltaStore, how: str) -> None:
    rel = three_writes.active_files(T)[0]
    damage(Path(rel), how)
    with pytest.raises(CorruptTable) as err:
        DeltaStore(three_writes.root).read(T)
    assert T in str(err.value) and Path(rel).name in str(err.value)


def test_cli_prints_one_line_and_exits_non_zero(three_writes: DeltaStore) -> None:
    damage(commit_file(three_writes.path(T), three_writes.version(T)), "zero")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-m", "marketlake.cli.main", "tables", "-w", three_writes.root],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and T in lines[0] and "is empty" in lines[0], proc.stderr


def test_a_broken_support_table_does_not_block_production(three_writes: DeltaStore) -> None:
    rows = pa.Table.from_pylist([{"row_id": "r1", "table": T, "rule": "x"}])
    three_writes.append_support("quarantine", rows)
    three_writes.append_support("quarantine", rows)
    damage(commit_file(three_writes.path("quarantine"), three_writes.version("quarantine")), "zero")
    fresh = DeltaStore(three_writes.root)
    with pytest.raises(CorruptTable, match="quarantine"):
        fresh.read_support("quarantine")
    with pytest.raises(CorruptTable, match="quarantine"):
        fresh.append_support("quarantine", rows)
    before = fresh.read(T).num_rows
    assert fresh.write_bars(T, synthetic_bars(["NEW"], periods=30)).inserted == 30
    assert fresh.read(T).num_rows == before + 30
    fresh.append_support("ingest_state", pa.Table.from_pylist([{"table": T, "symbol": "NEW"}]))


def test_upsert_into_a_support_table_with_a_damaged_data_file_names_it(store: DeltaStore) -> None:
    rows = pa.Table.from_pylist([{"table": T, "symbol": s, "status": "ok"} for s in ("A", "B")])
    store.upsert_support("ingest_state", rows, keys=["table", "symbol"])
    data = [p for p in Path(store.path("ingest_state")).glob("*.parquet")]
    damage(data[0], "truncate")
    with pytest.raises(CorruptTable, match=data[0].name):
        DeltaStore(store.root).upsert_support("ingest_state", rows, keys=["table", "symbol"])
