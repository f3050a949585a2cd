"""The writer lock of an object-store warehouse: mutual exclusion across processes, deadlines, dead holders.

The lock is a lease committed to a Delta log in the bucket (`storage.remote_lock`) with the conditional
writes of the real S3 protocol (moto's server on loopback).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from typer.testing import CliRunner

from marketlake import Warehouse
from marketlake.cli.main import app
from marketlake.errors import WarehouseLocked
from marketlake.storage import DeltaStore
from tests.objectstore.conftest import HAVE_MOTO, S3Server, child_env

pytestmark = pytest.mark.skipif(not HAVE_MOTO, reason='moto server not installed: pip install "moto[server]"')
HERE = Path(__file__).resolve().parent


def _child(server: S3Server, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(HERE / "lock_child.py"), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**child_env(server), **env})


def _wait_line(proc: subprocess.Popen[str], want: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == want, (line, proc.stderr.read() if proc.stderr else "")


def test_two_writers_read_modify_write_lose_nothing(s3_root: str, s3_env: S3Server) -> None:
    n = 6
    procs = [_child(s3_env, "count", s3_root, str(n)) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and out.strip() == "DONE", err
    store = DeltaStore(s3_root)
    with store.filesystem.open_input_stream(store.table_root("counter.txt")) as f:
        assert int(f.read().decode()) == 2 * n  # every increment of both writers survived


def test_a_held_lock_refuses_after_the_wait_and_names_the_holder(s3_root: str, s3_env: S3Server) -> None:
    holder = _child(s3_env, "hold", s3_root)
    try:
        _wait_line(holder, "HELD")
        store = DeltaStore(s3_root)
        notes: list[str] = []
        start = time.monotonic()
        with pytest.raises(WarehouseLocked) as err, store.writer_lock(wait=1.0, on_wait=notes.append):
            pass
        assert time.monotonic() - start < 60  # a deadline, not a hang
        assert f"pid {holder.pid}" in str(err.value) and "lock_child.py hold" in str(err.value)
        assert notes and f"pid {holder.pid}" in notes[0]
        assert holder.stdin is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.wait(60) == 0
        with store.writer_lock(wait=30):  # released cleanly: free at once
            pass
    finally:
        holder.kill()
        holder.wait(30)


def test_a_killed_holder_is_taken_over(s3_root: str, s3_env: S3Server) -> None:
    holder = _child(s3_env, "hold", s3_root)
    _wait_line(holder, "HELD")
    os.kill(holder.pid, signal.SIGKILL)  # no release: the log still says "held by pid N"
    holder.wait(30)
    notes: list[str] = []
    with DeltaStore(s3_root).writer_lock(wait=30, on_wait=notes.append):
        assert any("took over" in n and f"pid {holder.pid}" in n for n in notes), notes


def test_a_stalled_holder_loses_its_lease(s3_root: str, s3_env: S3Server) -> None:
    """Alive but not renewing (stopped; or on another machine that died): the lease runs out."""
    holder = _child(s3_env, "hold", s3_root, MARKETLAKE_LOCK_LEASE="2")
    try:
        _wait_line(holder, "HELD")
        os.kill(holder.pid, signal.SIGSTOP)
        notes: list[str] = []
        with DeltaStore(s3_root).writer_lock(wait=60, on_wait=notes.append):
            assert any("lease ran out" in n for n in notes), notes
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        holder.kill()
        holder.wait(30)


def test_two_cli_ingests_at_once_lose_nothing(s3_root: str, s3_env: S3Server, tmp_path: Path) -> None:
    """Two `marketlake ingest` processes into one s3 table at the same moment: both symbol sets stored,
    with the same rows as the two loads run one after the other on a local warehouse."""
    base = [sys.executable, "-m", "marketlake.cli.main", "ingest", "synthetic", "--table", "stocks_daily_clean",
            "--stocks", "4", "--crypto", "0", "--start", "2024-01-02", "--end", "2024-03-28", "-q"]
    picks = ["SPY,AAPL", "SPY,MSFT"]  # SPY in both: both update the same keys
    procs = [subprocess.Popen([*base, "-s", s, "-w", s3_root], env=child_env(s3_env), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for s in picks]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    local = str(tmp_path / "wh")
    for s in picks:
        res = CliRunner().invoke(app, [*base[3:], "-s", s, "-w", local])
        assert res.exit_code == 0, res.output
    got = {root: Warehouse(root).read("stocks_daily_clean", as_="arrow").drop_columns(["updated_at"])
           for root in (s3_root, local)}
    assert set(got[s3_root].column("symbol").to_pylist()) == {"SPY", "AAPL", "MSFT"}
    assert got[s3_root].equals(got[local])
    lock_log = DeltaStore(s3_root).table_root(".marketlake.lock") + "/_delta_log"
    assert DeltaStore(s3_root).filesystem.get_file_info(pafs.FileSelector(lock_log))  # the lease log exists
