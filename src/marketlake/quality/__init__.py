"""The quality monitor: nine checks over the production tables, stored runs, and repairs.

Checks (see `issues.CHECKS`): schema conformance, NULLs beyond warm-up, metadata completeness,
coverage against targets, missing bars against the exchange calendar, duplicate keys and OHLC sanity,
staleness, unadjusted splits and outliers, dependency gaps of the relative-performance fields.
All checks are vectorised over one symbol group of a table at a time (`quality.groups`, `quality.frame`).
"""

from marketlake.quality.issues import CHECKS, DEFAULT_TARGETS, Issue, QualityConfig
from marketlake.quality.runner import QualityReport, check_all, run_quality, universes_from_config

__all__ = ["CHECKS", "DEFAULT_TARGETS", "Issue", "QualityConfig", "QualityReport", "check_all", "run_quality",
           "universes_from_config"]
