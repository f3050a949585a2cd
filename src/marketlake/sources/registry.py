"""Sources register by name; the CLI and the pipeline find them here and never hard-code vendors."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from marketlake.errors import ConfigError

T = TypeVar("T", bound=type)

_REGISTRY: dict[str, type] = {}
# Modules that register built-in sources when imported (import is lazy: vendors pull in httpx).
_BUILTIN_MODULES: dict[str, str] = {
    "synthetic": "marketlake.sources.synthetic",
    "csv": "marketlake.sources.files",
    "parquet": "marketlake.sources.files",
    "twelvedata": "marketlake.sources.twelvedata",
    "binance": "marketlake.sources.binance",
}


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make a source available as `name`."""

    def deco(cls: T) -> T:
        _REGISTRY[name] = cls
        return cls

    return deco


def get_source_class(name: str) -> type:
    if name not in _REGISTRY and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown source {name!r}; available: {', '.join(available_sources())}"
        ) from None


def get_source(name: str, **options: Any) -> Any:
    """An instance of the source registered as `name`, built with `options`."""
    return get_source_class(name)(**options)


def available_sources() -> list[str]:
    return sorted(set(_REGISTRY) | set(_BUILTIN_MODULES))


__all__ = ["available_sources", "get_source", "get_source_class", "register"]
