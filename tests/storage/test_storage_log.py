"""The Delta log marketlake leaves: commit info, checkpoints and log clean-up, statistics, folders."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable
from storage_synth import synthetic_bars

from marketlake.schema import PARTITION_COLUMN, bar_schema
from marketlake.storage import DeltaStore
from marketlake.storage.commits import CHECKPOINT_INTERVAL

T = "stocks_daily_clean"


def _commit_info(table_dir: Path, version: int) -> dict[str, object]:
    for line in (table_dir / "_delta_log" / f"{version:020d}.json").read_text().splitlines():
        if line.strip() and "commitInfo" in json.loads(line):
            return dict(json.loads(line)["commitInfo"])
    raise AssertionError(f"no commitInfo in version {version}")


def test_commit_info_names_the_upsert_and_its_size(store: DeltaStore) -> None:
    bars = synthetic_bars(["AAA", "BBB"], periods=40)  # 2021-01-04 .. 2021-02-12: two monthly partitions
    first = store.write_bars(T, bars)
    info = _commit_info(Path(store.path(T)), first.version)
    assert info["marketlake.operation"] == "upsert"
    assert (info["marketlake.rowsInserted"], info["marketlake.rowsUpdated"]) == (80, 0)
    assert (info["marketlake.filesAdded"], info["marketlake.filesRemoved"]) == (2, 0)
    changed = synthetic_bars(["AAA"], periods=5, seed=9)  # five January rows of one symbol change
    second = store.write_bars(T, changed)
    info = _commit_info(Path(store.path(T)), second.version)
    assert (info["marketlake.rowsInserted"], info["marketlake.rowsUpdated"]) == (0, 5)
    assert (info["marketlake.filesAdded"], info["marketlake.filesRemoved"]) == (1, 1)  # January rewritten


def test_statistics_cover_every_column_but_the_float_fields(store: DeltaStore) -> None:
    store.write_bars(T, synthetic_bars(["AAA", "BBB"], periods=10, null_share=0.0))
    adds = pa.table(DeltaTable(store.path(T)).get_add_actions(flatten=True)).to_pydict()

    def known(name: str) -> bool:  # delta-rs lists a column for every field; absent statistics are NULL
        return name in adds and all(v is not None for v in adds[name])

    for col in ("symbol", "datetime", "sector", "exchange", "trend_regime", "trend_strength_regime", "updated_at"):
        assert known(f"min.{col}") and known(f"max.{col}") and known(f"null_count.{col}"), col
    floats = [f.name for f in bar_schema() if pa.types.is_floating(f.type)]
    others = [f.name for f in bar_schema() if not pa.types.is_floating(f.type)]
    assert all(known(f"null_count.{c}") for c in others)
    for c in floats:  # they skip no file: not written (a big table's commits were 3x slower with them)
        assert not any(adds.get(f"{k}.{c}", [None])[0] is not None for k in ("min", "max", "null_count")), c


def test_checkpoints_and_log_cleanup(store: DeltaStore) -> None:
    log = Path(store.path(T)) / "_delta_log"
    for k in range(CHECKPOINT_INTERVAL + 2):
        store.write_bars(T, synthetic_bars([f"S{k:03d}"], periods=3))
    assert list(log.glob("*.checkpoint.parquet")), sorted(os.listdir(log))
    old = time.time() - 8 * 86400  # past the 7-day log retention
    for f in log.glob("*.json"):
        os.utime(f, (old, old))
    for k in range(CHECKPOINT_INTERVAL):
        store.write_bars(T, synthetic_bars([f"X{k:03d}"], periods=3))
    versions = sorted(int(f.name.split(".")[0]) for f in log.glob("*.json"))
    checkpoints = sorted(int(f.name.split(".")[0]) for f in log.glob("*.checkpoint.parquet"))
    assert versions[0] > 0 and versions[0] >= checkpoints[0], (versions, checkpoints)  # history before it gone
    fresh = DeltaStore(store.root)
    assert fresh.read(T).num_rows == 3 * (2 * CHECKPOINT_INTERVAL + 2)


def test_plain_pyarrow_dataset_finds_the_rows(store: DeltaStore) -> None:
    store.write_bars(T, synthetic_bars(["AAA", "BBB"], periods=40))
    dirs = [p.name for p in Path(store.path(T)).iterdir() if p.name != "_delta_log"]
    assert dirs and all(d.startswith(f"{PARTITION_COLUMN}=") and not d.startswith("_") for d in dirs)
    found = ds.dataset(store.path(T), format="parquet", partitioning="hive")
    assert found.count_rows() == 80
    assert PARTITION_COLUMN not in ds.dataset(store.active_files(T)[0], format="parquet").schema.names
