"""The dataset manifest: what was read (table, Delta version, commit time), how (the full configuration),
what came out (row counts, files and their hashes), so a dataset can be verified and rebuilt byte for byte.

The manifest is JSON with sorted keys. `content_hash` is the SHA-256 of the data files' own hashes in file
order: two builds agree on it exactly when every Parquet file is byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marketlake.errors import ConfigError

MANIFEST = "manifest.json"
FORMAT = 1


def sha256_bytes(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_hash(files: list[dict[str, Any]]) -> str:
    """Hash over (name, sha256) of every data file, in order."""
    text = "".join(f"{f['path']}:{f['sha256']}\n" for f in files)
    return sha256_bytes(text.encode())


def write(directory: str | os.PathLike[str], manifest: dict[str, Any]) -> Path:
    path = Path(directory) / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A manifest from its file or its dataset directory, with a clear error when it is not one."""
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST
    if not p.is_file():
        raise ConfigError(f"no dataset manifest at {p}: give a dataset directory (with {MANIFEST}) or the file")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p} is not valid JSON ({exc}); was it edited by hand?") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or "config" not in data or "source" not in data:
        raise ConfigError(f"{p} is not a marketlake dataset manifest (format {FORMAT})")
    return data


@dataclass(frozen=True)
class Verification:
    """Result of checking a dataset directory against its manifest."""

    path: str
    ok: bool
    problems: list[str]
    files: int
    rows: int


def verify(directory: str | os.PathLike[str]) -> Verification:
    """Every listed file is present with its size, row count and hash; no unlisted data file; the
    content hash matches. Reads each file once (hashing), opens each Parquet footer for its row count."""
    import pyarrow.parquet as pq

    root = Path(directory)
    man = load(root)
    problems: list[str] = []
    rows = 0
    listed = {f["path"] for f in man["files"]}
    for f in man["files"]:
        p = root / f["path"]
        if not p.is_file():
            problems.append(f"missing file {f['path']}")
            continue
        if p.stat().st_size != f["bytes"]:
            problems.append(f"{f['path']}: {p.stat().st_size} bytes, the manifest says {f['bytes']}")
        digest = sha256_file(p)
        if digest != f["sha256"]:
            problems.append(f"{f['path']}: content changed (sha256 {digest[:12]}..., expected {f['sha256'][:12]}...)")
        try:
            n = pq.ParquetFile(p).metadata.num_rows
        except Exception as exc:  # a corrupted footer
            problems.append(f"{f['path']}: not readable as Parquet ({exc})")
            continue
        rows += n
        if n != f["rows"]:
            problems.append(f"{f['path']}: {n} rows, the manifest says {f['rows']}")
    data_dir = root / "data"
    if data_dir.is_dir():
        for p in sorted(data_dir.iterdir()):
            rel = f"data/{p.name}"
            if rel not in listed:
                problems.append(f"unlisted file {rel}")
    if content_hash(man["files"]) != man["content_hash"]:
        problems.append("the manifest's content_hash does not match its file list (manifest edited?)")
    if rows != man["rows"] and not any("missing" in p for p in problems):
        problems.append(f"{rows} rows in the files, the manifest says {man['rows']}")
    return Verification(str(root), not problems, problems, len(man["files"]), rows)


__all__ = ["FORMAT", "MANIFEST", "Verification", "content_hash", "load", "sha256_bytes", "sha256_file", "verify",
           "write"]
