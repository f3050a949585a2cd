"""Progress that suits where the output goes: a Rich bar on a terminal, timestamped lines elsewhere.

On a terminal a task shows a bar with counts, percentage, rate and ETA, and the pipeline's current stage.
When stderr is not a terminal (cron, pipes, CI logs) the same task prints plain lines,
`2026-12-01T09:40:12Z ingest csv: 120/500 symbols (24%), 12.3/s, ETA 31s - writing rows`, at its start, at
each new stage, at most every `every_s` seconds while it counts, at its end, and (a heartbeat) every
`heartbeat_s` seconds in which nothing else was printed, so a long step that reports nothing itself (a
30-second Delta write, a model fit) is never silent and a log stays short. `--quiet` prints nothing; `--verbose` adds the detail messages.
Progress goes to stderr so that rows printed on stdout (`--format csv`) stay clean.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Task:
    """One unit of long work: counts (`advance`, `update`) and stage messages (`stage`, `detail`)."""

    def __init__(self, reporter: Reporter, description: str, total: float | None, unit: str) -> None:
        self._reporter = reporter
        self.description = description
        self.total = total
        self.unit = unit
        self.completed = 0.0
        self.current_stage = ""
        self._started = time.monotonic()
        self._last_line = 0.0
        self._rich_id: TaskID | None = None

    # -- counting -------------------------------------------------------------------------------------
    def advance(self, amount: float = 1) -> None:
        self.update(completed=self.completed + amount)

    def update(self, *, completed: float | None = None, total: float | None = None) -> None:
        if completed is not None:
            self.completed = completed
        if total is not None:
            self.total = total
        self._reporter._changed(self, stage_changed=False)

    # -- messages -------------------------------------------------------------------------------------
    def stage(self, message: str) -> None:
        """What the work is doing now ("validating", "writing 1,234 rows"): the pipeline's `progress`."""
        if message == self.current_stage:
            return
        self.current_stage = message
        self._reporter._changed(self, stage_changed=True)

    def log(self, message: str) -> None:
        """A stage worth keeping ("loaded 5,000 bars of 3 symbols"): on a terminal it is also printed above
        the bar, which forgets its stages; in line mode the stage line already keeps it."""
        if self._reporter.interactive and not self._reporter.quiet:
            self._reporter.console.print(f"[dim]{message}[/dim]", highlight=False)
        self.stage(message)

    def detail(self, message: str) -> None:
        """A message shown only with `--verbose`."""
        self._reporter.detail(message)

    # -- text -----------------------------------------------------------------------------------------
    def line(self) -> str:
        """The plain-text status: counts, percentage, rate, ETA and the stage."""
        elapsed = time.monotonic() - self._started
        parts = [f"{self.description}:"]
        if self.total:
            pct = 100.0 * self.completed / self.total if self.total else 0.0
            parts.append(f"{self.completed:,.0f}/{self.total:,.0f} {self.unit} ({pct:.0f}%)")
        elif self.completed:
            parts.append(f"{self.completed:,.0f} {self.unit}")
        if self.completed and elapsed > 0:
            rate = self.completed / elapsed
            # slow units (tables, folds) read better as time per item than as "0.0/s"
            parts.append(f"{rate:,.1f}/s" if rate >= 1 else f"{_duration(1 / rate)} per {self.unit.removesuffix('s')}")
            if self.total and rate > 0 and self.completed < self.total:
                parts.append(f"ETA {_duration((self.total - self.completed) / rate)}")
        parts.append(f"elapsed {_duration(elapsed)}")
        text = ", ".join(parts[1:])
        line = f"{parts[0]} {text}" if text else parts[0]
        return f"{line} - {self.current_stage}" if self.current_stage else line

    def __enter__(self) -> Task:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._reporter._finish(self, failed=exc is not None)


class Reporter:
    """Progress for one command run; see the module docstring.

    Args:
        console: a Console on stderr.
        quiet: print nothing at all.
        verbose: also print `detail` messages.
        interactive: force the terminal (True) or line (False) mode; None asks the console.
        every_s: the shortest interval between two count lines in line mode.
        heartbeat_s: in line mode, a status line after this many seconds without any line (0: never).
    """

    def __init__(self, console: Console, *, quiet: bool = False, verbose: bool = False,
                 interactive: bool | None = None, every_s: float = 5.0, heartbeat_s: float = 10.0) -> None:
        self.console = console
        self.quiet = quiet
        self.verbose = verbose
        self.interactive = console.is_terminal if interactive is None else interactive
        self.every_s = every_s
        self.heartbeat_s = heartbeat_s
        self._bar: Progress | None = None
        self._open = 0
        self._tasks: list[Task] = []
        self._last_print = time.monotonic()
        self._stop: threading.Event | None = None

    @contextmanager
    def task(self, description: str, *, total: float | None = None, unit: str = "items") -> Iterator[Task]:
        """A task for the block; counts and stages shown as they change, a final line when it ends."""
        task = Task(self, description, total, unit)
        if not self.quiet and self.interactive:
            if self._bar is None:
                self._bar = Progress(
                    SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TaskProgressColumn(), _RateColumn(), TimeRemainingColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[stage]}"), console=self.console, transient=True,
                )
                self._bar.start()
            task._rich_id = self._bar.add_task(description, total=total, stage="")
        elif not self.quiet:
            self._print(f"{description}: started")
            self._start_heartbeat()
        self._open += 1
        self._tasks.append(task)
        with task:
            yield task

    def detail(self, message: str) -> None:
        if self.verbose and not self.quiet:
            self._print(message)

    def say(self, message: str) -> None:
        """A one-off line (not tied to a task), unless quiet."""
        if not self.quiet:
            self._print(message)

    # -- internals ------------------------------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        """Line mode: a daemon thread prints the innermost task's status when the log has been quiet."""
        if self.heartbeat_s <= 0 or self._stop is not None:
            return
        stop = self._stop = threading.Event()

        def beat() -> None:
            while not stop.wait(min(1.0, self.heartbeat_s)):
                task = self._tasks[-1] if self._tasks else None
                if task is not None and time.monotonic() - self._last_print >= self.heartbeat_s:
                    task._last_line = time.monotonic()
                    self._print(task.line())

        threading.Thread(target=beat, name="marketlake-progress-heartbeat", daemon=True).start()

    def _print(self, message: str) -> None:
        self._last_print = time.monotonic()
        if self.interactive:
            self.console.print(message, highlight=False)
        else:
            self.console.print(f"{_stamp()} {message}", highlight=False, soft_wrap=True)

    def _changed(self, task: Task, *, stage_changed: bool) -> None:
        if self.quiet:
            return
        if self._bar is not None and task._rich_id is not None:
            self._bar.update(task._rich_id, completed=task.completed, total=task.total, stage=task.current_stage)
            return
        now = time.monotonic()
        if stage_changed or now - task._last_line >= self.every_s:
            task._last_line = now
            self._print(task.line())

    def _finish(self, task: Task, *, failed: bool) -> None:
        self._open -= 1
        if task in self._tasks:
            self._tasks.remove(task)
        if not self._tasks and self._stop is not None:
            self._stop.set()  # before the final line: no heartbeat after "done"
            self._stop = None
        if self._bar is not None and task._rich_id is not None:
            self._bar.remove_task(task._rich_id)
            if self._open == 0:
                self._bar.stop()
                self._bar = None
        if not self.quiet and not failed:
            elapsed = _duration(time.monotonic() - task._started)
            counted = f"{task.completed:,.0f} {task.unit} " if task.completed else ""
            self._print(f"{task.description}: done, {counted}in {elapsed}")


class _RateColumn(TransferSpeedColumn):
    """Items per second (Rich's speed column speaks bytes)."""

    def render(self, task):  # type: ignore[no-untyped-def]
        from rich.text import Text

        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.1f}/s", style="progress.data.speed")


__all__ = ["Reporter", "Task"]
