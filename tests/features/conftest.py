"""Fixtures of the feature tests."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.features.feature_bars import make_bars


@pytest.fixture(scope="session")
def panel() -> pd.DataFrame:
    """Six symbols x 400 daily bars over three sectors, SPY included."""
    return make_bars(6, 400, seed=1)


@pytest.fixture(scope="session")
def panel_features(panel: pd.DataFrame) -> pd.DataFrame:
    from marketlake.features import compute

    return compute(panel, "stocks_daily_clean", source="synthetic")
