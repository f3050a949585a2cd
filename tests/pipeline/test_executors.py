"""Executors: Dask returns what the local executor returns, survives a lost worker, fails clearly."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from marketlake.errors import ConfigError
from marketlake.pipeline.executors import DaskExecutor, ExecutorError, LocalExecutor, make_executor

pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install 'marketlake[dask]')")


def _square_with_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _die_once(arg: tuple[str, int]) -> int:
    """Kills its worker process the first time it runs for item 3 (a lost worker, not an exception)."""
    marker, x = arg
    if x == 3 and not os.path.exists(marker):
        Path(marker).write_text("died")
        os._exit(1)
    return x + 100


def test_options_are_checked() -> None:
    assert isinstance(make_executor("local"), LocalExecutor)
    with pytest.raises(ConfigError, match="unknown executor"):
        make_executor("spark")
    with pytest.raises(ConfigError, match="need --executor dask"):
        make_executor("local", workers=2)
    with pytest.raises(ConfigError, match="at least 1"):
        make_executor("dask", workers=0)


def test_dask_results_equal_local_in_order_and_run_elsewhere(tmp_path: Path) -> None:
    items = list(range(20))
    local = [v for v, _ in LocalExecutor().map(_square_with_pid, items)]
    with DaskExecutor(workers=2, in_flight=3) as ex:
        remote = list(ex.map(_square_with_pid, items))
        assert [v for v, _ in remote] == local == [x * x for x in items]
        assert os.getpid() not in {pid for _, pid in remote}  # computed in worker processes
        marker = str(tmp_path / "died")
        assert list(ex.map(_die_once, [(marker, x) for x in range(6)])) == [x + 100 for x in range(6)]
        assert Path(marker).read_text() == "died"  # the worker really died once, and the task was retried


def test_unreachable_scheduler_is_one_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ex = DaskExecutor(scheduler=f"tcp://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(ExecutorError, match="could not reach the Dask scheduler"):
        list(ex.map(_square_with_pid, [1]))


def test_every_load_command_takes_the_executor_options(tmp_path: Path) -> None:
    """`ingest csv|parquet|<vendor>`, `sync` and `rebuild` accept --executor/--scheduler/--workers and check
    them before doing anything (an unknown executor is one clear error, not an unknown option)."""
    from typer.testing import CliRunner

    from marketlake.cli.main import app

    csv = tmp_path / "bars.csv"
    csv.write_text("symbol,datetime,open,high,low,close,volume\nAAPL,2024-01-02,1,2,0.5,1.5,100\n")
    conf = tmp_path / "ml.toml"
    conf.write_text("[coverage.crypto_daily_clean]\nsource = 'binance'\nuniverse = ['BTCUSDT']\n")
    wh = str(tmp_path / "wh")
    for args in (["ingest", "csv", str(csv), "-t", "stocks_daily_clean"], ["ingest", "parquet", str(csv), "-t",
                 "stocks_daily_clean"], ["ingest", "twelvedata", "-t", "stocks_daily_clean", "-s", "AAPL"],
                 ["ingest", "binance", "-t", "crypto_daily_clean", "-s", "BTCUSDT"], ["sync", "--config", str(conf)]):
        res = CliRunner().invoke(app, [*args, "-w", wh, "--executor", "spark"])
        assert isinstance(res.exception, ConfigError) and "unknown executor" in str(res.exception), (args, res.output)
        res = CliRunner().invoke(app, [*args, "-w", wh, "--workers", "2"])
        assert isinstance(res.exception, ConfigError) and "need --executor dask" in str(res.exception), args
    assert not (tmp_path / "wh" / "stocks_daily_clean").exists()  # refused before anything was written
