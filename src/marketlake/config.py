"""Configuration: a TOML file validated by pydantic, overridden by the environment.

Resolution order for each setting: explicit argument > environment variable > config file > default.
Vendor sections (`[twelvedata]`, `[binance]`, any registered vendor's `[<name>]`) are validated by the
model the vendor registered (`sources.registry.config_model`): this module names no vendor.
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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from marketlake.coverage.model import CoverageConfig, SyncConfig
from marketlake.errors import ConfigError
from marketlake.sources import registry
from marketlake.sources.redact import register_secret

DEFAULT_WAREHOUSE = "./warehouse"
SECRET_OPTION = re.compile(r"(?i)(secret|key|token|password|sas|credential)")
"""A `[storage]` option whose value is a secret (masked by `config show`, redacted from every message)."""
DEFAULT_CONFIG_FILES = ("marketlake.toml", "~/.config/marketlake/config.toml")


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
    sources: dict[str, Any] = Field(default_factory=dict)
    """Vendor sections by vendor name (each its registered model); read them with `source_config`."""
    benchmarks: dict[str, str] = Field(default_factory=dict)  # table name -> benchmark symbol
    universes: dict[str, UniverseConfig] = Field(default_factory=dict)
    tiers: dict[str, int] = Field(default_factory=dict)  # table name -> target symbol count
    reference: ReferenceConfig = ReferenceConfig()
    minute_seconds: float = 60.0
    lock_wait_seconds: float = Field(default=600.0, ge=0)  # how long a writer waits for the warehouse lock
    request_deadline_s: float = Field(default=120.0, gt=0)  # one vendor request, connect to last byte
    memory_budget: str | None = None  # a load's memory (`4G`, `512M`); None: 25% of RAM, at most 6 GiB
    coverage: dict[str, CoverageConfig] = Field(default_factory=dict)  # production table -> its coverage plan
    sync: SyncConfig = SyncConfig()
    # object-store options for an s3:// gs:// az:// warehouse (delta-rs names: aws_endpoint_url, aws_region, ...);
    # the standard environment variables work without them. Secret-looking values are masked and redacted.
    storage: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _vendor_sections(cls, data: Any) -> Any:
        """Move `[<vendor>]` sections into `sources`, each validated by its vendor's registered model."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        sections = dict(data.pop("sources", None) or {})
        for key in [k for k in data if k not in cls.model_fields]:
            if registry.is_vendor(key):
                sections[key] = data.pop(key)
        for name, value in sections.items():
            model = registry.config_model(name)
            sections[name] = value if isinstance(value, model) else _validate_section(name, model, value)
        data["sources"] = sections
        return data

    def source_config(self, name: str) -> Any:
        """Vendor `name`'s section (its registered config model; the model's defaults when absent)."""
        found = self.sources.get(name)
        return found if found is not None else registry.config_model(name)()

    def __getattr__(self, name: str) -> Any:
        """`config.twelvedata`: a registered vendor's section, as if it were a field."""
        if not name.startswith("_") and registry.is_vendor(name):
            return self.source_config(name)
        return super().__getattr__(name)  # type: ignore[misc]


def _validate_section(name: str, model: type[BaseModel], value: Any) -> BaseModel:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        located = "; ".join(f"{name}.{part}" for part in describe_validation_error(exc).split("; "))
        raise ConfigError(f"invalid configuration: {located}") from None


def env_overrides() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`ENV_OVERRIDES` plus each registered vendor's (variable, (vendor, key)) pairs."""
    extra = tuple((var, (name, key)) for name in registry.vendors() for var, key in registry.vendor(name).env)
    return ENV_OVERRIDES + extra


ENV_OVERRIDES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("MARKETLAKE_WAREHOUSE", ("warehouse",)),
    ("MARKETLAKE_LOCK_WAIT", ("lock_wait_seconds",)),
    ("MARKETLAKE_MINUTE_SECONDS", ("minute_seconds",)),
    ("MARKETLAKE_MEMORY_BUDGET", ("memory_budget",)),
)
"""Environment variables that override a core setting: (variable, key path). They win over the file.
Vendors add their own (`Vendor.env`, e.g. TWELVEDATA_API_KEY): see `env_overrides`."""


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
    _register_secrets(data)  # before any validation error can quote them
    st = data.get("storage")
    if isinstance(st, dict):
        for key, value in st.items():
            if isinstance(value, str) and SECRET_OPTION.search(str(key)):
                register_secret(value)
    origin = {key: "file" for key in _leaf_keys(data)}
    env = os.environ
    for var, keys in env_overrides():
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


def _register_secrets(data: dict[str, Any]) -> None:
    """Register every string given for a `SecretStr` setting of a vendor section (e.g. `api_key`)."""
    for name, section in data.items():
        if not isinstance(section, dict) or not registry.is_vendor(name):
            continue
        fields = registry.config_model(name).model_fields
        for key, value in section.items():
            if isinstance(value, str) and key in fields and "SecretStr" in str(fields[key].annotation):
                register_secret(value)


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


def __getattr__(name: str) -> Any:
    """Vendor config models by class name (`from marketlake.config import TwelveDataConfig`), from the registry."""
    if name.endswith("Config") and not name.startswith("_"):
        for vendor in registry.vendors():
            model = registry.config_model(vendor)
            if model.__name__ == name:
                return model
    raise AttributeError(name)


__all__ = ["ENV_OVERRIDES", "MarketlakeConfig", "ReferenceConfig", "UniverseConfig", "describe_validation_error",
           "env_overrides", "load_config", "resolve_config"]
