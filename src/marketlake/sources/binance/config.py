"""`[binance]` in `marketlake.toml`: the vendor's config model (pydantic only: cheap to import)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BinanceConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    base_url: str = "https://api.binance.com"
    weight_per_minute: int = 6000
    recheck_inactive_days: int = Field(default=30, ge=0)  # a pair Binance called invalid is asked again after


__all__ = ["BinanceConfig"]
