"""Pydantic models of `[coverage.<table>]` and `[sync]` (no imports beyond pydantic: config.py uses them).

A universe is one of:
- a list of symbols: `universe = ["AAPL", "MSFT"]`;
- a string: a universe name (`[universes.<name>]`, a built-in such as `sp500`, or `us_listed`: the S&P 500
  first, then every other US-listed common stock of the reference lists), else a file path
  (one symbol per line, or a CSV with a `Symbol` column);
- a rule over the warehouse: `universe = { rule = "top", n = 500, by = "median_dollar_volume_20",
  from = "stocks_daily_clean", rerank = "weekly", hysteresis = 0.1 }` (see `coverage.rules`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RankBy = Literal["median_dollar_volume_20", "median_volume_20"]


class UniverseRule(BaseModel):
    """Top `n` symbols of table `from` by `by`, re-ranked every `rerank`, with a hysteresis band.

    Why hysteresis: a symbol ranked 499 one week and 502 the next would be dropped and re-added (its
    history in the covered table cut, backfills re-bought). A member keeps its place while it ranks within
    `n * (1 + hysteresis)`; newcomers fill only the places left.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    rule: Literal["top"] = "top"
    n: int = Field(gt=0)
    by: RankBy = "median_dollar_volume_20"
    from_table: str = Field(alias="from")
    rerank: Literal["daily", "weekly", "monthly"] = "weekly"
    hysteresis: float = Field(default=0.1, ge=0.0, le=1.0)
    among: list[str] | str | None = None  # optional candidate list or universe name (default: all stored)


class CoverageConfig(BaseModel):
    """`[coverage.<table>]`: the source, the symbols, and optionally the refresh cadence and history depth."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    source: str
    universe: list[str] | str | UniverseRule
    cadence: str | None = None  # default: the table's bar interval (e.g. 1h for an hourly table)
    history: str | None = None  # default: the table's history target (tables.md), e.g. 3y, 366d, 26w
    limit: int | None = Field(default=None, gt=0)  # at most this many of the universe's symbols, in its order


class SyncConfig(BaseModel):
    """`[sync]`: notifications and the watch loop's bounds."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    notify_webhook: str | None = None  # POSTed a JSON object on failure or staleness
    notify_command: str | None = None  # run with the JSON object on stdin (shell-free: split like a command line)
    stale_after: str | None = None  # a table is stale when its last bar lags by more (default: 3 cadences)
    backoff_max_s: float = Field(default=900.0, gt=0)  # longest wait after repeated vendor failures
    max_sleep_s: float = Field(default=300.0, gt=0)  # the watch loop re-checks at least this often


__all__ = ["CoverageConfig", "RankBy", "SyncConfig", "UniverseRule"]
