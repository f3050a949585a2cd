"""Long commands are never silent: timestamped progress lines on stderr when not a terminal (CliRunner and
a real piped subprocess), results alone on stdout, and a fixed-width console (COLUMNS=80) that every
listing fits."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.cli.progress import Reporter
from marketlake.storage import DeltaStore
from tests.conftest import PROJECT_ROOT, SHARED_DATA
from tests.janitor.conftest import small_bars

runner = CliRunner()
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z ")
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _progress(stderr: str, name: str) -> list[str]:
    """The timestamped lines of task `name`, after checking it started and finished."""
    lines = [line for line in stderr.splitlines() if STAMP.match(line) and f" {name}: " in line]
    assert any(line.endswith(f"{name}: started") for line in lines), stderr
    assert re.search(rf"{re.escape(name)}: done, .*in \d+s$", lines[-1]), stderr
    return lines


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> DeltaStore:
    root = tmp_path_factory.mktemp("progress") / "wh"
    s = DeltaStore(root)
    s.write_bars("stocks_hourly_clean", small_bars("stocks_hourly_clean", stocks=1, crypto=0, days=120))
    s.write_bars("stocks_daily_clean", small_bars("stocks_daily_clean", stocks=3, crypto=0, days=300))
    return s


def test_a_silent_step_still_gets_heartbeat_lines() -> None:
    """A step that reports nothing (a long Delta write) prints the task's status every heartbeat_s."""
    buf = io.StringIO()
    rep = Reporter(Console(file=buf, width=200), interactive=False, every_s=3600, heartbeat_s=0.05)
    with rep.task("ingest csv", total=1, unit="tables") as task:
        task.stage("writing 605,969 candidate rows")
        deadline = time.monotonic() + 30
        while buf.getvalue().count("writing 605,969") < 3 and time.monotonic() < deadline:
            time.sleep(0.02)  # waits for the heartbeat, asserts no duration
    lines = buf.getvalue().splitlines()
    beats = [line for line in lines if re.search(r"ingest csv: 0/1 tables \(0%\), elapsed \S+ - writing 605,969", line)]
    assert len(beats) >= 3 and all(STAMP.match(line) for line in lines), lines
    assert "ingest csv: done" in lines[-1]
    deadline = time.monotonic() + 30
    while _beating() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _beating()  # the heartbeat ends with the task
    assert "ingest csv: done" in buf.getvalue().splitlines()[-1]  # and printed nothing after it


def _beating() -> bool:
    return any(t.name == "marketlake-progress-heartbeat" and t.is_alive() for t in threading.enumerate())


def test_applying_commands_report_progress_on_stderr(store: DeltaStore, tmp_path: Path) -> None:
    """retention --yes, janitor apply --yes, migrate --yes, dataset build, quality --fix --yes."""
    w = ["-w", store.root]
    runs = {
        "retention": ["retention", *w, "--now", NOW.isoformat(), "-t", "stocks_hourly_clean",
                      "--days", "stocks_hourly_clean=60", "--yes"],
        "janitor apply": ["janitor", "apply", *w, "--yes"],
        "migrate": ["migrate", *w, "-y"],
        "dataset build": ["dataset", "build", *w, "-t", "stocks_daily_clean", "--label", "fwd_return:5",
                          "--features", "close,rsi_14", "--splits", "none", "-o", str(tmp_path / "ds")],
        "quality": ["quality", *w, "-t", "stocks_daily_clean", "--yes", "--as-of", NOW.isoformat()],
    }
    for name, args in runs.items():
        done = runner.invoke(app, args)
        assert done.exit_code in (0, 1) and done.exception is None or isinstance(done.exception, SystemExit), \
            (name, done.output, done.exception)
        lines = _progress(done.stderr, name)
        assert not any(STAMP.match(line) for line in done.stdout.splitlines()), (name, done.stdout)
        if name == "retention":
            assert any("stocks_hourly_clean: dropping" in line for line in lines), lines
        if name == "dataset build":
            assert any("- reading stocks_daily_clean" in line for line in lines), lines
    quiet = runner.invoke(app, ["migrate", *w, "--yes", "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


@pytest.mark.skipif(not (SHARED_DATA / "ohlcv" / "spy_daily_2017_2018.csv").exists(), reason="shared data missing")
def test_a_piped_csv_import_prints_timestamped_progress(tmp_path: Path) -> None:
    """The S&P-import path in a real non-terminal process: stderr has progress lines, stdout the summary."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src"), "COLUMNS": "80"}
    env.pop("MARKETLAKE_WAREHOUSE", None)
    done = subprocess.run(
        [sys.executable, "-m", "marketlake.cli.main", "ingest", "csv",
         str(SHARED_DATA / "ohlcv" / "spy_daily_2017_2018.csv"), "--symbol", "SPY", "-t", "stocks_daily_clean",
         "-w", str(tmp_path / "wh")],
        capture_output=True, text=True, env=env, timeout=600, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("marketlake: ")]  # kernel warm-up
    assert lines and all(STAMP.match(line) for line in lines), done.stderr
    progress = _progress(done.stderr, "ingest csv")
    for stage in ("validating", "computing 97 fields", "writing"):
        assert any(stage in line for line in progress), (stage, progress)
    assert "Load summary" in done.stdout and not any(STAMP.match(line) for line in done.stdout.splitlines())
    assert max(len(line) for line in done.stdout.splitlines()) <= 80, done.stdout


def test_listings_fit_a_fixed_width_console(store: DeltaStore, tmp_path: Path) -> None:
    """COLUMNS=80: every table-format listing stays within 80 characters (wide SQL goes one field a line)."""
    w = ["-w", store.root]
    cfg = tmp_path / "marketlake.toml"
    cfg.write_text('[twelvedata]\napi_key = "td-sekrit-123"\n')
    commands = [["tables", *w], ["janitor", "audit", *w], ["janitor", "plan", *w], ["retention", *w],
                ["sql", "SELECT * FROM stocks_daily_clean ORDER BY datetime LIMIT 2", *w],
                ["sql", "SELECT symbol, count(*) AS n FROM stocks_daily_clean GROUP BY symbol", *w],
                ["config", "show", "--config", str(cfg)], ["schema"], ["capacity"],
                ["migrate", *w], ["quality", *w, "-t", "stocks_daily_clean", "--as-of", NOW.isoformat()]]
    for args in commands:
        done = runner.invoke(app, args, env={"COLUMNS": "80"})
        assert done.exception is None or isinstance(done.exception, SystemExit), (args, done.exception)
        widest = max(len(line) for line in done.stdout.splitlines())
        assert widest <= 80, (args, widest, done.stdout)
        assert "…" not in done.stdout, (args, done.stdout)  # nothing cut: a grid that does not fit goes vertical
    wide = runner.invoke(app, commands[4], env={"COLUMNS": "80"}).stdout
    assert "-[ row 1 ]" in wide and "97 columns shown one per line because they do not fit 80 characters" in wide
    narrow = runner.invoke(app, commands[5], env={"COLUMNS": "80"}).stdout
    assert "-[ row" not in narrow and "symbol" in narrow
    listing = runner.invoke(app, commands[0], env={"COLUMNS": "80"}).stdout
    assert "table      | stocks_hourly_clean" in listing and "do not fit 80 characters" in listing


def test_new_vocabulary_works_end_to_end(store: DeltaStore, tmp_path: Path) -> None:
    """quality -s and --format, actions list -s and --format, schema/capacity csv, dataset audit --sample."""
    import json

    import pyarrow.parquet as pq

    w = ["-w", store.root]
    base = ["quality", *w, "-t", "stocks_daily_clean", "--as-of", NOW.isoformat()]
    every = json.loads(runner.invoke(app, [*base, "-f", "json"]).stdout)
    symbols = sorted({i["symbol"] for i in every["issues"] if i["symbol"]})
    assert len(symbols) >= 2, every["issues"]  # stale by NOW: one issue per symbol at least
    one = json.loads(runner.invoke(app, [*base, "-s", symbols[0], "--json"]).stdout)
    assert one["issues"] and {i["symbol"] for i in one["issues"]} <= {symbols[0], None}
    assert [i for i in every["issues"] if i["symbol"] in (symbols[0], None)] == one["issues"]
    target = tmp_path / "issues.parquet"
    done = runner.invoke(app, [*base, "-s", symbols[0], "-f", "parquet", "-o", str(target)])
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert pq.read_table(target).column("symbol").to_pylist() == [i["symbol"] for i in one["issues"]]

    actions = tmp_path / "splits.csv"
    actions.write_text("symbol,kind,date,from_factor,to_factor,amount,currency\n"
                       f"{symbols[0]},split,2024-03-01,1,2,,\n{symbols[1]},split,2024-04-01,1,3,,\n")
    assert runner.invoke(app, ["actions", "load", str(actions), *w]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["actions", "list", *w, "-s", symbols[1], "-f", "json"]).stdout)
    assert [(a["symbol"], a["to_factor"]) for a in listed] == [(symbols[1], 3.0)]
    old_spelling = runner.invoke(app, ["actions", "list", *w, "--symbol", symbols[0], "-f", "csv"]).stdout
    assert old_spelling.splitlines()[0].startswith('"symbol","kind","date"') and len(old_spelling.splitlines()) == 2

    schema_csv = runner.invoke(app, ["schema", "-f", "csv"]).stdout.splitlines()
    assert len(schema_csv) == 98 and schema_csv[0].startswith('"position","name","group"')
    capacity = runner.invoke(app, ["capacity", "--plan", "grow", "-f", "csv"]).stdout.splitlines()
    assert capacity[0].startswith('"table","plan","symbols"') and len(capacity) == 7
