"""Retention: whole expired partitions only, dry-run by default, one commit, logged."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.errors import ConfigError
from marketlake.janitor import apply_retention, retention_days, retention_plan
from marketlake.janitor.retention import expired_partitions
from marketlake.schema import get_table
from marketlake.storage import DeltaStore
from tests.janitor.conftest import DAYS, END, small_bars

NOW = datetime(2024, 7, 1, tzinfo=UTC)


def test_expired_partitions_pure() -> None:
    spec = get_table("stocks_1min_clean")
    parts = {"2023-12-31": (1, 1), "2024-01-01": (2, 2), "2024-01-02": (3, 3)}
    got = expired_partitions(parts, spec, days=182, now=datetime(2024, 7, 2, tzinfo=UTC))
    # cutoff 2024-01-02 00:00: 2024-01-01 ends exactly at the cutoff -> dropped; 2024-01-02 kept
    assert [e.partition for e in got] == ["2023-12-31", "2024-01-01"]
    assert expired_partitions(parts, get_table("stocks_daily_clean"), days=None, now=NOW) == []


def test_minute_retention_bounds() -> None:
    spec = get_table("stocks_1min_clean")
    assert retention_days(spec) == 183
    assert retention_days(spec, {"stocks_1min_clean": 90}) == 90
    with pytest.raises(ConfigError):
        retention_days(spec, {"stocks_1min_clean": 30})


def test_retention_drops_whole_hourly_partitions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = DeltaStore(tmp_path / "wh")
    bars = small_bars("stocks_hourly_clean", stocks=2, crypto=0, days=DAYS, end=END)
    store.write_bars("stocks_hourly_clean", bars)
    plan = retention_plan(store, now=NOW)
    cutoff = datetime(2022, 7, 2, tzinfo=UTC)
    assert plan and all(e.partition < "2022-07-02" for e in plan)
    assert store.read("stocks_hourly_clean").num_rows == bars.num_rows  # dry run changed nothing
    runner = CliRunner()
    res = runner.invoke(app, ["retention", "-w", store.root, "--now", NOW.isoformat()])
    assert res.exit_code == 0 and store.read("stocks_hourly_clean").num_rows == bars.num_rows
    version = store.version("stocks_hourly_clean")
    apply_retention(store, now=NOW)
    assert store.version("stocks_hourly_clean") == version + 1
    left = store.read("stocks_hourly_clean", columns=["datetime"]).column("datetime")
    assert pc.min(left).as_py() >= cutoff
    kept = pc.sum(pc.greater_equal(bars.column("datetime"), cutoff)).as_py()
    assert len(left) == kept
    assert retention_plan(store, now=NOW) == []
    assert any(r["action"] == "retention" for r in store.read_support("janitor_log").to_pylist())


def test_retention_previews_then_applies_with_yes_for_the_chosen_tables(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = DeltaStore(tmp_path / "wh")
    store.write_bars("stocks_hourly_clean", small_bars("stocks_hourly_clean", stocks=2, crypto=0, days=DAYS, end=END))
    store.write_bars("crypto_hourly_clean", small_bars("crypto_hourly_clean", stocks=0, crypto=2, days=DAYS, end=END))
    versions = {t: store.version(t) for t in ("stocks_hourly_clean", "crypto_hourly_clean")}
    runner = CliRunner()
    preview = runner.invoke(app, ["retention", "-w", store.root, "--now", NOW.isoformat()])
    assert preview.exit_code == 0 and "re-run with --yes to apply" in preview.output
    assert {t: store.version(t) for t in versions} == versions
    done = runner.invoke(app, ["retention", "-w", store.root, "--now", NOW.isoformat(), "-t", "crypto_hourly_clean",
                               "--yes"])
    assert done.exit_code == 0, done.output
    assert store.version("crypto_hourly_clean") == versions["crypto_hourly_clean"] + 1
    assert store.version("stocks_hourly_clean") == versions["stocks_hourly_clean"]  # not chosen: untouched
    assert retention_plan(store, now=NOW, tables=["crypto_hourly_clean"]) == []
    assert retention_plan(store, now=NOW, tables=["stocks_hourly_clean"])
    bad = runner.invoke(app, ["retention", "-w", store.root, "-t", "stocks_weekly_clean"])
    assert bad.exit_code != 0


def test_retention_reads_no_data_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Bounded memory whatever the table's size: dropping partitions is a log-only commit. Every data file
    is garbled before the drop (any read of one would fail) and restored after it: the kept rows are the
    ones written, from the same files."""
    from pathlib import Path

    store = DeltaStore(tmp_path / "wh")
    table = "stocks_hourly_clean"
    bars = small_bars(table, stocks=2, crypto=0, days=DAYS, end=END)
    store.write_bars(table, bars)
    before = store.file_index(table)
    root = Path(store.path(table))
    saved = {p: (root / p).read_bytes() for p in before.paths}
    for p in before.paths:
        (root / p).write_bytes(b"not parquet " * 8)
    dropped = apply_retention(store, now=NOW, tables=[table])
    assert dropped
    after = store.file_index(table)
    gone = {e.partition for e in dropped}
    assert set(after.paths) == {p for p, part in zip(before.paths, before.partitions) if part not in gone}
    for p in after.paths:
        (root / p).write_bytes(saved[p])
    kept = pc.sum(pc.greater_equal(bars.column("datetime"), datetime(2022, 7, 2, tzinfo=UTC))).as_py()
    assert store.read(table, columns=["datetime"]).num_rows == kept
