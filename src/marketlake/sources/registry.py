"""Sources register by name; the CLI, the config, the pipeline and `quality --fix` find them here.

Two kinds of entries:
- bar sources (`register(name)`, a class decorator): anything with `fetch(symbols, table, start, end)`
  (synthetic, csv, parquet, and a `BarSource` view of each vendor);
- vendors (`register_vendor(vendor)`): a `sources.vendor.Vendor`, which the vendor-agnostic ingestion
  verb (`pipeline.ingestion.ingest`), `marketlake ingest <name>` and `marketlake sync` use. A vendor
  brings its config model (`[<name>]` in `marketlake.toml`), client factory, tables, fetch interface
  and costs.

Built-ins are imported lazily (vendors pull in httpx); third-party vendors register either by calling
`register_vendor(...)` or through an entry point in the group `marketlake.sources` whose object is a
`Vendor` instance or subclass (docs/vendors.md). This module is the only place that names vendors.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from marketlake.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from marketlake.sources.vendor import Vendor

log = logging.getLogger(__name__)
T = TypeVar("T", bound=type)
ENTRY_POINT_GROUP = "marketlake.sources"

_REGISTRY: dict[str, type] = {}
_VENDORS: dict[str, Vendor] = {}
# Modules that register built-in bar sources when imported (import is lazy: vendors pull in httpx).
_BUILTIN_MODULES: dict[str, str] = {
    "synthetic": "marketlake.sources.synthetic",
    "csv": "marketlake.sources.files",
    "parquet": "marketlake.sources.files",
    "twelvedata": "marketlake.sources.twelvedata.source",
    "binance": "marketlake.sources.binance.source",
}
# Built-in vendors: name -> "module:attribute" of their `Vendor` instance (light modules: no httpx).
_BUILTIN_VENDORS: dict[str, str] = {
    "twelvedata": "marketlake.sources.twelvedata.vendor:VENDOR",
    "binance": "marketlake.sources.binance.vendor:VENDOR",
}
_entry_points_loaded = False


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make a bar source available as `name`."""

    def deco(cls: T) -> T:
        _REGISTRY[name] = cls
        return cls

    return deco


def register_vendor(vendor: Vendor | type[Vendor]) -> Vendor:
    """Make `vendor` available to `ingest`, `marketlake ingest <name>`, `sync` and the config.

    A second registration under the same name replaces the first (a test suite may re-register).
    Returns the instance (a class is instantiated without arguments).
    """
    from marketlake.sources.vendor import Vendor as Base

    instance = vendor() if isinstance(vendor, type) else vendor
    if not isinstance(instance, Base) or not getattr(instance, "name", None):
        raise ConfigError(f"register_vendor needs a marketlake.sources.vendor.Vendor with a name, got {vendor!r}")
    _VENDORS[instance.name] = instance
    return instance


def unregister_vendor(name: str) -> None:
    """Forget a vendor registered with `register_vendor` (tests clean up after themselves)."""
    _VENDORS.pop(name, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _VENDORS or ep.name in _BUILTIN_VENDORS:
            continue
        try:
            register_vendor(ep.load())
        except Exception as exc:  # a broken plug-in must not break every command
            log.warning("source entry point %s (%s) failed to load: %s", ep.name, ep.value, exc)


def vendor(name: str) -> Vendor:
    """The vendor registered as `name`.

    Raises:
        ConfigError: no such vendor (the message lists the registered ones).
    """
    if name not in _VENDORS and name in _BUILTIN_VENDORS:
        module, _, attr = _BUILTIN_VENDORS[name].partition(":")
        register_vendor(getattr(importlib.import_module(module), attr))
    if name not in _VENDORS:
        _load_entry_points()
    try:
        return _VENDORS[name]
    except KeyError:
        raise ConfigError(f"unknown vendor {name!r}; registered vendors: {', '.join(vendors())}") from None


def vendors() -> list[str]:
    """Names of the vendors `ingest` can ingest from (built-in, registered, entry points), sorted."""
    _load_entry_points()
    return sorted(set(_VENDORS) | set(_BUILTIN_VENDORS))


def is_vendor(name: str) -> bool:
    return name in _VENDORS or name in _BUILTIN_VENDORS or name in vendors()


def sources() -> list[str]:
    """Every registered source name: vendors and bar sources (e.g. to check a coverage entry's `source`)."""
    return sorted(set(_REGISTRY) | set(_BUILTIN_MODULES) | set(vendors()))


def config_model(name: str) -> type[BaseModel]:
    """The pydantic model of vendor `name`'s `[<name>]` config section."""
    return vendor(name).config_model


def refetchable() -> list[str]:
    """Sources `quality --fix` can re-fetch a gap from: the synthetic market and every refetchable vendor."""
    return sorted({"synthetic", *(n for n in vendors() if vendor(n).refetchable)})


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
    """An instance of the bar source registered as `name`, built with `options`.

    A vendor without a bar-source class of its own is served by its `Vendor.bar_source`.
    """
    if name not in _REGISTRY and name not in _BUILTIN_MODULES and is_vendor(name):
        from marketlake.config import load_config

        source = vendor(name).bar_source(load_config(), options)
        if source is None:
            raise ConfigError(f"vendor {name!r} offers no bar source (only `marketlake ingest {name}`)")
        return source
    return get_source_class(name)(**options)


def available_sources() -> list[str]:
    return sources()


__all__ = ["ENTRY_POINT_GROUP", "available_sources", "config_model", "get_source", "get_source_class", "is_vendor",
           "refetchable", "register", "register_vendor", "sources", "unregister_vendor", "vendor", "vendors"]
