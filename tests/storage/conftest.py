from __future__ import annotations

from pathlib import Path

import pytest

from marketlake.storage import DeltaStore


@pytest.fixture()
def store(tmp_path: Path) -> DeltaStore:
    s = DeltaStore(tmp_path / "wh")
    s.ensure_tables(["stocks_daily_clean", "crypto_hourly_clean"])
    return s
