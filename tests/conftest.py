"""Shared test fixtures: where the real data lives, and a skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
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
