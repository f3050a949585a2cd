"""Sources turn the outside world (vendors, files, a synthetic market) into raw bars and metadata."""

from marketlake.sources.base import BarSource, RawBatch, empty_raw_bars
from marketlake.sources.registry import (
    available_sources,
    get_source,
    get_source_class,
    register,
    register_vendor,
    vendor,
    vendors,
)

__all__ = ["BarSource", "RawBatch", "available_sources", "empty_raw_bars", "get_source", "get_source_class", "register",
           "register_vendor", "vendor", "vendors"]
