"""Log and data repair (`janitor plan`, then `janitor apply --yes`) on an s3:// warehouse (moto on loopback).

The same damage as tests/janitor/test_repair.py, written into the bucket through its filesystem: the
plan names the repair and the version it goes back to, a preview changes nothing, the repair brings
back exactly the rows of the last good version, keeps the damaged files aside in the bucket, and writes
resume on it.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.fs as pafs
import pytest
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.errors import CorruptTable
from marketlake.storage import DeltaStore
from tests.janitor.conftest import small_bars
from tests.objectstore.conftest import HAVE_MOTO

pytestmark = pytest.mark.skipif(not HAVE_MOTO, reason='moto server not installed: pip install "moto[server]"')
T = "stocks_daily_clean"


@pytest.fixture(scope="module")
def parts() -> list[pa.Table]:
    bars = small_bars(T, stocks=3, crypto=0, days=60)
    return [bars.filter(pa.compute.equal(bars.column("symbol"), s)) for s in sorted(set(bars["symbol"].to_pylist()))]


def _plan(root: str) -> str:
    out = CliRunner().invoke(app, ["janitor", "plan", "--json", "-w", root])
    assert out.exit_code == 0, (out.output, out.exception)
    return "\n".join(f"{e['name']}: {e['reason']}" for e in json.loads(out.output) if e["action"] == "repair")


def _apply(root: str) -> None:
    out = CliRunner().invoke(app, ["janitor", "apply", "--yes", "-w", root])
    assert out.exit_code == 0, (out.output, out.exception)


def _overwrite(store: DeltaStore, path: str, data: bytes) -> None:
    with store.filesystem.open_output_stream(path) as f:
        f.write(data)


def test_damaged_latest_commit_on_s3_goes_back_to_the_previous_version(s3_root: str, parts: list[pa.Table]) -> None:
    store = DeltaStore(s3_root)
    first, second, third = parts
    store.write_bars(T, first)
    good = store.write_bars(T, second).version
    good_rows = store.read(T)
    store.write_bars(T, third)
    commit = f"{store.table_root(T)}/_delta_log/{good + 1:020d}.json"
    with store.filesystem.open_input_stream(commit) as f:
        text = f.read()
    _overwrite(store, commit, text[: len(text) // 2] + b"\x00garbled")  # a torn upload
    with pytest.raises(CorruptTable, match="janitor plan"):
        DeltaStore(s3_root).read(T)
    shown = _plan(s3_root)
    assert T in shown and f"back to version {good}" in shown and f"{good + 1:020d}.json" in shown, shown
    assert CliRunner().invoke(app, ["janitor", "apply", "-w", s3_root]).exit_code != 0  # preview only
    assert store.filesystem.get_file_info(commit).type == pafs.FileType.File
    _apply(s3_root)
    fresh = DeltaStore(s3_root)
    assert fresh.version(T) == good and fresh.read(T).equals(good_rows)
    aside = fresh.filesystem.get_file_info(pafs.FileSelector(fresh.table_root(f".marketlake-corrupt/{T}"),
                                                             recursive=True))
    assert [i.base_name for i in aside if i.type == pafs.FileType.File] == [f"{good + 1:020d}.json"]  # kept
    assert fresh.write_bars(T, third).inserted == third.num_rows  # writes resume on the good version
    assert _plan(s3_root) == ""


def test_damaged_data_file_on_s3_goes_back_to_a_version_without_it(s3_root: str, parts: list[pa.Table]) -> None:
    store = DeltaStore(s3_root)
    first, second, _ = parts
    store.write_bars(T, first)
    good_rows = store.read(T)
    before = set(store.active_files(T))
    store.write_bars(T, second)
    newest = store.fs_path(sorted(set(store.active_files(T)) - before)[0])
    with store.filesystem.open_input_stream(newest) as f:
        data = f.read()
    _overwrite(store, newest, data[: len(data) // 2])
    assert "restore version 1" in _plan(s3_root)
    _apply(s3_root)
    assert DeltaStore(s3_root).read(T).equals(good_rows)
