"""The reference lists the product needs at run time: shipped snapshots, and `symbols update` downloads.

Why shipped: the symbol master (`symbols load`) and the `sp500` universe must work from any directory
on any machine, offline. So dated snapshots of the three public lists live in the package
(`marketlake/data/`, the source URL and snapshot date in each file's first `#` line). Lists change
(index reconstitutions, new listings): `marketlake symbols update` downloads current copies from
their public sources (URLs configurable under `[reference]`), validates them with the same loaders
`symbols load` uses, and writes them to the user reference directory, where they win over the
shipped snapshot from then on. A download that does not validate is never written: the previous
file stays in use.

The user reference directory: `[reference] dir` in the config, else `$MARKETLAKE_REFERENCE_DIR`,
else `$XDG_DATA_HOME/marketlake/reference` (default `~/.local/share/marketlake/reference`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import httpx

from marketlake.errors import ParseError, SourceError

KINDS: tuple[str, ...] = ("sp500", "nasdaq_listed", "other_listed")
SNAPSHOTS: dict[str, str] = {
    "sp500": "sp500_constituents.csv", "nasdaq_listed": "nasdaq_listed.csv.gz", "other_listed": "other_listed.csv.gz",
}
"""Shipped snapshot per list (package data; the two NASDAQ Trader lists gzip-compressed)."""
UPDATED: dict[str, str] = {k: f"{k}.csv" for k in KINDS}
"""File name of a downloaded list in the user reference directory."""
DEFAULT_URLS: dict[str, str] = {
    "sp500": "https://raw.githubusercontent.com/datasets/s-and-p-500-companies/main/data/constituents.csv",
    "nasdaq_listed": "https://raw.githubusercontent.com/datasets/nasdaq-listings/main/data/nasdaq-listed.csv",
    "other_listed": "https://raw.githubusercontent.com/datasets/nyse-other-listings/main/data/other-listed.csv",
}
MIN_ROWS: dict[str, int] = {"sp500": 450, "nasdaq_listed": 1000, "other_listed": 1000}
"""A download with fewer symbols is truncated or the wrong file: it is refused, not installed."""


def snapshot_path(kind: str) -> Path:
    """The shipped snapshot of list `kind`."""
    return Path(str(files("marketlake") / "data" / SNAPSHOTS[kind]))


def user_dir(configured: str | None = None) -> Path:
    """Where `symbols update` writes and where downloaded lists are looked up first."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get("MARKETLAKE_REFERENCE_DIR"):
        return Path(os.environ["MARKETLAKE_REFERENCE_DIR"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or "~/.local/share"
    return Path(base).expanduser() / "marketlake" / "reference"


def reference_path(kind: str, directory: str | None = None) -> Path:
    """The list to use: the downloaded copy when there is one, else the shipped snapshot."""
    if kind not in SNAPSHOTS:
        raise ValueError(f"unknown reference list {kind!r}; known: {', '.join(KINDS)}")
    updated = user_dir(directory) / UPDATED[kind]
    return updated if updated.is_file() else snapshot_path(kind)


def default_reference_files(directory: str | None = None) -> list[Path]:
    """The three lists `symbols load` uses without arguments, in merge-priority order."""
    return [reference_path(k, directory) for k in KINDS]


@dataclass(frozen=True)
class Updated:
    """One downloaded list: where it went, how many symbols it holds."""

    kind: str
    url: str
    path: Path
    symbols: int


def update_reference(
    *,
    urls: Mapping[str, str] | None = None,
    directory: str | None = None,
    timeout_s: float = 30.0,
    now: datetime | None = None,
) -> list[Updated]:
    """Download, validate and install the three lists; all are validated before any is written.

    Raises:
        SourceError: a download failed (network, HTTP status) or does not validate; nothing is written.
    """
    from marketlake.sources.reference.loaders import detect_format, load_reference

    chosen = {**DEFAULT_URLS, **dict(urls or {})}
    target = user_dir(directory)
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    staged: list[tuple[str, str, str, int]] = []
    tmpdir = target / ".incoming"
    tmpdir.mkdir(parents=True, exist_ok=True)
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=True) as http:
            for kind in KINDS:
                url = chosen[kind]
                try:
                    resp = http.get(url)
                except httpx.HTTPError as exc:
                    raise SourceError(f"download of the {kind} list from {url} failed: {type(exc).__name__}",
                                      source="reference") from None
                if resp.status_code != 200:
                    raise SourceError(f"download of the {kind} list from {url} failed: HTTP {resp.status_code}",
                                      source="reference")
                text = resp.text.lstrip("\ufeff")
                body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
                header = f"# {kind} list. Source: {url}. Downloaded: {stamp} by 'marketlake symbols update'.\n"
                tmp = tmpdir / UPDATED[kind]
                tmp.write_text(header + body, encoding="utf-8")
                try:
                    fmt = detect_format(body.splitlines()[0].split(",") if body else [])
                    if fmt != kind:
                        raise ParseError(f"is a {fmt} list, expected {kind}", path=url, source="reference")
                    n = len(load_reference(tmp))
                except ValueError as exc:
                    raise SourceError(f"the {kind} list from {url} is not valid: {exc}", source="reference") from None
                except ParseError as exc:
                    raise SourceError(f"the {kind} list from {url} is not valid: {exc}", source="reference") from None
                if n < MIN_ROWS[kind]:
                    raise SourceError(f"the {kind} list from {url} holds {n} symbols, fewer than {MIN_ROWS[kind]}: "
                                      "truncated or the wrong file; kept the previous list", source="reference")
                staged.append((kind, url, str(tmp), n))
        out = []
        for kind, url, staged_path, n in staged:  # every list validated: install them
            dest = target / UPDATED[kind]
            os.replace(staged_path, dest)
            out.append(Updated(kind, url, dest, n))
        return out
    finally:
        for leftover in tmpdir.glob("*"):
            leftover.unlink(missing_ok=True)
        if tmpdir.exists() and not any(tmpdir.iterdir()):
            tmpdir.rmdir()


__all__ = ["DEFAULT_URLS", "KINDS", "MIN_ROWS", "SNAPSHOTS", "Updated", "default_reference_files", "reference_path",
           "snapshot_path", "update_reference", "user_dir"]
