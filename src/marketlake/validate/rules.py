"""The validation rules: stable ids, their order of precedence and a human reason template.

A row that breaks several rules is quarantined once, under the first rule in ``RULES`` order (the
most basic defect wins: a missing value explains a failed price check, not the other way round);
its reason names every column involved in that rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

RULES: Mapping[str, str] = MappingProxyType(
    {
        "missing_value": "missing value in {cols}",
        "non_numeric": "value does not parse as a number in {cols}",
        "non_finite": "NaN or infinite value in {cols}",
        "unparseable_datetime": "datetime is missing or could not be parsed",
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

__all__ = ["RULES", "RULE_IDS"]
