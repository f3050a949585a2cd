"""The writer lock of a warehouse on object storage: a lease recorded in a tiny Delta log in the bucket.

A local warehouse serialises writers with `fcntl.flock` (`storage.lock`); an object store has no such
thing, and several machines may write. The one atomic primitive every store delta-rs speaks gives us is
"create this object only if it does not exist" (S3 conditional writes `If-None-Match: *`, GCS generation
preconditions, Azure `If-None-Match`): it is how delta-rs commits version N+1 of a log exactly once. The
lock uses the same primitive through delta-rs: `<warehouse>/.marketlake.lock` is a Delta table whose
commits carry no data, only the lock's state in their commit info. Taking the lock is committing version
N+1 ("acquired by me, lease until T") after reading version N and seeing it free (released, or its lease
expired); `max_commit_retries=0` makes a concurrent taker's commit fail instead of being rebased, so two
processes can never both win version N+1. The holder renews its lease from a background thread and
commits "released" at the end, so a crashed holder blocks others for one lease at most (sooner when it
ran on this host and its pid is gone).

Delta commits themselves are safe without the lock (delta-rs 1.x commits with conditional writes); the
lock is what keeps our rule "hold the writer lock from the read to the commit" on object storage. A
holder stalled past its lease (suspended laptop) can lose the lock to a waiter: the renewal thread logs
it; clocks of the machines sharing a bucket are assumed to agree within a few seconds of the lease.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, PostCommitHookProperties
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from marketlake.errors import StorageError, WarehouseLocked
from marketlake.storage import lock as _local

LOCK_TABLE = ".marketlake.lock"
ENV_LEASE = "MARKETLAKE_LOCK_LEASE"
DEFAULT_LEASE_S = 60.0
"""A crashed remote holder blocks other writers for at most this long; renewed every quarter of it."""
_POLL_S = 0.25
_KEY = "marketlake.lock"
_SCHEMA = pa.schema([pa.field("unused", pa.int64())])
_PROPERTIES = {"delta.checkpointInterval": "50", "delta.logRetentionDuration": "interval 1 hours"}
_GUARD = threading.RLock()
_HELD: dict[str, _Held] = {}
_LOGS: dict[tuple[int, str, tuple[tuple[str, str], ...]], DeltaTable] = {}  # (pid, uri, options) -> the lock log
log = logging.getLogger("marketlake.storage")


def lease_seconds() -> float:
    value = _local.env_seconds(ENV_LEASE, positive=True, error=StorageError)
    if value is not None:
        return value
    return DEFAULT_LEASE_S


@dataclass(frozen=True)
class LeaseState:
    """The lock as the latest commit of its log records it."""

    version: int
    op: str  # acquire | renew | release | free (the log was just created)
    token: str | None
    expires: float
    holder: _local.LockHolder | None

    def free(self, now: float) -> bool:
        if self.op in ("free", "release"):
            return True
        if now >= self.expires:
            return True
        return self.holder is not None and self.holder.dead()  # same host, process gone


class _Held:
    """A lock this process holds: its log handle, token, depth and renewal thread."""

    def __init__(self, uri: str, dt: DeltaTable, token: str, lease: float) -> None:
        self.uri, self.dt, self.token, self.lease = uri, dt, token, lease
        self.depth = 1
        self.lost = False
        self.stop = threading.Event()
        self.mutex = threading.Lock()
        self.thread = threading.Thread(target=self._renew_loop, name="marketlake-lock-lease", daemon=True)

    def _renew_loop(self) -> None:
        while not self.stop.wait(self.lease / 4):
            with self.mutex:
                if self.stop.is_set():
                    return
                try:
                    for _ in range(3):  # a commit lost to a waiter's read-only look needs no retry; ours does
                        state = _state(self.dt)
                        if state.token != self.token:
                            self.lost = True
                            log.warning("the warehouse lock of %s was taken over by %s while this process held "
                                        "it (its lease ran out)", self.uri,
                                        state.holder.describe() if state.holder else "another writer")
                            return
                        if _commit(self.dt, "renew", self.token, self.lease):
                            break
                except Exception as exc:  # noqa: BLE001 - a failed renewal is retried at the next beat
                    log.warning("could not renew the warehouse lock lease of %s: %s", self.uri,
                                str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)


def _record(op: str, token: str, lease: float) -> dict[str, str]:
    info = json.loads(_local._record())
    info.update(op=op, token=token, expires=time.time() + lease)
    return {_KEY: json.dumps(info)}


def _commit(dt: DeltaTable, op: str, token: str, lease: float) -> bool:
    """Commit the version after the one `dt` has loaded (the state the caller judged), recording `op`; False
    when another process committed that version first. Never refreshes `dt` itself: committing on a newer
    version than the one judged free would let two processes take the lock."""
    try:
        dt.create_write_transaction(
            [], mode="append", schema=_SCHEMA,
            commit_properties=CommitProperties(custom_metadata=_record(op, token, lease), max_commit_retries=0),
            post_commithook_properties=PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=True),
        )
    except CommitFailedError:
        return False
    return True


def _state(dt: DeltaTable) -> LeaseState:
    dt.update_incremental()
    version = int(dt.version())
    last = dt.history(1)
    text = last[0].get(_KEY) if last else None
    if not text:
        return LeaseState(version, "free", None, 0.0, None)
    try:
        info = json.loads(text)
        holder = _local.LockHolder(int(info["pid"]), str(info.get("command") or "unknown command"),
                                   str(info.get("since") or "unknown time"), info.get("host"),
                                   info.get("start_ticks"))
        return LeaseState(version, str(info["op"]), str(info["token"]), float(info["expires"]), holder)
    except (ValueError, KeyError, TypeError):
        return LeaseState(version, "free", None, 0.0, None)  # unreadable record: only a lease could hold it


def _open_log(uri: str, options: dict[str, str] | None) -> DeltaTable:
    """The lock log, opened once per process (later takes only read the new commits: ~0.5 s saved each)."""
    key = (os.getpid(), uri, tuple(sorted((options or {}).items())))
    with _GUARD:
        dt = _LOGS.get(key)
    if dt is None:
        dt = _create_or_open(uri, options)
        with _GUARD:
            _LOGS[key] = dt
    return dt


def _create_or_open(uri: str, options: dict[str, str] | None) -> DeltaTable:
    for _ in range(5):
        try:
            return DeltaTable(uri, storage_options=options)
        except TableNotFoundError:
            pass
        try:
            return DeltaTable.create(uri, _SCHEMA, mode="ignore", storage_options=options,
                                     configuration=dict(_PROPERTIES))
        except Exception:  # noqa: BLE001 - another process created it at the same moment: open theirs
            time.sleep(0.05)
    return DeltaTable(uri, storage_options=options)


def _acquire(root: str, uri: str, options: dict[str, str] | None, seconds: float,
             notify: _local.Notify | None) -> _Held:
    dt = _open_log(uri, options)
    lease = lease_seconds()
    token = uuid.uuid4().hex
    start = time.monotonic()
    deadline = start + seconds
    next_note = start
    while True:
        state = _state(dt)
        now = time.monotonic()
        if state.free(time.time()):
            if _commit(dt, "acquire", token, lease):
                if state.op in ("acquire", "renew") and state.holder is not None and notify:
                    notify(f"took over the warehouse lock of {state.holder.describe()}: its lease ran out")
                held = _Held(uri, dt, token, lease)
                held.thread.start()
                return held
            continue  # someone committed first: read again
        who = state.holder.describe() if state.holder else "another writer"
        if now >= deadline:
            waited = f"after waiting {seconds:.0f} s" if seconds >= 1 else "without waiting"
            raise WarehouseLocked(
                f"warehouse {root} is locked by another writer: {who}. Refused {waited}. Wait for it to finish "
                f"and retry, or wait longer with {_local.ENV_WAIT}=SECONDS (config key lock_wait_seconds). A "
                f"crashed holder's lease runs out within {lease:.0f} s ({ENV_LEASE}); the lock is {uri}."
            )
        if notify and now >= next_note and seconds > 0:
            notify(f"waiting for the warehouse lock held by {who}; up to {deadline - now:.0f} s more")
            next_note = now + _local.NOTE_EVERY_S
        time.sleep(min(_POLL_S, max(0.0, deadline - now)))


def _release(held: _Held) -> None:
    held.stop.set()
    with held.mutex:
        pass  # a renewal under way finishes first
    held.thread.join(timeout=held.lease)
    if held.lost:
        return
    try:
        for _ in range(3):
            if _state(held.dt).token != held.token or _commit(held.dt, "release", held.token, 0.0):
                break
    except Exception as exc:  # noqa: BLE001 - the lease then expires by itself
        log.warning("could not release the warehouse lock of %s (it expires within %.0f s): %s", held.uri,
                    held.lease, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)


@contextmanager
def remote_writer_lock(root: str, *, storage_options: dict[str, str] | None = None,
                       wait: bool | float | None = None, on_wait: _local.Notify | None = None) -> Iterator[None]:
    """Hold the writer lock of the warehouse at URI `root` for the block (re-entrant within a process).

    Raises:
        WarehouseLocked: another writer holds a live lease past the wait.
    """
    uri = f"{root.rstrip('/')}/{LOCK_TABLE}"
    with _GUARD:
        held = _HELD.get(uri)
        if held is not None:
            held.depth += 1
    if held is not None:
        try:
            yield
        finally:
            with _GUARD:
                held.depth -= 1
        return
    notify = on_wait or _local._SETTINGS["notify"]
    held = _acquire(root, uri, storage_options, _local._seconds(wait), notify if callable(notify) else None)
    with _GUARD:
        _HELD[uri] = held
    try:
        yield
    finally:
        with _GUARD:
            held.depth -= 1
            last = held.depth == 0
            if last:
                del _HELD[uri]
        if last:
            _release(held)


__all__ = ["DEFAULT_LEASE_S", "ENV_LEASE", "LOCK_TABLE", "LeaseState", "lease_seconds", "remote_writer_lock"]
