"""Configuration: a TOML file validated by pydantic, overridden by the environment.

Resolution order for each setting: explicit argument > environment variable > config file > default.
Secrets (API keys) are held as `SecretStr` so they never print in reprs, logs or errors; they are
stripped, checked (not empty, no control characters) and registered for redaction of vendor texts
(see marketlake.sources.redact). Validation errors are re-raised without the offending input values:
a typo'd key name (`api_kye = "..."`) would otherwise print the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from marketlake.errors import ConfigError
from marketlake.sources.redact import clean_secret, register_secret

DEFAULT_WAREHOUSE = "./warehouse"
SECRET_OPTION = re.compile(r"(?i)(secret|key|token|password|sas|credential)")
"""A `[storage]` option whose value is a secret (masked by `config show`, redacted from every message)."""
DEFAULT_CONFIG_FILES = ("marketlake.toml", "~/.config/marketlake/config.toml")


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


class BinanceConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    base_url: str = "https://api.binance.com"
    weight_per_minute: int = 6000


class UniverseConfig(BaseModel):
    """A named symbol list: explicit symbols, or a reference file and a column."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    symbols: list[str] = Field(default_factory=list)
    file: str | None = None
    column: str | None = None
    asset: str = "stocks"


class ReferenceConfig(BaseModel):
    """`[reference]`: where `symbols update` downloads the reference lists from, and where it keeps them.

    `urls` maps a list (sp500, nasdaq_listed, other_listed) to its URL (defaults: the public sources);
    `dir` is the user reference directory (default ~/.local/share/marketlake/reference).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    urls: dict[str, str] = Field(default_factory=dict)
    dir: str | None = None


class MarketlakeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    warehouse: str = DEFAULT_WAREHOUSE
    twelvedata: TwelveDataConfig = TwelveDataConfig()
    binance: BinanceConfig = BinanceConfig()
    benchmarks: dict[str, str] = Field(default_factory=dict)  # table name -> benchmark symbol
    universes: dict[str, UniverseConfig] = Field(default_factory=dict)
    tiers: dict[str, int] = Field(default_factory=dict)  # table name -> target symbol count
    reference: ReferenceConfig = ReferenceConfig()
    minute_seconds: float = 60.0
    lock_wait_seconds: float = Field(default=600.0, ge=0)  # how long a writer waits for the warehouse lock
    request_deadline_s: float = Field(default=120.0, gt=0)  # one vendor request, connect to last byte
    # object-store options for an s3:// gs:// az:// warehouse (delta-rs names: aws_endpoint_url, aws_region, ...);
    # the standard environment variables work without them. Secret-looking values are masked and redacted.
    storage: dict[str, str] = Field(default_factory=dict)


ENV_OVERRIDES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("TWELVEDATA_API_KEY", ("twelvedata", "api_key")),
    ("TWELVEDATA_BASE_URL", ("twelvedata", "base_url")),
    ("BINANCE_BASE_URL", ("binance", "base_url")),
    ("MARKETLAKE_WAREHOUSE", ("warehouse",)),
    ("MARKETLAKE_LOCK_WAIT", ("lock_wait_seconds",)),
    ("MARKETLAKE_MINUTE_SECONDS", ("minute_seconds",)),
)
"""Environment variables that override a setting: (variable, key path). They win over the file."""


def _read_file(path: str | os.PathLike[str] | None) -> tuple[dict[str, Any], Path | None]:
    """The TOML data of the named file, or of the first default file that exists (none: empty)."""
    candidates = [Path(path)] if path else [Path(p).expanduser() for p in DEFAULT_CONFIG_FILES]
    for candidate in candidates:
        if candidate.is_file():
            try:
                return tomllib.loads(candidate.read_text()), candidate
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{candidate}: not valid TOML ({exc})") from None
        if path:
            raise ConfigError(f"config file {candidate} does not exist")
    return {}, None


def resolve_config(path: str | os.PathLike[str] | None = None) -> tuple[MarketlakeConfig, dict[str, str], Path | None]:
    """The configuration, where each overridden setting came from (`dotted.key` -> "env VAR" or "file"),
    and the file read (None when there is none)."""
    data, found = _read_file(path)
    td = data.get("twelvedata")
    if isinstance(td, dict) and isinstance(td.get("api_key"), str):
        register_secret(td["api_key"])  # before any validation error can quote it
    st = data.get("storage")
    if isinstance(st, dict):
        for key, value in st.items():
            if isinstance(value, str) and SECRET_OPTION.search(str(key)):
                register_secret(value)
    origin = {key: "file" for key in _leaf_keys(data)}
    env = os.environ
    for var, keys in ENV_OVERRIDES:
        if env.get(var):
            section: dict[str, Any] = data
            for k in keys[:-1]:
                inner = section.get(k)
                section[k] = inner = dict(inner) if isinstance(inner, dict) else {}
                section = inner
            section[keys[-1]] = env[var]
            origin[".".join(keys)] = f"env {var}"
    try:
        return MarketlakeConfig.model_validate(data), origin, found
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration{_where(path)}: {describe_validation_error(exc)}") from None


def _leaf_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        out += _leaf_keys(value, f"{name}.") if isinstance(value, dict) else [name]
    return out


def load_config(path: str | os.PathLike[str] | None = None) -> MarketlakeConfig:
    """Read the config file (if any) and apply environment overrides.

    Resolution for each setting: environment variable (ENV_OVERRIDES) > config file > default.

    Raises:
        ConfigError: the file does not exist (when named explicitly) or does not validate.
    """
    return resolve_config(path)[0]


def _where(path: str | os.PathLike[str] | None) -> str:
    return f" ({path})" if path else ""


def describe_validation_error(exc: ValidationError) -> str:
    """Each error as `location: message`, WITHOUT the input values pydantic would print.

    Why: `str(exc)` quotes every offending value (`input_value='td-...'`), so a misspelt `api_key`
    (an extra field) or a key under the wrong table would be printed in full.
    """
    parts = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
        hint = " (unknown setting: check its spelling)" if err.get("type") == "extra_forbidden" else ""
        parts.append(f"{loc}: {err.get('msg', 'invalid')}{hint}")
    return "; ".join(parts)


__all__ = ["ENV_OVERRIDES", "BinanceConfig", "MarketlakeConfig", "ReferenceConfig", "TwelveDataConfig", "UniverseConfig",
           "describe_validation_error", "load_config", "resolve_config"]
