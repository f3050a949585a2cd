"""The `parquet` source: bars from a Parquet file or a directory of them, streamed by record batch.

Same columns, aliases and time rules as CSV (see parse.py). Typed timestamp columns are honoured:
zone-aware ones as they are, naive ones in the zone option. Locations read ``file.parquet:row N``
(1-based row within the file). Binary-typed columns are read as UTF-8 text (see `_binary_as_text`). An
unreadable file raises ParseError.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from marketlake.errors import ParseError
from marketlake.schema import TableSpec
from marketlake.sources.base import RawBatch
from marketlake.sources.files.common import FileSource, finish_chunk
from marketlake.sources.files.parse import REQUIRED, canonical_columns
from marketlake.sources.registry import register


def _as_text_datetimes(col: pd.Series) -> pd.Series:
    """Typed timestamps -> ISO text so one parser applies the zone and daily-session rules."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    if pd.api.types.is_datetime64_dtype(col.dtype):
        return col.dt.strftime("%Y-%m-%d %H:%M:%S")
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.astype(str)
    return col


def _binary_as_text(rb: pa.RecordBatch) -> pa.RecordBatch:
    """Binary-typed columns as UTF-8 text; bytes that are not UTF-8 are shown as ``\\xff`` escapes.

    Why not an error: a binary column is a writer's typing choice, and one bad value is a row fault,
    not a file fault: the escaped text fails the number, symbol or datetime rule of its row, which is
    quarantined with its raw value visible, while the other rows load.
    """
    cols = []
    for col in rb.columns:
        t = col.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            try:
                col = pc.cast(col, pa.large_string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                col = pa.array([None if v is None else v.decode("utf-8", "backslashreplace")
                                for v in col.to_pylist()], pa.large_string())
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, names=rb.schema.names)


def _batches(pf: pq.ParquetFile, path: Path, rows: int, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """The file's record batches; a corrupt page or column chunk is a ParseError naming the file."""
    it = pf.iter_batches(batch_size=rows, columns=columns)
    done = 0
    while True:
        try:
            rb = next(it)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            detail = "".join(c if c.isprintable() else " " for c in str(exc)[:200])
            raise ParseError(f"corrupt Parquet data after row {done}: {' '.join(detail.split())}", path=str(path),
                             source="parquet") from None
        done += rb.num_rows
        yield rb


def _row_location(name: str, idx: pd.Index) -> pd.Index:
    """`file.parquet:row N` for each row index of a chunk (the quarantine's source location)."""
    return f"{name}:row " + idx.astype(str)


@register("parquet")
class ParquetSource(FileSource):
    """Bars from a Parquet file or a directory of ``*.parquet`` files (options as CsvSource)."""

    name: ClassVar[str] = "parquet"

    def _files(self) -> list[Path]:
        p = self.options.path
        if p.is_dir():
            return sorted(p.glob("*.parquet"))
        if not p.is_file():
            raise ParseError("file does not exist", path=str(p), source="parquet")
        return [p]

    def fetch(
        self,
        symbols: Sequence[str] | None,
        table: TableSpec,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[RawBatch]:
        """Yield raw bars per record batch, filtered to `symbols` and [start, end] when given."""
        for path in self._files():
            try:
                pf = pq.ParquetFile(path)
            except (pa.ArrowInvalid, OSError) as exc:
                raise ParseError(f"not a readable Parquet file: {exc}", path=str(path), source="parquet") from None
            columns = [str(c) for c in pf.schema_arrow.names]
            mapping = canonical_columns(columns)
            found = set(mapping.values())
            for col in REQUIRED:
                if col not in found:
                    raise ParseError(f"missing required column (file has: {', '.join(columns)})",
                                     path=str(path), column=col, source="parquet")
            if "symbol" not in found and not self.options.symbol:
                raise ParseError("no symbol column: pass the symbol option", path=str(path), column="symbol",
                                 source="parquet")
            dt_col = next(c for c, k in mapping.items() if k == "datetime")
            row0 = 1
            for rb in _batches(pf, path, self.options.chunk_rows, list(mapping)):
                chunk = _binary_as_text(rb).to_pandas()
                chunk.index = pd.RangeIndex(row0, row0 + len(chunk))
                row0 += len(chunk)
                chunk[dt_col] = _as_text_datetimes(chunk[dt_col])
                batch = finish_chunk(chunk, mapping, self.options, table, symbols, start, end,
                                     location=functools.partial(_row_location, path.name))
                if batch is not None:
                    yield batch


__all__ = ["ParquetSource"]
