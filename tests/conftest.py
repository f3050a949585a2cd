"""Shared test fixtures: where the real data lives, and a skip when it is absent."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# An environment with PYTHONDONTWRITEBYTECODE set (some sandboxes and CI images) makes every Python
# process of the suite compile marketlake and the test modules from source: ~0.45 s more per CLI child
# (the suite starts well over a hundred) and ~10 s more collection per xdist worker. The suite keeps the
# tree clean all the same: the bytecode goes under the git-ignored .cache/, for this process and the
# processes it starts, which then load it instead of compiling again.
if sys.dont_write_bytecode or os.environ.get("PYTHONDONTWRITEBYTECODE"):
    sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"] = str(PROJECT_ROOT / ".cache" / "pycache")
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
SHARED = PROJECT_ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
SHARED_SPEC = SHARED / "spec"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a clean skip when this checkout has no shared folder beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _console_width_from_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's piped width follows COLUMNS, which pytest-xdist sets to 80 in its workers: drop it, so a
    test sees the same 160-column console under `-n 2` as in a plain run (tests that want 80 ask for it)."""
    monkeypatch.delenv("COLUMNS", raising=False)


# Test files that run longest, longest first (each over ~30 s of one worker, `--durations` of a full run).
# They are collected first so that `-n 2 --dist loadfile` hands them out at the start, not as the last
# file of a worker while the other worker is idle.
_LONG_FIRST = ("tests/sync/test_sync_day.py", "tests/objectstore/test_s3_cli.py", "tests/vendors/test_resume_kill.py",
               "tests/pipeline/test_dask_vendor.py", "tests/pipeline/test_lost_update.py",
               "tests/sync/test_sync_signals.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return _LONG_FIRST.index(path) if path in _LONG_FIRST else len(_LONG_FIRST)

    items.sort(key=rank)  # stable: the order within a file and among the others is kept
