"""The warehouse writer lock: one writing process at a time, so two loads never interleave commits.

`fcntl.flock` locks belong to an open file description, so a second `open()` + `flock()` in the same
process would block on itself. The lock is therefore re-entrant per process and per lock file, tracked
in `_HELD` (the one piece of process state here: it mirrors what the kernel already holds for us).
The kernel drops the lock when the process dies, also on `kill -9`, so a crash never leaves it stuck.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from marketlake.errors import WarehouseLocked

LOCK_NAME = ".marketlake.lock"
_POLL_S = 0.05
_GUARD = threading.RLock()
_HELD: dict[str, list[int]] = {}  # lock path -> [fd, depth]


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 200).decode(errors="replace").strip() or "unknown"
    except OSError:
        return "unknown"


@contextmanager
def writer_lock(root: str | Path, *, wait: bool | float = True) -> Iterator[None]:
    """Hold the warehouse lock for the block.

    Args:
        root: the warehouse directory (the lock file `.marketlake.lock` lives there).
        wait: True waits as long as needed, False fails at once, a number waits that many seconds.

    Raises:
        WarehouseLocked: another process holds the lock (and waiting was not allowed or timed out).
    """
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
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = None if wait is True else time.monotonic() + (0.0 if wait is False else float(wait))
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise WarehouseLocked(
                        f"warehouse {root} is locked by another writer ({_holder(fd)}); wait for it to finish "
                        f"or retry with a longer wait. The lock is released automatically when that process "
                        f"exits; the lock file is {path}."
                    ) from None
                time.sleep(_POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
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


__all__ = ["LOCK_NAME", "writer_lock"]
