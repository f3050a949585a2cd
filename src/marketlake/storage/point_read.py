"""Point reads (a few row groups out of each of many local files) through Polars' Parquet reader.

Why a second reader: Arrow's C++ reader pays ~30-45 us per column chunk whatever its size, so a
one-symbol read of a daily table (one 1,024-row group x 97 columns in each of ~42 monthly files) costs
~4.5 ms a file, ~190 ms in all, slower than `polars.scan_delta` replaying the whole log. Polars decodes
the same row groups for about a third of the CPU. Full scans stay on Arrow (`storage.files`), which is
faster there and is tuned to read whole files.

What this reader does not do: verify page checksums (Arrow does, on every other read). A garbled page
in a point read is caught by `marketlake quality` (its `corruption` check decodes every page with its
checksum), by any full read, and by the janitor's scan; a file Polars cannot decode at all falls back to
the Arrow path, which names the damaged file.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import pyarrow as pa

SELECTIVE_SHARE = 0.25
"""At most this share of the chosen files' row groups kept: a point read (one symbol: 1 of ~15 groups)."""
MIN_FILES = 4
"""Below this many files the Arrow path's per-file cost is small anyway."""


def worth_it(kept_groups: int, total_groups: int, files: int) -> bool:
    """Whether a read of `kept_groups` of `total_groups` row groups over `files` files is a point read."""
    return files >= MIN_FILES and total_groups > 0 and kept_groups <= SELECTIVE_SHARE * total_groups


FEW_SYMBOLS = 2
"""A read of at most this many symbols over files of several row groups each is taken as a point read
from the Delta log alone (`likely`), before any footer is parsed."""


def likely(records: list[int], group_rows: int, symbols: int) -> bool:
    """Whether a read of `symbols` symbols over files of `records` rows is a point read, judged from the
    Delta log: files of at least 4 row groups each, at most `FEW_SYMBOLS` symbols. Then the Arrow footers
    (~3.4 ms each to parse on a first read, ~140 ms for a daily table's 42 files) are never loaded: Polars
    reads its own. A wrong guess costs speed only: Polars applies the filter itself."""
    return (0 < symbols <= FEW_SYMBOLS and len(records) >= MIN_FILES
            and min(records) >= 4 * group_rows)


@functools.lru_cache(maxsize=64)
def _polars_schema(schema: pa.Schema) -> Any:
    """Polars' schema for `schema` (converting one costs ~25 ms: once per column selection)."""
    import polars as pl

    return pl.DataFrame(schema.empty_table()).schema


def read(
    paths: list[str],
    schema: pa.Schema,
    *,
    symbols: list[str] | None,
    start: datetime | None,
    end: datetime | None,
) -> pa.Table:
    """Rows of `paths` (in that order) matching the symbols and the inclusive [start, end], typed as
    `schema` (strings as `string`, absent columns NULL). Raises what Polars raises on a bad file: the
    caller falls back to the Arrow path, which reports it.

    Raises `Unreadable` when Polars fails on a file; any other exception is a bug and propagates."""
    import polars as pl  # imported on the first point read only (~0.2 s)

    lf = pl.scan_parquet(
        paths, schema=_polars_schema(schema), hive_partitioning=False, glob=False, cache=False,
        missing_columns="insert", extra_columns="ignore",
    )
    predicate = None
    if symbols:
        predicate = pl.col("symbol").is_in(sorted(set(symbols)))
    if start is not None:
        predicate = pl.col("datetime") >= start if predicate is None else predicate & (pl.col("datetime") >= start)
    if end is not None:
        predicate = pl.col("datetime") <= end if predicate is None else predicate & (pl.col("datetime") <= end)
    if predicate is not None:
        lf = lf.filter(predicate)
    try:
        frame = lf.select(schema.names).collect().rechunk()  # one chunk per column: to_arrow is then ~1 ms
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise Unreadable(str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__) from None
    return frame.to_arrow().cast(schema)


class Unreadable(Exception):
    """Polars could not read one of the files (damaged, or a layout it does not take): read with Arrow."""


__all__ = ["FEW_SYMBOLS", "MIN_FILES", "SELECTIVE_SHARE", "Unreadable", "likely", "read", "worth_it"]
