"""What every source yields, and the protocol a source class follows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

import pandas as pd

from marketlake.schema import TableSpec


@dataclass(frozen=True)
class RawBatch:
    """A batch of raw bars and, when the source knows it, their symbols' metadata.

    `bars` follows the raw-bar contract of docs/internals.md: `symbol`, `datetime` (UTC, NaT where
    unparseable), `open..volume` (float64 or raw strings), optional `_location` and `_raw`.
    `metadata` has `symbol` plus any of the metadata columns of the catalogue.
    """

    bars: pd.DataFrame
    metadata: pd.DataFrame | None = None


@runtime_checkable
class BarSource(Protocol):
    """A source of raw bars (vendor, file or generator). It knows nothing about storage."""

    name: ClassVar[str]

    def fetch(
        self,
        symbols: Sequence[str] | None,
        table: TableSpec,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[RawBatch]:
        """Yield raw bars for `symbols` (None: all the source has) on `table`'s timeframe."""
        ...

    def metadata(self, symbols: Sequence[str] | None = None) -> pd.DataFrame:
        """Symbol metadata (`symbol` + metadata columns) for the symbols the source knows."""
        ...


def empty_raw_bars() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": pd.Series([], dtype=object),
            "datetime": pd.Series([], dtype="datetime64[us, UTC]"),
            **{c: pd.Series([], dtype="float64") for c in ("open", "high", "low", "close", "volume")},
        }
    )


SourceOptions = dict[str, Any]

__all__ = ["BarSource", "RawBatch", "SourceOptions", "empty_raw_bars"]
