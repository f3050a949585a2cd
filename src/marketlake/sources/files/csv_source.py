"""The `csv` source: bars from a CSV file (optionally gzip), streamed in chunks.

Row-level defects (an empty price, ``abc`` in a number column, a bad date) are not errors here: the
values stay raw and validation quarantines them with a reason, ``file:line`` and the raw row. Only a
file that cannot be read as a table at all raises ParseError (file, line, column): a missing
required column, binary content, or a row with more fields than the header. A row with FEWER fields
is padded by the reader and quarantined as missing values at its line (pandas' C reader cannot tell
it apart from empty fields without a second pass over the file).
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, ClassVar

import pandas as pd

from marketlake.errors import ParseError
from marketlake.schema import TableSpec
from marketlake.sources.base import RawBatch
from marketlake.sources.files.common import FileSource, finish_chunk
from marketlake.sources.files.parse import REQUIRED, canonical_columns
from marketlake.sources.registry import register

_SNIFF_BYTES = 64 * 1024


def _open_text(path: Path) -> IO[str]:
    with open(path, "rb") as fh:
        head = fh.read(2)
    raw: IO[bytes] = gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def _check_text(path: Path) -> None:
    """Reject binary files early with the line of the first bad byte."""
    try:
        with _open_text(path) as fh:
            sample = fh.read(_SNIFF_BYTES)
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise ParseError(f"not a UTF-8 text/CSV file ({exc.__class__.__name__})", path=str(path), line=1,
                         source="csv") from None
    bad = re.search(r"[\x00-\x08\x0e-\x1f]", sample)
    if bad:
        line = sample.count("\n", 0, bad.start()) + 1
        raise ParseError("binary content (control bytes) in a CSV file", path=str(path), line=line, source="csv")


@register("csv")
class CsvSource(FileSource):
    """Bars from one CSV file.

    Args:
        path: the file (``.csv`` or gzip-compressed, detected by content).
        symbol: the symbol of every row, for files without a symbol column.
        tz: IANA zone of naive timestamps (default: the table's exchange zone; UTC for crypto).
        chunk_rows: rows per yielded batch (the file is streamed, never read whole).
    """

    name: ClassVar[str] = "csv"

    def fetch(
        self,
        symbols: Sequence[str] | None,
        table: TableSpec,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[RawBatch]:
        """Yield raw bars chunk by chunk, filtered to `symbols` and [start, end] when given."""
        opts = self.options
        path = opts.path
        if not path.is_file():
            raise ParseError("file does not exist", path=str(path), source="csv")
        _check_text(path)
        with _open_text(path) as fh:
            header_line = fh.readline()
        if not header_line.strip():
            raise ParseError("empty file: no header line", path=str(path), line=1, source="csv")
        columns = [str(c) for c in pd.read_csv(io.StringIO(header_line), nrows=0).columns]
        mapping = canonical_columns(columns)
        found = set(mapping.values())
        for col in REQUIRED:
            if col not in found:
                raise ParseError(f"missing required column (header has: {', '.join(map(str, columns))})",
                                 path=str(path), line=1, column=col, source="csv")
        if "symbol" not in found and not opts.symbol:
            raise ParseError("no symbol column: pass the symbol option (--symbol) for single-symbol files",
                             path=str(path), line=1, column="symbol", source="csv")
        first_line = 2
        with _open_text(path) as fh:
            reader = pd.read_csv(
                fh, dtype=str, keep_default_na=False, skip_blank_lines=False,
                chunksize=opts.chunk_rows, engine="c",
            )
            try:
                for chunk in reader:
                    lines = pd.RangeIndex(first_line, first_line + len(chunk))
                    first_line += len(chunk)
                    batch = self._chunk(chunk, lines, columns, mapping, table, symbols, start, end)
                    if batch is not None:
                        yield batch
            except pd.errors.ParserError as exc:
                m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
                line = int(m.group(2)) if m else None
                col = f"field {int(m.group(1)) + 1} (beyond the {m.group(1)} header columns)" if m else None
                raise ParseError(f"ragged row: {exc}".strip(), path=str(path), line=line, column=col,
                                 source="csv") from None

    def _chunk(self, chunk: pd.DataFrame, lines: pd.RangeIndex, columns: list[str], mapping: dict[str, str],
               table: TableSpec, symbols: Sequence[str] | None, start: datetime | None,
               end: datetime | None) -> RawBatch | None:
        chunk = chunk.set_axis(lines, axis=0)
        blank = chunk.isna().all(axis=1) | ((chunk.iloc[:, 0] == "") & chunk.iloc[:, 1:].isna().all(axis=1))
        chunk = chunk[~blank]
        short = chunk.isna().any(axis=1)
        if short.any():
            line = int(chunk.index[short.to_numpy()][0])
            row = chunk.loc[line]
            missing_col = str(row.index[row.isna().to_numpy()][0])
            raise ParseError("ragged row: fewer fields than the header", path=str(self.options.path),
                             line=line, column=missing_col, source="csv")
        if chunk.empty:
            return None
        return finish_chunk(chunk, mapping, self.options, table, symbols, start, end,
                            location=lambda idx: self.options.path.name + ":" + idx.astype(str))


__all__ = ["CsvSource"]
