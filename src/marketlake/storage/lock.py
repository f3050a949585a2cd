"""The warehouse writer lock: one writing process at a time, so two loads never interleave commits.

`fcntl.flock` locks belong to an open file description, so a second `open()` + `flock()` in the same
process would block on itself. The lock is therefore re-entrant per process and per lock file, tracked
in `_HELD` (the one piece of process state here: it mirrors what the kernel already holds for us).
Threads of one process share it on purpose: a read-ahead worker records credits while the main thread
holds the lock for the load.

Every wait has a deadline, the same everywhere (`default_wait`: `MARKETLAKE_LOCK_WAIT`, else what the
CLI configured from `lock_wait_seconds`, else `DEFAULT_WAIT_S`), and while waiting a callback is told who
holds the lock: the lock file records the holder's pid, command line and start time (JSON, one line).

Dead holders: the kernel drops the lock when the process dies (also on `kill -9`), so a crash normally
leaves nothing to clean. A lock can still outlive its writer when a forked child inherited the
descriptor; when the recorded pid is dead (or reused by another process) for a grace period, the waiter
takes over by atomically replacing the lock file with a new, already locked one. Every acquirer checks
after `flock` that its descriptor is still the file at the lock path, so a replaced file never grants
the lock twice; take-overs are serialised by a second, never replaced guard file.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from marketlake.errors import ConfigError, WarehouseLocked

LOCK_NAME = ".marketlake.lock"
GUARD_SUFFIX = ".takeover"
ENV_WAIT = "MARKETLAKE_LOCK_WAIT"
DEFAULT_WAIT_S = 600.0
"""Ten minutes: longer than a typical incremental load or janitor run, short enough that a stuck
writer is reported the same morning rather than hanging a cron job for good."""
NOTE_EVERY_S = 15.0
TAKEOVER_GRACE_S = 0.5
_POLL_S = 0.05
_GUARD = threading.RLock()
_HELD: dict[str, list[int]] = {}  # lock path -> [fd, depth]
_SETTINGS: dict[str, object] = {"wait": None, "notify": None}
_SECRET_OPT = re.compile(r"(?i)(--?[\w-]*(?:key|token|secret|password)[\w-]*)(=\S+|\s+\S+)")

Notify = Callable[[str], None]


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) the lock, as recorded in the lock file."""

    pid: int | None
    command: str = "unknown command"
    since: str = "unknown time"
    host: str | None = None
    start_ticks: int | None = None

    def describe(self) -> str:
        if self.pid is None:
            return "an unknown process"
        where = f" on {self.host}" if self.host and self.host != socket.gethostname() else ""
        return f"pid {self.pid}{where} ({self.command}) since {self.since}"

    def dead(self) -> bool:
        """True only when the recorded process is certainly gone (or its pid now names another one)."""
        if self.pid is None or (self.host and self.host != socket.gethostname()):
            return False
        ticks = _start_ticks(self.pid)
        if ticks is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
        return self.start_ticks is not None and ticks != self.start_ticks


def configure(*, wait_seconds: float | None = None, notify: Notify | None = None) -> None:
    """Process-wide defaults set by the CLI: the configured wait and where waiting messages go."""
    if wait_seconds is not None:
        _SETTINGS["wait"] = float(wait_seconds)
    if notify is not None:
        _SETTINGS["notify"] = notify


@contextmanager
def settings_scope() -> Iterator[None]:
    """Settings made inside the block (by `configure`) are undone when it ends.

    The CLI runs each command in one scope, so a command run in-process (tests, notebooks calling
    the Typer app) does not leave its config file's wait behind for the next one.
    """
    saved = dict(_SETTINGS)
    try:
        yield
    finally:
        _SETTINGS.clear()
        _SETTINGS.update(saved)


def env_seconds(name: str, *, positive: bool = False, error: type[Exception] = ConfigError) -> float | None:
    """A number of seconds from environment variable `name` (None when unset or empty), checked:
    >= 0, or > 0 with `positive`; a bad value raises `error` naming the variable."""
    text = os.environ.get(name)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise error(f"{name}={text!r} is not a number of seconds") from None
    if value < 0 or (positive and value == 0):
        raise error(f"{name} must be {'>' if positive else '>='} 0 seconds, got {text!r}")
    return value


def default_wait() -> float:
    """Seconds a writer waits for the lock: `MARKETLAKE_LOCK_WAIT`, the configured value, or 600."""
    value = env_seconds(ENV_WAIT)
    if value is not None:
        return value
    configured = _SETTINGS["wait"]
    return float(configured) if isinstance(configured, float) else DEFAULT_WAIT_S


def _start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks since boot (Linux /proc), None when unknown or gone.

    A zombie counts as gone: it holds no descriptor any more.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _command() -> str:
    text = " ".join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]])
    return _SECRET_OPT.sub(r"\1 ***", text)[:300]


def _record() -> bytes:
    pid = os.getpid()
    info = {"pid": pid, "command": _command(), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": socket.gethostname(), "start_ticks": _start_ticks(pid)}
    return (json.dumps(info) + "\n").encode()


def read_holder(fd: int) -> LockHolder | None:
    """The holder recorded in an open lock file; None when the file is empty (released cleanly)."""
    try:
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    except OSError:
        return None
    if not text:
        return None
    try:
        info = json.loads(text)
        return LockHolder(int(info["pid"]), str(info.get("command") or "unknown command"),
                          str(info.get("since") or "unknown time"), info.get("host"), info.get("start_ticks"))
    except (ValueError, KeyError, TypeError):
        pass
    old = re.match(r"pid (\d+)(?: since (\S+))?", text)  # the layout before JSON: "pid N since T"
    if old:
        return LockHolder(int(old.group(1)), "unknown command", old.group(2) or "unknown time")
    return LockHolder(None)


def _open(path: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except IsADirectoryError:
        raise WarehouseLocked(
            f"{path} is a directory, not a lock file (a foreign or much older layout); remove it once no "
            f"marketlake process runs on this warehouse"
        ) from None


def _same_file(fd: int, path: str) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _try_lock(path: str) -> tuple[int | None, LockHolder | None]:
    """(fd, None) when the lock was taken, else (None, the recorded holder)."""
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(fd)
            os.close(fd)
            return None, holder
        if _same_file(fd, path):
            return fd, None
        os.close(fd)  # the file was replaced after we opened it: lock the new one


def _stamp(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, _record(), 0)


def _take_over(path: str, dead: LockHolder) -> int | None:
    """Replace the lock file of a dead holder with a new, locked one; None when the situation changed."""
    guard = os.open(path + GUARD_SUFFIX, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(guard, fcntl.LOCK_EX)  # held for microseconds by whoever takes over
        fd, holder = _try_lock(path)
        if fd is not None:
            return fd
        if holder != dead or not dead.dead():
            return None
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.pwrite(fd, _record(), 0)
            os.replace(tmp, path)
        except BaseException:
            os.close(fd)
            raise
        return fd
    finally:
        os.close(guard)


def _seconds(wait: bool | float | None) -> float:
    if wait is None or wait is True:
        return default_wait()
    if wait is False:
        return 0.0
    return max(0.0, float(wait))


def _acquire(root: str | Path, path: str, seconds: float, notify: Notify | None) -> int:
    start = time.monotonic()
    deadline = start + seconds
    next_note = start
    suspect: tuple[LockHolder, float] | None = None
    while True:
        fd, holder = _try_lock(path)
        if fd is not None:
            _stamp(fd)
            return fd
        now = time.monotonic()
        if holder is not None and holder.dead():
            if suspect is None or suspect[0] != holder:
                suspect = (holder, now)
            elif now - suspect[1] >= TAKEOVER_GRACE_S:
                fd = _take_over(path, holder)
                if fd is not None:
                    if notify:
                        notify(f"took over the warehouse lock of {holder.describe()}: that process is gone")
                    return fd
                suspect = None
        else:
            suspect = None
        who = holder.describe() if holder else "a process that has not recorded itself yet"
        if now >= deadline:
            waited = f"after waiting {seconds:.0f} s" if seconds >= 1 else "without waiting"
            raise WarehouseLocked(
                f"warehouse {root} is locked by another writer: {who}. Refused {waited}. Wait for it to "
                f"finish and retry, or wait longer with {ENV_WAIT}=SECONDS (config key lock_wait_seconds, "
                f"default {DEFAULT_WAIT_S:.0f}). The lock is released when that process exits; the lock "
                f"file is {path}."
            )
        if notify and now >= next_note and seconds > 0:
            notify(f"waiting for the warehouse lock held by {who}; up to {deadline - now:.0f} s more")
            next_note = now + NOTE_EVERY_S
        time.sleep(min(_POLL_S, max(0.0, deadline - now)))


@contextmanager
def writer_lock(
    root: str | Path, *, wait: bool | float | None = None, on_wait: Notify | None = None
) -> Iterator[None]:
    """Hold the warehouse lock for the block.

    Args:
        root: the warehouse directory (the lock file `.marketlake.lock` lives there).
        wait: seconds to wait for another writer; None or True: `default_wait()`, False: refuse at once.
        on_wait: told (a line of text) who holds the lock while waiting, and of a take-over; default:
            the notifier given to `configure`.

    Raises:
        WarehouseLocked: another process holds the lock past the wait.
    """
    if "://" in str(root) or str(root).startswith(("s3:", "gs:", "az:")):
        from marketlake.errors import StorageError

        raise StorageError(f"{root} is an object-store URI: its lock is DeltaStore(root).writer_lock() "
                           f"(storage.remote_lock), not a local lock file")
    path = str(Path(root) / LOCK_NAME)
    with _GUARD:
        held = _HELD.get(path)
        if held is not None:
            held[1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _GUARD:
                _HELD[path][1] -= 1
        return
    Path(root).mkdir(parents=True, exist_ok=True)
    notify = on_wait or _SETTINGS["notify"]
    fd = _acquire(root, path, _seconds(wait), notify if callable(notify) else None)
    with _GUARD:
        _HELD[path] = [fd, 1]
    try:
        yield
    finally:
        with _GUARD:
            entry = _HELD[path]
            entry[1] -= 1
            if entry[1] == 0:
                del _HELD[path]
                try:
                    os.ftruncate(fd, 0)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)


__all__ = ["DEFAULT_WAIT_S", "ENV_WAIT", "LOCK_NAME", "LockHolder", "configure", "default_wait", "read_holder",
           "writer_lock"]
