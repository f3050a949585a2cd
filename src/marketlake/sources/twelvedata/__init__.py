"""TwelveData: budgeted httpx client, raw wire schema, pure converter, fetcher; registered as a vendor.

Files (the same set for every vendor): `client.py` (the only I/O), `wire.py` (raw wire schema),
`convert.py` (wire -> raw bars), `fetcher.py` (build requests -> extract -> transform),
`symbols.py` (symbol master from vendor lists and reference files), `config.py` (the `[twelvedata]`
model), `vendor.py` (the registry entry and the fetch interface the ingestion verb uses),
`source.py` (a `BarSource` view and `make_client`).

Attributes are imported lazily: the registry and the config read `config.py`/`vendor.py` without
paying for httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from marketlake.sources.twelvedata.client import TwelveDataClient
    from marketlake.sources.twelvedata.source import TwelveDataSource, make_client
    from marketlake.sources.twelvedata.wire import WireError

_LAZY = {
    "TwelveDataClient": "marketlake.sources.twelvedata.client",
    "TwelveDataSource": "marketlake.sources.twelvedata.source",
    "make_client": "marketlake.sources.twelvedata.source",
    "WireError": "marketlake.sources.twelvedata.wire",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)


__all__ = ["TwelveDataClient", "TwelveDataSource", "WireError", "make_client"]
