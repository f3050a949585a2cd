"""Lost updates: a read-modify-write and an ingest racing, made deterministic, lose nothing.

The read-modify-write side (`quality --fix` recompute, the read half of `load_bars`, `symbols load`)
runs in its own process and stops between its read and its commit; the ingest then starts in another
process. Holding the writer lock from the read to the commit makes the ingest wait (it says so), and
it then reads the other side's result; without it the ingest commits first and is reverted by the
other side's stale rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketlake.pipeline import load_bars
from marketlake.schema import get_table
from marketlake.storage import DeltaStore
from tests.pipeline import race_child as rc

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), str(PROJECT),
                                                         os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(HERE / "race_child.py"), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _first_line(proc: subprocess.Popen[str], timeout: float = 180.0) -> str:
    """The next stdout line (or '' at exit), with a deadline."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline() if proc.stdout else ""))
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        proc.kill()
        raise AssertionError(f"no output from {proc.args} within {timeout} s")
    return box[0].strip()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seed") / "wh"
    store = DeltaStore(root)
    spec = get_table(rc.TABLE)
    for batch in rc.source().fetch(None, spec, start=rc.SEED_START, end=rc.SEED_END):
        load_bars(store, spec, batch.bars, source="synthetic", metadata=batch.metadata)
    return root


def _copy(seeded: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "wh"
    shutil.copytree(seeded, target)
    return target


def _race(root: Path, role: str, *extra: str) -> str:
    """Run `role` up to its commit, let the ingest start, then let `role` commit; returns the ingest's
    first word (WAIT: it waited for the lock; DONE: it committed while the other side held its read)."""
    other = _spawn(role, str(root), *extra)
    ingest = None
    try:
        line = _first_line(other)
        assert line == "READ", (line, other.stderr.read() if other.stderr else "")
        ingest = _spawn("ingest", str(root))
        first = _first_line(ingest)
        assert first.split(" ", 1)[0] in ("WAIT", "DONE"), (first, ingest.stderr.read() if ingest.stderr else "")
        assert other.stdin is not None
        other.stdin.write("go\n")
        other.stdin.flush()
        assert other.wait(timeout=180) == 0, other.stderr.read() if other.stderr else ""
        assert ingest.wait(timeout=180) == 0, ingest.stderr.read() if ingest.stderr else ""
        return first.split(" ", 1)[0]
    finally:
        for p in (other, ingest):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def _assert_ingest_kept(root: Path) -> None:
    bars, _meta = rc.ingest_bars()
    stored = DeltaStore(root).read(rc.TABLE, symbols=["MSFT"], start=rc.INGEST_START,
                                   columns=["datetime", "close"]).to_pandas()
    got = stored.set_index("datetime")["close"].reindex(pd.DatetimeIndex(bars["datetime"]))
    assert got.notna().all(), "ingested bars missing"
    assert np.allclose(got.to_numpy(), bars["close"].to_numpy(), rtol=1e-12), "ingested prices reverted"


def test_quality_fix_recompute_does_not_revert_an_ingest(seeded: Path, tmp_path: Path) -> None:
    root = _copy(seeded, tmp_path)
    how = _race(root, "repair")
    _assert_ingest_kept(root)
    assert how == "WAIT"


def test_load_bars_read_half_does_not_revert_an_ingest(seeded: Path, tmp_path: Path) -> None:
    root = _copy(seeded, tmp_path)
    how = _race(root, "load")
    _assert_ingest_kept(root)
    spy, _ = rc.raw("SPY", rc.SEED_START, rc.SEED_END, scale=1.0)  # and the benchmark load is there too
    stored = DeltaStore(root).read(rc.TABLE, symbols=["SPY"], start="2024-04-01", columns=["close"]).to_pandas()
    expected = spy.loc[spy["datetime"] >= pd.Timestamp("2024-04-01", tz="UTC"), "close"].to_numpy() * 1.01
    assert np.allclose(stored["close"].to_numpy(), expected, rtol=1e-12)
    assert how == "WAIT"


def test_symbols_load_does_not_revert_the_master_of_an_ingest(seeded: Path, tmp_path: Path) -> None:
    root = _copy(seeded, tmp_path)
    ref = tmp_path / "sp500.csv"
    ref.write_text("Symbol,Security,GICS Sector,GICS Sub-Industry,Headquarters Location,Date added,CIK,Founded\n"
                   "MSFT,Microsoft Test Name,Information Technology,Systems Software,\"Redmond, Washington\","
                   "1994-06-01,789019,1975\n")
    how = _race(root, "symbols", str(ref))
    _assert_ingest_kept(root)
    master = DeltaStore(root).read_support("symbols").to_pandas().set_index("symbol")
    bars, _ = rc.ingest_bars()
    assert pd.Timestamp(master.loc["MSFT", f"last_bar_{rc.TABLE}"]) == bars["datetime"].max()  # the ingest's
    assert master.loc["MSFT", "metadata_source"]  # and the reference load's (the ingest does not set it)
    assert how == "WAIT"


def test_kill_between_bars_and_master_commit_is_repaired_by_the_rerun(seeded: Path, tmp_path: Path) -> None:
    """Two commits per load: the re-run finds the bars unchanged and still brings the master up to date."""
    root = _copy(seeded, tmp_path)
    killed = _spawn("ingest-killed", str(root))
    assert killed.wait(timeout=180) == -9, killed.stderr.read() if killed.stderr else ""
    _assert_ingest_kept(root)  # the bars commit landed
    bars, meta = rc.ingest_bars()
    last = f"last_bar_{rc.TABLE}"
    assert pd.Timestamp(DeltaStore(root).read_support("symbols").to_pandas().set_index("symbol").loc["MSFT", last]) \
        < bars["datetime"].max()  # the master commit did not
    report = load_bars(DeltaStore(root), get_table(rc.TABLE), bars, source="synthetic", metadata=meta)
    assert report.changed == 0  # nothing to write in the table...
    master = DeltaStore(root).read_support("symbols").to_pandas().set_index("symbol")
    assert pd.Timestamp(master.loc["MSFT", last]) == bars["datetime"].max()  # ...yet the master is repaired
    before = DeltaStore(root).version("symbols")
    load_bars(DeltaStore(root), get_table(rc.TABLE), bars, source="synthetic", metadata=meta)
    assert DeltaStore(root).version("symbols") == before  # and a further re-run commits nothing
