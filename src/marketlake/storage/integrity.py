"""Damaged tables: find empty, truncated or garbled commit, checkpoint and data files, and repair the log.

delta-rs does not guard against these: a zero-byte latest commit reads as a version with no actions
(the table silently shows an older or empty state, and the next write commits on top of it), a garbled
one raises a raw Rust error. So every open and refresh of a table checks its `_delta_log` first
(`check_log`; each file is parsed once per store and remembered by size and mtime), and the store
refuses to read or write a damaged table with a `CorruptTable` naming the table and the files.

A damaged commit counts even where a checkpoint covers its version (the log is no longer what was
written). Repair (`repair`, offered by `janitor plan`, done by `janitor apply --yes`) goes back to the
last good version: damaged commits after the newest good checkpoint are moved aside with every later
commit and checkpoint; damaged files the checkpoint covers are moved aside alone; a damaged data file
is dropped by restoring the newest version that does not use it. Nothing is deleted: moved files go to
`<warehouse>/.marketlake-corrupt/<table>/<time>/`.

On an object store (`s3://`, ...) the same scan and repair run over the store's pyarrow filesystem
(`_Log`: list, read, move), so `janitor plan` / `apply --yes` repair there too. Reads there are not
checked on every open (that would be a LIST and a GET per commit of every table a process opens); a log
delta-rs cannot load is still refused with a `CorruptTable` that points at `janitor plan`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from marketlake.errors import CorruptTable, StorageError

if TYPE_CHECKING:
    from marketlake.storage.store import DeltaStore

CORRUPT_DIR = ".marketlake-corrupt"
_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(?:\.\d{10}\.\d{10})?\.parquet$")
_ACTIONS = frozenset({"commitInfo", "metaData", "protocol", "add", "remove", "txn", "cdc", "domainMetadata",
                      "checkpointMetadata", "sidecar"})
Kind = Literal["commit", "checkpoint", "data"]


@dataclass(frozen=True)
class Damage:
    """One damaged file of a table; `file` is relative to the table directory."""

    table: str
    file: str
    kind: Kind
    version: int | None
    reason: str
    covered: bool = False  # a good checkpoint at or after `version` holds the table state

    def describe(self) -> str:
        return f"{self.file} {self.reason}"


def is_log_file(name: str) -> bool:
    """A commit or checkpoint file name of `_delta_log`."""
    return bool(_COMMIT.match(name) or _CHECKPOINT.match(name))


@dataclass(frozen=True)
class _Log:
    """A table's `_delta_log` directory, local (`fs` None: `os`) or on an object store's filesystem."""

    table_dir: str  # a local directory, or the table's path on `fs`
    fs: pafs.FileSystem | None = None

    @classmethod
    def of(cls, store: DeltaStore, name: str) -> _Log:
        return cls(store.table_root(name), store.filesystem) if store.remote else cls(store.path(name))

    def join(self, rel: str) -> str:
        return f"{self.table_dir}/{rel}" if self.fs is not None else os.path.join(self.table_dir, rel)

    def entries(self) -> list[tuple[str, str, int, int]] | None:
        """(name, path, size, mtime_ns) of each file in `_delta_log`; None when there is none."""
        log = self.join("_delta_log")
        if self.fs is None:
            try:
                found = list(os.scandir(log))
            except FileNotFoundError:
                return None
            return [(e.name, e.path, st.st_size, st.st_mtime_ns) for e in found for st in (e.stat(),)]
        infos = self.fs.get_file_info(pafs.FileSelector(log, allow_not_found=True))
        return [(i.base_name, i.path, int(i.size or 0), int(i.mtime_ns or 0)) for i in infos
                if i.type == pafs.FileType.File] or None

    def read(self, path: str) -> bytes:
        if self.fs is None:
            with open(path, "rb") as f:
                return f.read()
        with self.fs.open_input_stream(path) as f:
            return bytes(f.read())

    def exists(self, rel: str) -> bool:
        if self.fs is None:
            return os.path.exists(self.join(rel))
        return self.fs.get_file_info(self.join(rel)).type != pafs.FileType.NotFound

    def listdir(self) -> list[str]:
        return [n for n, *_ in self.entries() or []]


def _read_commit(path: str, log: _Log | None = None) -> str | None:
    return _commit_problem((log or _Log("")).read(path))


def _commit_problem(data: bytes) -> str | None:
    if not data:
        return "is empty (0 bytes)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text (garbled)"
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if not lines:
        return "holds no Delta action"
    for n, line in enumerate(lines, 1):
        try:
            action = json.loads(line)
        except ValueError:
            return f"line {n} is not JSON (truncated or garbled)"
        if not isinstance(action, dict) or len(action) != 1 or next(iter(action)) not in _ACTIONS:
            return f"line {n} is not a Delta action"
    return None


def _checkpoint_problem(path: str, log: _Log | None = None) -> str | None:
    """Why a checkpoint cannot be read (every page decoded, with checksums)."""
    try:
        if log is not None and log.fs is not None:
            data = log.read(path)
            if not data:
                return "is empty (0 bytes)"
            pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True).read().validate(full=True)
            return None
        if os.path.getsize(path) == 0:
            return "is empty (0 bytes)"
        pq.ParquetFile(path, page_checksum_verification=True).read().validate(full=True)  # UTF-8 too
    except (OSError, pa.ArrowException) as exc:
        return f"cannot be read ({_short(exc)})"
    return None


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


@dataclass
class _Seen:
    """Log files already checked by this store: name -> (size, mtime_ns, problem)."""

    files: dict[str, tuple[int, int, str | None]]


def check_log(table_dir: str | _Log, name: str, seen: _Seen | None = None) -> list[Damage]:
    """Damaged or missing files of a table's `_delta_log` (empty list: the log is sound).

    `table_dir`: a local table directory, or a `_Log` (an object store's table)."""
    where = table_dir if isinstance(table_dir, _Log) else _Log(table_dir)
    entries = where.entries()
    if entries is None:
        return []
    memo = seen.files if seen is not None else {}
    commits: dict[int, str | None] = {}
    checkpoints: dict[int, str | None] = {}

    def problem_of(e: tuple[str, str, int, int], check: Callable[[str, _Log], str | None]) -> str | None:
        key = (e[2], e[3])
        cached = memo.get(e[0])
        if cached is not None and cached[:2] == key:
            return cached[2]
        problem = check(e[1], where)
        memo[e[0]] = (*key, problem)
        return problem

    found_cp: list[tuple[int, tuple[str, str, int, int]]] = []
    last_cp = None
    for e in entries:
        if m := _COMMIT.match(e[0]):
            commits[int(m.group(1))] = problem_of(e, _read_commit)
        elif m := _CHECKPOINT.match(e[0]):
            found_cp.append((int(m.group(1)), e))
        elif e[0] == "_last_checkpoint":
            last_cp = e
    # newest first, until a good one: older checkpoints are never read while a newer one is sound
    # (decoding all ten of a 200-commit log tripled the open time)
    good_cp = -1
    for v, e in sorted(found_cp, key=lambda t: t[0], reverse=True):
        problem = problem_of(e, _checkpoint_problem)
        checkpoints[v] = checkpoints.get(v) or problem
        if problem is None:
            good_cp = v
            break
    out = [Damage(name, f"_delta_log/{v:020d}.checkpoint.parquet", "checkpoint", v, p, covered=v <= good_cp)
           for v, p in sorted(checkpoints.items()) if p is not None]
    out += [Damage(name, f"_delta_log/{v:020d}.json", "commit", v, p, covered=v <= good_cp)
            for v, p in sorted(commits.items()) if p is not None]
    if commits:  # every version after the newest good checkpoint must be there
        first = good_cp + 1 if good_cp >= 0 else min(commits)
        if good_cp < 0 and first != 0:
            out.append(Damage(name, "_delta_log/00000000000000000000.json", "commit", 0,
                              "is missing and no checkpoint covers it"))
        for v in range(first, max(commits) + 1):
            if v not in commits:
                out.append(Damage(name, f"_delta_log/{v:020d}.json", "commit", v, "is missing"))
    if last_cp is not None:
        try:
            json.loads(where.read(last_cp[1]).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            out.append(Damage(name, "_delta_log/_last_checkpoint", "checkpoint", None, "is not JSON (garbled)",
                              covered=True))
    return out


def last_good_version(damage: list[Damage]) -> int | None:
    """The version a repair goes back to: just before the first damaged commit no checkpoint covers."""
    bad = [d.version for d in damage if d.kind == "commit" and not d.covered and d.version is not None]
    return min(bad) - 1 if bad else None


def message(name: str, damage: list[Damage]) -> str:
    """One line for the user: what is damaged and what to do."""
    shown = "; ".join(d.describe() for d in damage[:3]) + (f"; {len(damage) - 3} more" if len(damage) > 3 else "")
    back = last_good_version(damage)
    todo = f" (back to version {back})" if back is not None and back >= 0 else ""
    return (f"table {name} is damaged: {shown}. Nothing was read or written; `marketlake janitor plan` shows "
            f"the repair{todo}, `marketlake janitor apply --yes` does it")


def verify_log(store: DeltaStore, name: str) -> None:
    """Raise CorruptTable when the log of `name` is damaged (cheap when nothing changed)."""
    if store.remote:
        return
    seen = store._log_seen.setdefault(name, _Seen({}))
    damage = check_log(store.path(name), name, seen)
    if damage:
        store._forget(name)
        raise CorruptTable(message(name, damage), table=name, files=[d.file for d in damage])


def data_problem(path: str, *, full: bool, filesystem: pafs.FileSystem | None = None) -> str | None:
    """Why a data file cannot be read (None: it can). `full` decodes every page, with checksums.

    `filesystem`: where `path` lives (an object store's pyarrow filesystem); None: a local path."""
    try:
        if filesystem is not None:
            info = filesystem.get_file_info(path)
            if info.type == pafs.FileType.NotFound:
                return "is missing"
            if not info.size:
                return "is empty (0 bytes)"
            with filesystem.open_input_file(path) as handle:
                pf = pq.ParquetFile(handle, page_checksum_verification=True)
                if full:
                    for g in range(pf.metadata.num_row_groups):
                        pf.read_row_group(g)
            return None
        if os.path.getsize(path) == 0:
            return "is empty (0 bytes)"
        pf = pq.ParquetFile(path, page_checksum_verification=True)
        if full:
            for g in range(pf.metadata.num_row_groups):
                pf.read_row_group(g)
    except FileNotFoundError:
        return "is missing"
    except (OSError, pa.ArrowException) as exc:
        return f"cannot be read ({_short(exc)})"
    return None


def check_data(store: DeltaStore, name: str, *, full: bool = False) -> list[Damage]:
    """Damaged active data files of a table whose log is sound (footers; every page with `full`)."""
    from deltalake import DeltaTable

    dt = DeltaTable(store.path(name), storage_options=store.storage_options)
    version = int(dt.version())
    paths = _active_paths(dt)
    if store.remote:
        root = store.table_root(name)
        check = lambda rel: data_problem(f"{root}/{rel}", full=full, filesystem=store.filesystem)  # noqa: E731
    else:
        check = lambda rel: data_problem(os.path.join(store.path(name), rel), full=full)  # noqa: E731
    problems = list(store._pool().map(check, paths)) if len(paths) > 1 else [check(p) for p in paths]
    return [Damage(name, rel, "data", version, p) for rel, p in zip(paths, problems) if p is not None]


def _active_paths(dt: object) -> list[str]:
    from urllib.parse import unquote

    adds = pa.table(dt.get_add_actions(flatten=False))  # type: ignore[attr-defined]
    return [unquote(str(p)) for p in adds.column("path").to_pylist()]


def scan(store: DeltaStore, name: str, *, full_data: bool = False) -> list[Damage]:
    """Every damage of one table: the log, then (when the log is sound) its active data files."""
    damage = check_log(_Log.of(store, name), name)
    if damage:
        return damage
    try:
        return check_data(store, name, full=full_data)
    except Exception as exc:  # noqa: BLE001 - delta-rs' own errors on a log we could not fault
        return [Damage(name, "_delta_log", "commit", None, f"cannot be loaded ({_short(exc)})")]


@dataclass(frozen=True)
class Repair:
    """What `repair` does (or did) to one table."""

    table: str
    moved: list[str]  # files moved aside, relative to the table directory
    restore_to: int | None  # the version restored (data damage), None for log repairs
    back_to: int | None  # the version the table is at afterwards when known
    current: int | None = None  # the version before the repair (data damage)

    def describe(self) -> str:
        if self.restore_to is not None:
            undone = f", undoing versions {self.restore_to + 1}..{self.current}" if self.current is not None else ""
            return f"restore version {self.restore_to} (the newest without the damaged data file{undone})"
        files = ", ".join(self.moved[:3]) + (f" and {len(self.moved) - 3} more" if len(self.moved) > 3 else "")
        back = f"back to version {self.back_to}: " if self.back_to is not None else ""
        return f"{back}move aside {files}"


def plan_repair(store: DeltaStore, name: str, damage: list[Damage]) -> Repair | None:
    """The repair of a damaged table, changing nothing (None when there is nothing to do or no way)."""
    if not damage:
        return None
    where = _Log.of(store, name)
    if any(d.kind != "data" for d in damage):
        back = last_good_version(damage)
        moved = {d.file for d in damage if (d.covered or d.kind == "checkpoint") and where.exists(d.file)}
        log_files = where.listdir()
        if back is not None:
            for f in log_files:
                m = _COMMIT.match(f) or _CHECKPOINT.match(f)
                if m and int(m.group(1)) > back:
                    moved.add(f"_delta_log/{f}")
        if (back is not None or any(".checkpoint" in m for m in moved)) and "_last_checkpoint" in log_files:
            moved.add("_delta_log/_last_checkpoint")  # it may name a moved checkpoint; delta-rs lists instead
        if back is not None and back < 0:
            return None  # version 0 itself is damaged: nothing good to go back to
        return Repair(name, sorted(moved), None, back)
    bad = {d.file for d in damage}
    version = _newest_without(store, name, bad)
    current = max((d.version for d in damage if d.version is not None), default=None)
    return None if version is None else Repair(name, [], version, version, current)


def _newest_without(store: DeltaStore, name: str, bad: set[str]) -> int | None:
    from deltalake import DeltaTable

    current = DeltaTable(store.path(name), storage_options=store.storage_options)
    for v in range(int(current.version()) - 1, -1, -1):
        try:
            dt = DeltaTable(store.path(name), version=v, storage_options=store.storage_options)
        except Exception:  # noqa: BLE001 - an older version whose log was cleaned up: stop there
            return None
        paths = _active_paths(dt)
        where = _Log.of(store, name)
        if bad.isdisjoint(paths) and all(where.exists(p) for p in paths):
            return v
    return None


def repair(store: DeltaStore, name: str) -> Repair | None:
    """Carry out `plan_repair` under the writer lock; returns what was done."""
    from deltalake import DeltaTable

    from marketlake.storage.commits import commit_properties, hooks

    with store.writer_lock():
        damage = scan(store, name, full_data=True)
        todo = plan_repair(store, name, damage)
        if todo is None:
            if damage:
                raise StorageError(message(name, damage).split(". Nothing")[0] + "; no good version to go back "
                                   "to: restore the table from a backup", table=name)
            return None
        if todo.restore_to is not None:
            dt = DeltaTable(store.path(name), storage_options=store.storage_options)
            dt.restore(todo.restore_to, commit_properties=commit_properties("repair", restoredVersion=todo.restore_to),
                       post_commithook_properties=hooks())
        elif store.remote:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            dest = store.table_root(f"{CORRUPT_DIR}/{name}/{stamp}")
            for rel in todo.moved:  # an object store has no rename: copy, then delete (`move`)
                store.filesystem.move(f"{store.table_root(name)}/{rel}", f"{dest}/{rel}")
        else:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            dest = os.path.join(store.root, CORRUPT_DIR, name, stamp)
            for rel in todo.moved:
                os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
                shutil.move(os.path.join(store.path(name), rel), os.path.join(dest, rel))
        store._forget(name)
        store._log_seen.pop(name, None)
        return todo


__all__ = ["CORRUPT_DIR", "Damage", "Repair", "check_data", "check_log", "data_problem", "is_log_file",
           "last_good_version",
           "message", "plan_repair", "repair", "scan", "verify_log"]
