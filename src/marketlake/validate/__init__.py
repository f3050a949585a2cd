"""Validation: raw bars in, clean bars and quarantine rows out. Pure functions, no I/O."""

from marketlake.validate.bars import ValidationResult, validate_bars
from marketlake.validate.grid import exchange_zone, grid_between, grid_status, sessions
from marketlake.validate.rules import RULE_IDS, RULES

__all__ = [
    "RULES",
    "RULE_IDS",
    "ValidationResult",
    "exchange_zone",
    "grid_between",
    "grid_status",
    "sessions",
    "validate_bars",
]
