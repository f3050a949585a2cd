"""`[twelvedata]` in `marketlake.toml`: the vendor's config model (pydantic only: cheap to import)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from marketlake.sources.redact import clean_secret


class TwelveDataConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    api_key: SecretStr | None = None
    base_url: str = "https://api.twelvedata.com"
    plan: str = "basic"
    credits_per_minute: int | None = None  # for plan = "custom"
    credits_per_day: int | None = None
    recheck_inactive_days: int = Field(default=30, ge=0)  # a symbol deactivated by a 404 is asked again after

    @field_validator("api_key", mode="before")
    @classmethod
    def _clean_key(cls, value: object) -> object:
        """Strip and check the key before it is wrapped (raises ConfigError, never echoing it)."""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            return SecretStr(clean_secret(value, name="TwelveData API key"))
        return value


__all__ = ["TwelveDataConfig"]
