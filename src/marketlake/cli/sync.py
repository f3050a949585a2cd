"""`marketlake sync [--watch]`: keep every `[coverage.<table>]` current within the plan's credits."""

from __future__ import annotations

import os
import sys
import threading
from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption
from marketlake.cli.ingest import ExecutorOption, SchedulerOption, WorkersOption
from marketlake.errors import ConfigError

_CHILD = "MARKETLAKE_SYNC_WORKER"
"""Set in the worker process that `sync --watch` supervises (see pipeline.sync.engine.supervise)."""


def sync(
    watch: Annotated[bool, typer.Option("--watch", help="Keep running: wake when the next refresh is due.")] = False,
    log_format: Annotated[str, typer.Option("--log-format", help="text or json (one object per action).")] = "text",
    stop_after: Annotated[str | None, typer.Option(
        "--stop-after", help="With --watch: stop after this much (clock) time, e.g. 30min, 8h.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Config file with [coverage.<table>] sections.")] = None,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    executor: ExecutorOption = "local",
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
) -> None:
    """Bring every covered table up to date: updates first, finer cadences first, within today's credits.

    Exits 0 when every due request was answered (also when no newer bar existed yet), 1 when some
    failed (they are asked again next time). Nothing due: no request is sent. `--executor dask`: the
    loads' compute and writes run on a Dask cluster; the vendors are asked from here, within one budget.
    """
    from marketlake.cli.common import configure_lock
    from marketlake.config import load_config
    from marketlake.coverage.plan import parse_duration
    from marketlake.pipeline.sync.clock import clock_from_env
    from marketlake.pipeline.sync.engine import EventLog, PassResult, Syncer, run_stoppable
    from marketlake.storage import DeltaStore

    if log_format not in ("text", "json"):
        raise ConfigError("--log-format must be text or json")
    cfg = load_config(config) if config else load_config()
    configure_lock(cfg)
    if not cfg.coverage:
        raise ConfigError("no [coverage.<table>] section in the configuration; `marketlake init --preset hybrid` "
                          "writes a commented example")
    from marketlake.coverage.plan import covered_tables

    covered_tables(cfg)  # a bad section is reported here, once, before any worker starts
    limit = parse_duration(stop_after, what="--stop-after") if stop_after else None
    from marketlake.pipeline.executors import make_executor

    runner = make_executor(executor, scheduler=scheduler, workers=workers)  # checked here; connects when used
    if watch and not os.environ.get(_CHILD):
        from marketlake.pipeline.sync.engine import supervise

        raise typer.Exit(supervise([sys.executable, "-m", "marketlake.cli.main", *sys.argv[1:]], env_flag=_CHILD))
    stop = threading.Event()
    syncer = Syncer(DeltaStore(warehouse), cfg, clock=clock_from_env(), mode="watch" if watch else "once",
                    log=EventLog(log_format), stop=stop, executor=runner)
    passes: list[PassResult] = []
    with closing(runner):
        if watch:
            raise typer.Exit(run_stoppable(lambda: syncer.watch(stop_after=limit), stop))

        def once() -> int:
            passes.append(syncer.run_pass())
            return 0

        run_stoppable(once, stop)
    if not passes:
        return
    result = passes[0]
    now = syncer.clock.now()
    for d in result.deferred:
        typer.echo(f"not done: {d.describe(now)}")
    if result.failed:
        typer.echo(f"sync: {len(result.failed)} actions failed (see above); they are retried on the next sync", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)
