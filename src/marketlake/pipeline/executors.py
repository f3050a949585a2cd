"""Where group tasks run: in this process, or as tasks on a Dask cluster.

A load, rebuild or refresh is planned as independent symbol-group tasks (read, validate, compute the 97
fields, write Parquet data files to the table's storage) whose results are small: the file actions and
counts. The driver gathers those and makes the one Delta commit, so an executor never commits and a
task that dies leaves only uncommitted files behind (orphans the janitor removes). Vendor fetching stays
on the driver under the one credit budget: executors only ever see stored or already-fetched bars.

`LocalExecutor` runs the tasks one after the other (bounded memory: one group at a time). `DaskExecutor`
submits them to a Dask distributed scheduler (an existing one by address, or a local cluster of N worker
processes) with retries, so a worker lost mid-run costs a re-run of its tasks, not the load.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from marketlake.errors import ConfigError, MarketlakeError

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("local", "dask")
TASK_RETRIES = 3
"""Attempts after the first for a task whose worker died or raised: a lost worker is routine on a cluster."""


class ExecutorError(MarketlakeError):
    """A group task failed on every attempt, or the cluster could not be reached."""


class Executor(Protocol):
    """Maps a task over groups; results come back in the order of the groups."""

    name: str

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]: ...

    def close(self) -> None: ...


@dataclass
class LocalExecutor:
    """One group at a time in this process: the default, and the reference the Dask results must equal."""

    name: str = "local"

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        for item in items:
            yield fn(item)

    def close(self) -> None:
        return None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class DaskExecutor:
    """Tasks on a Dask distributed cluster: `scheduler` (an address such as tcp://host:8786) or a local
    cluster of `workers` processes (one thread each: the feature kernels use the cores themselves).

    At most `in_flight` tasks are submitted ahead of the results consumed, so the driver never holds
    more than that many groups' results (file actions are small, but a caller may return rows).
    """

    scheduler: str | None = None
    workers: int | None = None
    in_flight: int = 8
    timeout_s: float = 60.0
    name: str = "dask"
    _client: Any = field(default=None, init=False, repr=False)
    _cluster: Any = field(default=None, init=False, repr=False)

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(
                "--executor dask needs Dask distributed: pip install 'marketlake[dask]' (or marketlake[all])"
            ) from None
        try:
            if self.scheduler:
                self._client = Client(self.scheduler, timeout=self.timeout_s)
            else:
                n = self.workers or max(1, (os.cpu_count() or 2))
                self._cluster = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                    silence_logs=40,  # logging.ERROR: worker chatter is not the user's business
                )
                self._client = Client(self._cluster, timeout=self.timeout_s)
        except OSError as exc:  # unreachable scheduler, refused connection, timeout
            self.close()
            where = self.scheduler or "a local cluster"
            raise ExecutorError(f"could not reach the Dask scheduler at {where}: {exc}") from None
        return self._client

    def warm_up(self) -> None:
        """Import marketlake and load the compiled feature kernels on every worker now, not inside the first
        group task (a new worker process pays a few seconds for it once)."""
        from marketlake.features.warmup import warm_up

        self._connect().run(warm_up)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        client = self._connect()
        pending: list[Any] = []
        for item in items:
            pending.append(client.submit(fn, item, retries=TASK_RETRIES, pure=False))
            if len(pending) >= self.in_flight:
                yield self._result(pending.pop(0))
        while pending:
            yield self._result(pending.pop(0))

    def _result(self, future: Any) -> Any:
        try:
            return future.result()
        except MarketlakeError:
            raise
        except Exception as exc:  # noqa: BLE001 - a worker's exception or its death, after every retry
            raise ExecutorError(f"a group task failed on every attempt: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(kind: str = "local", *, scheduler: str | None = None, workers: int | None = None) -> Executor:
    """The executor a command line asks for (`--executor dask --scheduler ADDRESS | --workers N`)."""
    if kind == "local":
        if scheduler or workers:
            raise ConfigError("--scheduler and --workers need --executor dask")
        return LocalExecutor()
    if kind == "dask":
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        return DaskExecutor(scheduler=scheduler, workers=workers)
    raise ConfigError(f"unknown executor {kind!r}: choose one of {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "DaskExecutor", "Executor", "ExecutorError", "LocalExecutor", "make_executor"]
