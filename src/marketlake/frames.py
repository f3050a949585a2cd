"""Arrow tables handed to users as the frame library they asked for (`as_="pandas"|"polars"|"arrow"`)."""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa

from marketlake.errors import ConfigError

OutputKind = Literal["pandas", "arrow", "polars"]


def to_frame(table: pa.Table, as_: OutputKind | str) -> Any:
    """`table` as pandas (the default everywhere), Polars, or unchanged Arrow."""
    if as_ == "arrow":
        return table
    if as_ == "polars":
        import polars as pl

        return pl.from_arrow(table)
    if as_ == "pandas":
        return table.to_pandas()
    raise ConfigError(f"as_ must be 'pandas', 'polars' or 'arrow', not {as_!r}")


__all__ = ["OutputKind", "to_frame"]
