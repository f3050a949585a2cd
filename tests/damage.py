"""Damaging real table files in place, for the corruption tests (storage, janitor, quality)."""

from __future__ import annotations

from pathlib import Path


def damage(path: Path, how: str) -> None:
    """Zero-byte, truncate (half the bytes) or garble (overwrite 64 bytes in the middle) a file in place."""
    data = path.read_bytes()
    if how == "zero":
        path.write_bytes(b"")
    elif how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:
        mid = len(data) // 2
        path.write_bytes(data[:mid] + bytes((b * 7 + 13) % 256 for b in data[mid : mid + 64]) + data[mid + 64 :])


def commit_file(table_dir: str | Path, version: int) -> Path:
    """The commit file of one version of a Delta table."""
    return Path(table_dir) / "_delta_log" / f"{version:020d}.json"
