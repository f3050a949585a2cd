"""`Warehouse.sql(..., safe=True)` and `marketlake sql --safe`: the warehouse's views and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
import typer
from storage_synth import synthetic_bars
from typer.testing import CliRunner

from marketlake.cli import sql as sql_cmd
from marketlake.cli import tables as tables_cmd
from marketlake.errors import StorageError
from marketlake.warehouse import Warehouse

T = "stocks_daily_clean"


def escapes(tmp_path: Path, wh_root: str) -> list[str]:
    """Queries that reach outside the views: files, writes, other databases, extensions, network, config."""
    some_data_file = next(Path(wh_root, T).rglob("*.parquet"))
    return [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM '/etc/passwd'",
        f"COPY (SELECT 1 AS x) TO '{tmp_path / 'out.csv'}'",
        f"COPY {T} TO '{tmp_path / 'dump.parquet'}' (FORMAT parquet)",
        f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SELECT * FROM read_parquet('https://127.0.0.1:9/x.parquet')",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SET allowed_directories = ['/']",
        f"SELECT * FROM glob('{tmp_path}/*')",
        # a data file of the warehouse by path: the views are the interface, and a write must not go there
        f"COPY (SELECT 1 AS x) TO '{some_data_file}'",
    ]


def test_safe_mode_rejects_every_escape_but_views_query(store, tmp_path: Path) -> None:
    store.write_bars(T, synthetic_bars(["AAA", "BBB"], periods=20))
    wh = Warehouse(store.root)
    before = {p: p.stat().st_mtime_ns for p in Path(store.root).rglob("*") if p.is_file()}
    for query in escapes(tmp_path, store.root):
        with pytest.raises(StorageError, match="safe mode"):
            wh.sql(query, safe=True)
        # the next safe query still works and is still locked (a failed query leaves no opening)
        assert wh.sql(f"SELECT count(*) AS n FROM {T}", safe=True, as_="arrow")["n"].to_pylist() == [40]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wh"]  # nothing written outside
    after = {p: p.stat().st_mtime_ns for p in Path(store.root).rglob("*") if p.is_file()}
    assert after == before
    # support tables and empty tables are views too
    assert wh.sql("SELECT count(*) AS n FROM crypto_hourly_clean", safe=True)["n"].iloc[0] == 0
    store.upsert_support("ingest_state", pa.table({"table": [T], "symbol": ["AAA"], "status": ["ok"]}),
                         keys=["table", "symbol"])
    assert wh.sql("SELECT status FROM ingest_state", safe=True)["status"].tolist() == ["ok"]
    # the default stays full DuckDB for the owner's own queries
    wh.sql(f"COPY (SELECT 1 AS x) TO '{tmp_path / 'owner.csv'}'")
    assert (tmp_path / "owner.csv").is_file()


def test_safe_mode_sees_new_commits(store) -> None:
    wh = Warehouse(store.root)
    store.write_bars(T, synthetic_bars(["AAA"], periods=10))
    assert wh.sql(f"SELECT count(*) AS n FROM {T}", safe=True)["n"].iloc[0] == 10
    store.write_bars(T, synthetic_bars(["BBB"], periods=10))
    assert wh.sql(f"SELECT count(*) AS n FROM {T}", safe=True)["n"].iloc[0] == 20


def test_cli_safe_flag(store, tmp_path: Path) -> None:
    store.write_bars(T, synthetic_bars(["AAA"], periods=5))
    app = typer.Typer()
    sql_cmd.register(app)
    tables_cmd.register(app)  # two commands, so `sql` is a subcommand as in the real app
    runner = CliRunner()
    ok = runner.invoke(app, ["sql", f"SELECT count(*) AS n FROM {T}", "-w", store.root, "--safe", "-f", "json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output) == [{"n": 5}]
    bad = runner.invoke(app, ["sql", "SELECT * FROM read_csv('/etc/passwd')", "-w", store.root, "--safe"])
    assert bad.exit_code != 0 and isinstance(bad.exception, StorageError)
    assert "root:" not in bad.output
