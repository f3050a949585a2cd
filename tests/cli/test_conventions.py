"""One vocabulary across commands: --version, --quiet/--verbose/--config everywhere, the warehouse from the
config file, --format/--output for rows, readable wide SQL results, progress lines when not a terminal."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console
from typer.main import get_command
from typer.testing import CliRunner

from marketlake import Warehouse
from marketlake.cli.main import app
from marketlake.cli.output import emit
from marketlake.cli.progress import Reporter
from marketlake.errors import ConfigError
from marketlake.schema import get_table
from marketlake.sources import get_source

runner = CliRunner()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("conv") / "wh"
    src = get_source("synthetic", now=datetime(2025, 1, 1, tzinfo=UTC), stocks=3, crypto=1, seed=5)
    bars = pd.concat([b.bars for b in src.fetch(None, get_table("stocks_daily_clean"), start="2024-06-01",
                                                   end="2024-12-31")], ignore_index=True)
    Warehouse(root).ingest(bars, table="stocks_daily_clean", source="synthetic")
    return root


def _leaf_commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = []
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out += _leaf_commands(cmd, (*prefix, name))
        else:
            out.append(((*prefix, name), cmd))
    return out


def test_version() -> None:
    done = runner.invoke(app, ["--version"])
    assert done.exit_code == 0 and re.fullmatch(r"marketlake \d+\.\d+\.\d+\n", done.output)


def test_every_command_takes_quiet_verbose_and_config() -> None:
    commands = _leaf_commands(get_command(app))
    assert len(commands) >= 12
    for path, cmd in commands:
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        missing = {"--quiet", "-q", "--verbose", "-v", "--config", "--help"} - opts - {"--help"}
        assert not missing, f"marketlake {' '.join(path)} lacks {sorted(missing)}"
        if any(p.name == "warehouse" for p in cmd.params):
            assert {"-w", "--warehouse"} <= opts, path


def test_warehouse_comes_from_the_config_file_unless_given(warehouse: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MARKETLAKE_WAREHOUSE", raising=False)
    cfg = tmp_path / "marketlake.toml"
    cfg.write_text(f'warehouse = "{warehouse}"\n')
    done = runner.invoke(app, ["tables", "--config", str(cfg), "--format", "json"])
    assert done.exit_code == 0, done.output
    assert [t["name"] for t in json.loads(done.stdout)][0] == "stocks_daily_clean"
    other = tmp_path / "elsewhere"
    done = runner.invoke(app, ["tables", "--config", str(cfg), "-w", str(other)])
    assert isinstance(done.exception, Exception) and "no warehouse at" in str(done.exception)
    monkeypatch.setenv("MARKETLAKE_WAREHOUSE", str(other))  # the environment beats the file
    done = runner.invoke(app, ["tables", "--config", str(cfg)])
    assert "no warehouse at" in str(done.exception)


def test_sql_formats_and_output_files(warehouse: Path, tmp_path: Path) -> None:
    query = "SELECT symbol, count(*) AS n FROM stocks_daily_clean GROUP BY symbol ORDER BY symbol"
    as_csv = runner.invoke(app, ["sql", query, "-w", str(warehouse), "--format", "csv"])
    assert as_csv.exit_code == 0 and as_csv.stdout.splitlines()[0] == '"symbol","n"'
    as_json = json.loads(runner.invoke(app, ["sql", query, "-w", str(warehouse), "-f", "json"]).stdout)
    assert [r["symbol"] for r in as_json] == sorted(r["symbol"] for r in as_json) and len(as_json) == 3
    target = tmp_path / "out" / "counts.parquet"
    done = runner.invoke(app, ["sql", query, "-w", str(warehouse), "-f", "parquet", "-o", str(target)])
    assert done.exit_code == 0 and pq.read_table(target).to_pylist() == as_json
    refused = runner.invoke(app, ["sql", query, "-w", str(warehouse), "-f", "parquet"])
    assert isinstance(refused.exception, ConfigError)


def test_wide_sql_results_stay_readable(warehouse: Path) -> None:
    done = runner.invoke(app, ["sql", "SELECT * FROM stocks_daily_clean ORDER BY datetime LIMIT 2", "-w",
                               str(warehouse)])
    assert done.exit_code == 0
    lines = done.stdout.splitlines()
    assert sum(line.startswith("-[ row ") for line in lines) == 2
    assert any(re.match(r"rsi_14 +\| ", line) for line in lines)  # one field per line, name and value
    assert "97 columns shown one per line" in done.stdout
    narrow = runner.invoke(app, ["sql", "SELECT symbol, close FROM stocks_daily_clean LIMIT 3", "-w",
                                 str(warehouse)])
    assert "-[ row" not in narrow.stdout and "close" in narrow.stdout.splitlines()[1]


def test_table_output_notes_truncation() -> None:
    buf = io.StringIO()
    emit(pa.table({"x": list(range(250))}), console=Console(file=buf, width=80))
    assert "250 rows (first 200 shown" in buf.getvalue()


def test_progress_lines_when_not_a_terminal() -> None:
    buf = io.StringIO()
    rep = Reporter(Console(file=buf, width=200), interactive=False, every_s=0.0)
    with rep.task("ingest csv", total=4, unit="symbols") as task:
        task.stage("validating")
        task.advance(1)
        task.advance(1)
        task.detail("hidden unless verbose")
    lines = buf.getvalue().splitlines()
    stamp = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z "
    assert all(re.match(stamp, line) for line in lines), lines
    assert any(re.search(r"ingest csv: 2/4 symbols \(50%\), [\d.,]+/s, ETA \S+, elapsed \S+ - validating", line)
               for line in lines), lines
    assert lines[-1].endswith("ingest csv: done, 2 symbols in 0s")
    assert "hidden" not in buf.getvalue()
    quiet = io.StringIO()
    with Reporter(Console(file=quiet), quiet=True, interactive=False).task("x", total=1) as task:
        task.advance()
    assert quiet.getvalue() == ""


def test_config_show_names_every_origin_and_masks_secrets(tmp_path: Path, monkeypatch) -> None:
    cfg = tmp_path / "marketlake.toml"
    cfg.write_text('warehouse = "/data/wh"\n[twelvedata]\napi_key = "td-sekrit-123"\nplan = "grow"\n')
    monkeypatch.setenv("MARKETLAKE_LOCK_WAIT", "7")
    monkeypatch.delenv("MARKETLAKE_WAREHOUSE", raising=False)
    monkeypatch.delenv("TWELVEDATA_API_KEY", raising=False)
    done = runner.invoke(app, ["config", "show", "--config", str(cfg), "--format", "json"])
    assert done.exit_code == 0, done.output
    rows = {r["setting"]: r for r in json.loads(done.stdout)}
    assert rows["warehouse"] == {"setting": "warehouse", "value": "/data/wh", "from": f"file {cfg.resolve()}"}
    assert rows["twelvedata.plan"]["value"] == "grow"
    assert rows["lock_wait_seconds"]["value"] == "7.0" and rows["lock_wait_seconds"]["from"] == "env MARKETLAKE_LOCK_WAIT"
    assert rows["twelvedata.base_url"]["from"] == "default"
    assert rows["twelvedata.api_key"]["value"] == "**** (13 characters)"
    table = runner.invoke(app, ["config", "show", "--config", str(cfg)])
    assert "sekrit" not in done.output + table.output and "**** (13 characters)" in table.output


def test_row_commands_share_format_and_output(warehouse: Path, tmp_path: Path) -> None:
    audit_json = runner.invoke(app, ["janitor", "audit", "-w", str(warehouse), "--json"])
    assert audit_json.exit_code == 0, audit_json.output
    records = json.loads(audit_json.stdout)
    as_csv = runner.invoke(app, ["janitor", "audit", "-w", str(warehouse), "--format", "csv"])
    lines = as_csv.stdout.splitlines()
    assert as_csv.exit_code == 0 and '"name"' in lines[0] and len(lines) == len(records) + 1
    assert json.loads(runner.invoke(app, ["janitor", "plan", "-w", str(warehouse), "-f", "json"]).stdout) == \
        json.loads(runner.invoke(app, ["janitor", "plan", "-w", str(warehouse), "--json"]).stdout)
    target = tmp_path / "retention.parquet"
    done = runner.invoke(app, ["retention", "-w", str(warehouse), "-f", "parquet", "-o", str(target)])
    assert done.exit_code == 0 and target.exists()
    listed = runner.invoke(app, ["symbols", "list", "-w", str(warehouse), "-s", "SPY", "-f", "json"])
    assert listed.exit_code == 0, listed.output
    assert [r["symbol"] for r in json.loads(listed.stdout)] == ["SPY"]
