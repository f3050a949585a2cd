"""Market dynamics (candle anatomy, distances to averages and 252-bar extremes) and market structure."""

from __future__ import annotations

import numpy as np

from marketlake.features._segments import safe_div


def close_location(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """(C - L) / (H - L) (formula); NULL where H == L."""
    return safe_div(close - low, high - low)


def body_ratio(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """|C - O| / (H - L) (formula); NULL where H == L."""
    return safe_div(np.abs(close - open_), high - low)


def upper_shadow_ratio(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """(H - max(O, C)) / (H - L) (formula); NULL where H == L."""
    return safe_div(high - np.maximum(open_, close), high - low)


def lower_shadow_ratio(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """(min(O, C) - L) / (H - L) (formula); NULL where H == L."""
    return safe_div(np.minimum(open_, close) - low, high - low)


def distance(close: np.ndarray, level: np.ndarray) -> np.ndarray:
    """close / level - 1 (formula; dist_sma_50, dist_sma_200, dist_high_252, dist_low_252)."""
    return safe_div(close, level) - 1.0

