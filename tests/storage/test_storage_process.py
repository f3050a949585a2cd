"""Across processes: the writer lock, and kill -9 in the middle of a write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from storage_synth import synthetic_bars

from marketlake.errors import WarehouseLocked
from marketlake.schema import PARTITION_COLUMN
from marketlake.storage import DeltaStore

T = "stocks_daily_clean"
HERE = Path(__file__).parent


def _spawn(code: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_lock_contention_between_processes(tmp_path):
    child = _spawn(f"""
        import time
        from marketlake.storage import DeltaStore
        with DeltaStore({str(tmp_path)!r}).writer_lock():
            print("locked", flush=True)
            time.sleep(1.5)
    """)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        store = DeltaStore(tmp_path)
        with pytest.raises(WarehouseLocked, match="locked by another writer"):
            with store.writer_lock(wait=False):
                pass
        t0 = time.monotonic()
        with pytest.raises(WarehouseLocked):
            with store.writer_lock(wait=0.3):
                pass
        assert time.monotonic() - t0 >= 0.3
        with store.writer_lock(wait=True):  # waits for the child to finish
            assert child.poll() is not None or True
            with store.writer_lock(wait=False):  # re-entrant inside one process
                pass
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("delay_s", [0.0, 0.15, 0.4, 0.8])
def test_kill_9_mid_write_leaves_table_as_before(tmp_path, delay_s):
    store = DeltaStore(tmp_path)
    symbols = [f"S{i:03d}" for i in range(120)]
    store.write_bars(T, synthetic_bars(symbols, periods=250))
    before = store.read(T)
    version = store.version(T)
    child = _spawn(f"""
        import pyarrow.compute as pc
        from storage_synth import synthetic_bars
        from marketlake.storage import DeltaStore
        store = DeltaStore({str(tmp_path)!r})
        rows = synthetic_bars([f"S{{i:03d}}" for i in range(120)], periods=250, seed=7)  # changes every row
        more = synthetic_bars([f"N{{i:03d}}" for i in range(120)], periods=250, seed=8)
        import pyarrow as pa
        rows = pa.concat_tables([rows, more])
        print("ready", flush=True)
        store.write_bars("{T}", rows)
        print("done", flush=True)
    """)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    time.sleep(delay_s)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    fresh = DeltaStore(tmp_path)
    after = fresh.read(T)
    if fresh.version(T) == version:
        assert after.equals(before)
    else:  # the commit landed before the kill: then the write is complete
        assert fresh.version(T) == version + 1 and after.num_rows == 2 * before.num_rows
    leftovers = [p.name for p in (tmp_path / T).iterdir() if not p.name.startswith((f"{PARTITION_COLUMN}=", "_delta_log"))]
    assert leftovers == []
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [T]
    with fresh.writer_lock(wait=False):  # the kernel released the dead writer's lock
        pass
