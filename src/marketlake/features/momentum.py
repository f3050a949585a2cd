"""Momentum and oscillators: per-symbol kernels, each equal to the TA-Lib function it names.

Every TA-Lib parameter is passed explicitly (TA-Lib defaults differ from the usual ones).
"""

from __future__ import annotations

import numpy as np

from marketlake.features._talib import talib


def rsi(close: np.ndarray, *, timeperiod: int = 14) -> np.ndarray:
    """TA-Lib RSI(close, timeperiod) (Wilder smoothing)."""
    return talib.RSI(close, timeperiod=timeperiod)


def macd(
    close: np.ndarray, *, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TA-Lib MACD(close, fast, slow, signal) -> (macd, signal, histogram)."""
    return talib.MACD(close, fastperiod=fastperiod, slowperiod=slowperiod, signalperiod=signalperiod)


def stoch(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    *,
    fastk_period: int = 14,
    slowk_period: int = 3,
    slowk_matype: int = 0,
    slowd_period: int = 3,
    slowd_matype: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """TA-Lib STOCH(H, L, C, fastk, slowk + matype, slowd + matype) -> (slow %K, slow %D)."""
    return talib.STOCH(
        high, low, close,
        fastk_period=fastk_period, slowk_period=slowk_period, slowk_matype=slowk_matype,
        slowd_period=slowd_period, slowd_matype=slowd_matype,
    )


def williams_r(high: np.ndarray, low: np.ndarray, close: np.ndarray, *, timeperiod: int = 14) -> np.ndarray:
    """TA-Lib WILLR(H, L, C, timeperiod)."""
    return talib.WILLR(high, low, close, timeperiod=timeperiod)


def roc(close: np.ndarray, *, timeperiod: int = 10) -> np.ndarray:
    """TA-Lib ROC(close, timeperiod): 100 * (C_t / C_t-n - 1)."""
    return talib.ROC(close, timeperiod=timeperiod)


def mom(close: np.ndarray, *, timeperiod: int = 10) -> np.ndarray:
    """TA-Lib MOM(close, timeperiod): C_t - C_t-n."""
    return talib.MOM(close, timeperiod=timeperiod)


def cci(high: np.ndarray, low: np.ndarray, close: np.ndarray, *, timeperiod: int = 20) -> np.ndarray:
    """TA-Lib CCI(H, L, C, timeperiod)."""
    return talib.CCI(high, low, close, timeperiod=timeperiod)


def ppo(close: np.ndarray, *, fastperiod: int = 12, slowperiod: int = 26, matype: int = 1) -> np.ndarray:
    """TA-Lib PPO(close, fast, slow, matype) (matype 1 = EMA)."""
    return talib.PPO(close, fastperiod=fastperiod, slowperiod=slowperiod, matype=matype)


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, *, timeperiod: int = 14) -> np.ndarray:
    """TA-Lib ADX(H, L, C, timeperiod)."""
    return talib.ADX(high, low, close, timeperiod=timeperiod)


def plus_di(high: np.ndarray, low: np.ndarray, close: np.ndarray, *, timeperiod: int = 14) -> np.ndarray:
    """TA-Lib PLUS_DI(H, L, C, timeperiod)."""
    return talib.PLUS_DI(high, low, close, timeperiod=timeperiod)


def minus_di(high: np.ndarray, low: np.ndarray, close: np.ndarray, *, timeperiod: int = 14) -> np.ndarray:
    """TA-Lib MINUS_DI(H, L, C, timeperiod)."""
    return talib.MINUS_DI(high, low, close, timeperiod=timeperiod)
