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


def test_csv_and_parquet_imports_of_a_big_file_stream_through_groups(tmp_path: Path) -> None:
    """A file bigger than the budget's group: read in chunks (many batches) and loaded in symbol groups,
    the same table as a one-shot load."""
    from marketlake.pipeline import ingest_source
    from marketlake.pipeline.memory_budget import BASE_BYTES, BYTES_PER_ROW
    from marketlake.sources.files.csv_source import CsvSource
    from marketlake.sources.files.parquet_source import ParquetSource

    src = DeltaStore(tmp_path / "src")
    assert runner.invoke(app, [*ARGS, "-w", str(src.root)]).exit_code == 0
    bars = src.read("stocks_daily_clean", columns=["symbol", "datetime", "open", "high", "low", "close", "volume"])
    frame = bars.to_pandas()
    frame.to_csv(tmp_path / "big.csv", index=False)
    frame.to_parquet(tmp_path / "big.parquet", index=False, row_group_size=40)
    seen: dict[str, int] = {}
    for kind, source in (("csv", CsvSource(path=tmp_path / "big.csv", chunk_rows=40)),
                         ("parquet", ParquetSource(path=tmp_path / "big.parquet", chunk_rows=40))):
        plain, grouped = DeltaStore(tmp_path / f"{kind}-plain"), DeltaStore(tmp_path / f"{kind}-grouped")
        (one,) = ingest_source(plain, source, ["stocks_daily_clean"])
        (many,) = ingest_source(grouped, source, ["stocks_daily_clean"], memory_budget=BASE_BYTES + 60 * BYTES_PER_ROW,
                                on_batch=lambda _t, i, _n, k=kind: seen.__setitem__(k, i))
        assert "groups" not in one.timings and many.timings["groups"] >= len(set(frame["symbol"]))
        assert seen[kind] >= len(frame) // 40  # streamed: one batch per chunk of the file
        a = plain.read("stocks_daily_clean").to_pandas().drop(columns="updated_at")
        b = grouped.read("stocks_daily_clean").to_pandas().drop(columns="updated_at")
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_synthetic_iso_timestamps_add_one_bar_per_symbol(tmp_path: Path) -> None:
    base = ["ingest", "synthetic", "-t", "crypto_1min_clean", "--stocks", "0", "--crypto", "3", "-w", str(tmp_path)]
    assert runner.invoke(app, [*base, "--start", "2024-05-01T10:00", "--end", "2024-05-01T10:09"]).exit_code == 0
    store = DeltaStore(tmp_path)
    before = store.read("crypto_1min_clean", columns=["symbol", "datetime"]).num_rows
    done = runner.invoke(app, [*base, "--start", "2024-05-01T10:10", "--end", "2024-05-01T10:10"])
    assert done.exit_code == 0, done.output
    rows = store.read("crypto_1min_clean", columns=["symbol", "datetime"]).to_pandas()
    assert before == 30 and len(rows) == 33
    last = rows[rows["datetime"] == rows["datetime"].max()]
    assert len(last) == 3 and str(last["datetime"].iloc[0]) == "2024-05-01 10:10:00+00:00"
