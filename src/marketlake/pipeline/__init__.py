"""Wires one run: source -> validate -> features -> storage, with progress and a report.

Attributes are imported lazily so that light users (the CLI's `schema` command, `report`) do not pay
for TA-Lib and Delta imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from marketlake.pipeline.core import load_bars
    from marketlake.pipeline.ingest import ingest_source
    from marketlake.pipeline.report import LoadReport

_LAZY = {
    "load_bars": "marketlake.pipeline.core",
    "ingest_source": "marketlake.pipeline.ingest",
    "LoadReport": "marketlake.pipeline.report",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)


__all__ = ["LoadReport", "ingest_source", "load_bars"]
