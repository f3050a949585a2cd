"""`--memory-budget` on the ingest commands and `memory_budget` in the config: a clean error on nonsense,
and a budget smaller than the load sends it through symbol groups (same table either way)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.errors import ConfigError
from marketlake.storage import DeltaStore

runner = CliRunner()
ARGS = ["ingest", "synthetic", "-t", "stocks_daily_clean", "--stocks", "5", "--crypto", "0",
        "--start", "2024-01-01", "--end", "2024-03-01"]


def test_a_bad_memory_budget_is_a_clean_error(tmp_path: Path) -> None:
    done = runner.invoke(app, [*ARGS, "-w", str(tmp_path), "--memory-budget", "lots"])
    assert isinstance(done.exception, ConfigError)  # main() prints it as one `error:` line, exit status 2
    assert "memory budget 'lots' is not a size" in str(done.exception)
    cfg = tmp_path / "marketlake.toml"
    cfg.write_text('memory_budget = "-3"\n')
    done = runner.invoke(app, [*ARGS, "-w", str(tmp_path), "--config", str(cfg)])
    assert isinstance(done.exception, ConfigError) and "memory budget '-3'" in str(done.exception)
    assert not DeltaStore(tmp_path).exists("stocks_daily_clean")  # refused before anything was written


def test_a_tiny_budget_loads_the_same_table_in_groups(tmp_path: Path) -> None:
    plain, grouped = tmp_path / "plain", tmp_path / "grouped"
    assert runner.invoke(app, [*ARGS, "-w", str(plain)]).exit_code == 0
    cfg = tmp_path / "marketlake.toml"
    cfg.write_text('memory_budget = "1"\n')  # below one symbol: a group per symbol
    done = runner.invoke(app, [*ARGS, "-w", str(grouped), "--config", str(cfg)])
    assert done.exit_code == 0, done.output
    a = DeltaStore(plain).read("stocks_daily_clean").to_pandas().drop(columns="updated_at")
    b = DeltaStore(grouped).read("stocks_daily_clean").to_pandas().drop(columns="updated_at")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert len(DeltaStore(grouped).file_index("stocks_daily_clean").paths) > \
        len(DeltaStore(plain).file_index("stocks_daily_clean").paths)  # one file per group and month
