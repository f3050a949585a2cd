"""The validation rules: stable ids, their order of precedence and a human reason template.

A row that breaks several rules is quarantined once, under the first rule in ``RULES`` order (the
most basic defect wins: a missing value explains a failed price check, not the other way round);
its reason names every column involved in that rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

import pandas as pd

SYMBOL_PATTERN = r"^[A-Za-z0-9.\-/^=:_]{1,32}$"
"""What a symbol may be: ASCII letters, digits and ``. - / ^ = : _``, 1 to 32 characters.

Why so permissive and no more: real tickers need the punctuation (``BRK.B``, ``BF-B``, ``BTC/USD``,
``^GSPC``, ``ES=F``, ``EUR:USD``), while a newline, a control or bidi character, a quote or a space in
a symbol would corrupt terminal output, CSV exports or a SQL text built by a user, and never names
a real instrument.
"""

_SYMBOL_RE = re.compile(SYMBOL_PATTERN)

DATETIME_MIN = "1900-01-01"
DATETIME_END = "2200-01-01"
"""Bars are dated in [DATETIME_MIN, DATETIME_END) UTC; anything else is quarantined as unparseable.

Why: such stamps are typos or sentinels (``1000-01-01``, ``9999-12-31``), and beyond 2262 they do not
fit the nanosecond arithmetic of pandas, the calendars and the feature engine at all."""


def symbol_is_valid(symbol: str) -> bool:
    """True when `symbol` (already stripped) fits SYMBOL_PATTERN in full."""
    return _SYMBOL_RE.fullmatch(symbol) is not None


def bounded(idx: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """`idx` with NaT outside [DATETIME_MIN, DATETIME_END) (any unit; naive stamps compared as UTC)."""
    lo, hi = pd.Timestamp(DATETIME_MIN), pd.Timestamp(DATETIME_END)
    if idx.tz is not None:
        lo, hi = lo.tz_localize("UTC"), hi.tz_localize("UTC")
    return idx.where((idx >= lo) & (idx < hi))


RULES: Mapping[str, str] = MappingProxyType(
    {
        "missing_value": "missing value in {cols}",
        "invalid_symbol": "invalid symbol: only letters, digits and . - / ^ = : _, 1 to 32 characters",
        "non_numeric": "value does not parse as a number in {cols}",
        "non_finite": "NaN or infinite value in {cols}",
        "unparseable_datetime": "datetime is missing, could not be parsed, or is outside 1900-01-01..2199-12-31",
        "non_positive_price": "price <= 0 in {cols}",
        "high_below_low": "high < low",
        "high_below_open_close": "high below open/close ({cols})",
        "low_above_open_close": "low above open/close ({cols})",
        "negative_volume": "volume < 0",
        "outside_session": "timestamp outside the exchange's trading sessions",
        "off_grid": "timestamp not on the {timeframe} bar grid",
        "duplicate_identical": "identical duplicate of the bar kept for this (symbol, datetime)",
        "duplicate_conflict": "conflicting duplicate: another row for this (symbol, datetime) was kept",
    }
)
"""Rule id -> reason template, in order of precedence."""

RULE_IDS: tuple[str, ...] = tuple(RULES)

__all__ = ["DATETIME_END", "DATETIME_MIN", "RULES", "RULE_IDS", "SYMBOL_PATTERN", "bounded", "symbol_is_valid"]
