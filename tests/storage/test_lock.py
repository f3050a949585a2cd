"""The writer lock's waits: one configurable deadline everywhere, who holds it, take-over of dead holders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from marketlake.errors import ConfigError, WarehouseLocked
from marketlake.storage import LOCK_NAME, DeltaStore
from marketlake.storage.lock import ENV_WAIT, writer_lock

PROJECT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    src = str(PROJECT / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(PROJECT), os.environ.get("PYTHONPATH", "")]),
            **extra}


def _holder(root: Path, *, seconds: float = 30.0) -> subprocess.Popen[str]:
    """A process that takes the lock, says 'locked', and keeps it `seconds`."""
    code = f"""
        import time
        from marketlake.storage import DeltaStore
        with DeltaStore({str(root)!r}).writer_lock(wait=False):
            print("locked", flush=True)
            time.sleep({seconds})
    """
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), "holder-marker"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_lock_file_records_pid_command_and_start(tmp_path: Path) -> None:
    with writer_lock(tmp_path, wait=False):
        info = json.loads((tmp_path / LOCK_NAME).read_text())
    assert info["pid"] == os.getpid()
    assert info["command"] and info["since"].endswith("Z")
    assert (tmp_path / LOCK_NAME).read_text() == ""  # released cleanly: no stale holder named


def test_wait_names_the_holder_then_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    child = _holder(tmp_path)
    try:
        notes: list[str] = []
        t0 = time.monotonic()
        with pytest.raises(WarehouseLocked, match="locked by another writer") as err:
            with writer_lock(tmp_path, wait=0.6, on_wait=notes.append):
                pass
        assert 0.6 <= time.monotonic() - t0 < 60  # waited its wait, then refused (upper bound: no hang, not a timing)
        assert f"pid {child.pid}" in str(err.value) and "holder-marker" in str(err.value)
        assert ENV_WAIT in str(err.value)
        assert notes and f"pid {child.pid}" in notes[0] and "since" in notes[0]
        monkeypatch.setenv(ENV_WAIT, "0.3")  # the default wait (wait=None) comes from the environment
        t0 = time.monotonic()
        with pytest.raises(WarehouseLocked):
            with DeltaStore(tmp_path).writer_lock():
                pass
        assert 0.3 <= time.monotonic() - t0 < 60
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("argv", [
    ["janitor", "apply", "--yes"],
    ["retention", "--apply"],
    ["ingest", "twelvedata", "-t", "stocks_daily_clean", "-s", "AAPL"],
    ["ingest", "csv", "{csv}", "-t", "stocks_daily_clean"],  # waited forever in silence before
])
def test_cli_commands_wait_the_same_then_say_who_holds_it(tmp_path: Path, argv: list[str]) -> None:
    bars = tmp_path.parent / f"{tmp_path.name}-bars.csv"  # outside the warehouse folder
    bars.write_text("symbol,datetime,open,high,low,close,volume\nAAA,2024-07-01,10,11,9,10.5,100\n")
    argv = [str(bars) if a == "{csv}" else a for a in argv]
    child = _holder(tmp_path)
    try:
        t0 = time.monotonic()
        res = subprocess.run([sys.executable, "-m", "marketlake.cli.main", *argv, "-w", str(tmp_path)],
                             capture_output=True, text=True, timeout=120,
                             env=_env(**{ENV_WAIT: "1", "TWELVEDATA_API_KEY": "demo-key-not-used",
                                         "TWELVEDATA_BASE_URL": "http://127.0.0.1:9"}))
        elapsed = time.monotonic() - t0
    finally:
        child.kill()
        child.wait()
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    assert f"waiting for the warehouse lock held by pid {child.pid}" in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: warehouse") and f"pid {child.pid}" in last and "after waiting 1 s" in last
    assert elapsed < 60


def test_dead_holder_with_inherited_descriptor_is_taken_over(tmp_path: Path) -> None:
    """The writer died but a forked child kept its descriptor (so the kernel lock stays held)."""
    code = f"""
        import os, sys, time
        from marketlake.storage import DeltaStore
        with DeltaStore({str(tmp_path)!r}).writer_lock(wait=False):
            pid = os.fork()
            if pid == 0:
                sys.stdout.close()
                time.sleep(60)
                os._exit(0)
            print(pid, flush=True)
            time.sleep(60)
    """
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True,
                              env=_env())
    assert writer.stdout is not None
    orphan = int(writer.stdout.readline())
    try:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        with pytest.raises(WarehouseLocked):  # the inherited descriptor really holds the kernel lock
            with writer_lock(tmp_path, wait=False):
                pass
        notes: list[str] = []
        with writer_lock(tmp_path, wait=10, on_wait=notes.append):
            assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
        assert any(f"took over the warehouse lock of pid {writer.pid}" in n for n in notes), notes
        with writer_lock(tmp_path, wait=False):  # and the next writer gets it at once
            pass
    finally:
        os.kill(orphan, signal.SIGKILL)


def test_stale_lock_file_of_the_older_layout_is_taken(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text("pid 4194000 since 2024-01-01T00:00:00Z")
    with writer_lock(tmp_path, wait=False):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_live_holder_is_never_taken_over(tmp_path: Path) -> None:
    child = _holder(tmp_path)
    try:
        with pytest.raises(WarehouseLocked):
            with writer_lock(tmp_path, wait=1.5):
                pass
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == child.pid
    finally:
        child.kill()
        child.wait()


def test_config_key_sets_the_default_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from marketlake.cli.common import configure_lock
    from marketlake.config import load_config
    from marketlake.storage import lock

    monkeypatch.delenv(ENV_WAIT, raising=False)
    assert lock.default_wait() == lock.DEFAULT_WAIT_S == 600
    cfg_file = tmp_path / "marketlake.toml"
    cfg_file.write_text("lock_wait_seconds = 42\n")
    with lock.settings_scope():
        configure_lock(load_config(cfg_file))
        assert lock.default_wait() == 42
        monkeypatch.setenv(ENV_WAIT, "7")
        assert lock.default_wait() == 7 and load_config(cfg_file).lock_wait_seconds == 7
        monkeypatch.setenv(ENV_WAIT, "soon")
        with pytest.raises(ConfigError, match="not a number"):
            lock.default_wait()
    monkeypatch.delenv(ENV_WAIT)
    assert lock.default_wait() == 600  # the scope ends with the command


def test_an_in_process_command_leaves_no_lock_wait_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command run through the Typer app (tests, notebooks) must not set the next command's wait."""
    from typer.testing import CliRunner

    from marketlake.cli.main import app
    from marketlake.storage import lock

    cfg_file = tmp_path / "marketlake.toml"
    cfg_file.write_text("lock_wait_seconds = 3\n")
    monkeypatch.delenv(ENV_WAIT, raising=False)
    result = CliRunner().invoke(app, ["config", "show", "--config", str(cfg_file)])
    assert result.exit_code == 0, result.output
    assert "3.0" in result.output
    assert lock.default_wait() == 600
