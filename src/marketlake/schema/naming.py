"""The naming convention of tables.md: classify any object found in a warehouse directory."""

from __future__ import annotations

import re
from typing import Literal

from marketlake.schema.tables import TABLE_NAMES

ObjectClass = Literal["production", "support", "legacy", "temp", "unknown"]

SUPPORT_TABLES: tuple[str, ...] = (
    "symbols",
    "quarantine",
    "ingest_state",
    "api_usage",
    "quality_runs",
    "quality_issues",
    "janitor_log",
    "earnings_calendar",
    "corporate_actions",
    "signals",
    "dataset_manifests",
    "feature_state",
    "sync_runs",
    "coverage_members",
)
SUPPORT_PREFIXES: tuple[str, ...] = ("fundamentals_",)

_TEMP = re.compile(r"^_?temp_|^_?tmp_|^_staging|^\.staging|^_temp")
_LEGACY = (
    re.compile(r"^v\d+_"),
    re.compile(r"^weekly_.*_all$"),
    re.compile(r".*_training.*"),
    re.compile(r".*_unified_.*"),
)
_PRODUCTION_LIKE = re.compile(r"^(stocks|crypto)_(daily|hourly|1min|\d+min|weekly)_clean(_.+|\d+)$")
_PRODUCTION_SHAPE = re.compile(r"^(stocks|crypto)_(daily|hourly|\d+min|weekly)_clean$")


def classify(name: str) -> ObjectClass:
    """Class of a warehouse object by its name.

    `temp`: leftovers of half-finished loads (`temp_*`, `_temp_*`). `legacy`: names the convention
    forbids (`v2_*`, `weekly_*_all`, `*_training*`, `*_unified_*`, versioned production names,
    production-shaped names of retired timeframes such as `stocks_5min_clean`).
    """
    if name in TABLE_NAMES:
        return "production"
    if name in SUPPORT_TABLES or name.startswith(SUPPORT_PREFIXES):
        return "support"
    if _TEMP.search(name):
        return "temp"
    if any(p.match(name) for p in _LEGACY) or _PRODUCTION_LIKE.match(name) or _PRODUCTION_SHAPE.match(name):
        return "legacy"
    return "unknown"


__all__ = ["ObjectClass", "SUPPORT_PREFIXES", "SUPPORT_TABLES", "classify"]
