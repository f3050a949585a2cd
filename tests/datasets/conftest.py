"""Module-shared S&P warehouse: loaded once per session (through the pipeline), copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from marketlake.storage import DeltaStore
from tests.conftest import SHARED_DATA
from tests.datasets.sp500 import load

UNTIL = "2017-05-31"  # bars after this are "appended later" by the reproducibility test


@pytest.fixture(scope="session")
def sp500_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA}")
    root = tmp_path_factory.mktemp("sp500") / "wh"
    load(root, SHARED_DATA, until=UNTIL)
    return root


@pytest.fixture
def sp500(sp500_template: Path, tmp_path: Path) -> DeltaStore:
    """A private copy of the S&P warehouse (tests may append, vacuum, write support tables)."""
    root = tmp_path / "wh"
    shutil.copytree(sp500_template, root)
    return DeltaStore(root)


@pytest.fixture(scope="session")
def sp500_shared(sp500_template: Path) -> DeltaStore:
    """The session's warehouse itself, for read-only tests (no copy)."""
    return DeltaStore(sp500_template)
