"""The `csv` source: bars from a CSV file (optionally gzip), streamed in chunks.

Row-level defects (an empty price, ``abc`` in a number column, a bad date) are not errors here: the
values stay raw and validation quarantines them with a reason, ``file:line`` and the raw row. Only a
file that cannot be read as a table at all raises ParseError (file, line, column): a missing
required column, binary content, invalid UTF-8 anywhere in the file, a line longer than
MAX_LINE_BYTES, a truncated or corrupt gzip stream, or a row with more fields than the header. The
bytes are checked as they stream in (`_CheckedText`), so memory stays bounded whatever the file
holds; rows already read by then are not loaded (the load is one commit). A row with FEWER fields
is padded by the reader and quarantined as missing values at its line (pandas' C reader cannot tell
it apart from empty fields without a second pass over the file).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, ClassVar, NoReturn, cast

import numpy as np
import pandas as pd

from marketlake.errors import ParseError
from marketlake.schema import TableSpec
from marketlake.sources.base import RawBatch
from marketlake.sources.files.common import FileSource, finish_chunk
from marketlake.sources.files.parse import REQUIRED, canonical_columns
from marketlake.sources.registry import register

MAX_LINE_BYTES = 1 << 20
"""The longest legal line (1 MiB): a bar is ~100 bytes; a longer line is a broken or hostile file.

Why a cap at all: pandas' reader holds a whole line (and several copies of its fields) in memory, so
a 1 GiB line took 5.6 GB of RAM before failing (a 64 MiB line: +600 MB and 90 s, then stored whole in
the quarantine). Lines are checked as the bytes stream in (pandas reads 256 KiB at a time), so a long
line costs at most this cap plus a block, whatever the file holds."""
_BLOCK_BYTES = 1 << 20
SEGMENT_BYTES = 4 * MAX_LINE_BYTES
"""Text handed to pandas at a time, cut at a line end: what bounds memory whatever the lines hold.

pandas keeps every line of a chunk (and copies of its fields) until the chunk is done, so a row count
alone does not bound memory: 200,000 lines of 1 MiB would be 200 GB. A segment of at most 16 MiB of
text (plus the one line that crosses the cut) is parsed at a time instead, so peak memory is a small
multiple of the largest legal line whatever the file."""


def _segments(fh: io.TextIOBase, size: int) -> Iterator[tuple[str, int]]:
    """(text, lines in it) pieces of `fh` of about `size` characters, each ending at a line end outside
    a quoted field, so every piece parses on its own."""
    carry = ""
    while True:
        block = fh.read(size)
        if not block:
            if carry:
                yield carry, carry.count("\n") + (0 if carry.endswith("\n") else 1)
            return
        text = carry + block
        cut = text.rfind("\n")
        while cut >= 0 and text.count('"', 0, cut) % 2:  # inside a quoted field: cut at an earlier line end
            cut = text.rfind("\n", 0, cut)
        if cut < 0:
            carry = text
            continue
        piece, carry = text[: cut + 1], text[cut + 1:]
        yield piece, piece.count("\n")


class _CheckedText(io.TextIOBase):
    """UTF-8 text of a CSV file (plain or gzip), checked block by block as pandas reads it.

    Every fault of the file as a whole is raised here as ParseError naming the file, the line and,
    where it can tell, the column: an invalid UTF-8 byte anywhere (not only in a first sample),
    control bytes (binary content), a line longer than MAX_LINE_BYTES, a truncated or corrupt gzip
    stream. Lines are physical lines (a quoted field with a newline counts as two).
    """

    def __init__(self, path: Path, *, max_line: int = MAX_LINE_BYTES, block: int = _BLOCK_BYTES) -> None:
        super().__init__()
        self.path = path
        self.columns: list[str] = []  # header names, for the column of an error (set once known)
        self._max_line, self._block = max_line, block
        try:
            with open(path, "rb") as fh:
                head = fh.read(2)
            self._gzip = head == b"\x1f\x8b"
            self._raw: IO[bytes] = cast(IO[bytes], gzip.open(path, "rb")) if self._gzip else open(path, "rb")
        except OSError as exc:
            raise self._error(f"cannot be read ({exc.strerror or type(exc).__name__})") from None
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._text = ""
        self._lines_before = 0  # newlines before the current block
        self._line_bytes = 0  # bytes of the current (unfinished) line so far
        self._line_commas = 0  # commas of the current line so far (for the column of an error)
        self._eof = False
        self._header = b""  # the first line, once seen (names the column of an error in any line)
        self._gzip_fault: Exception | None = None  # raised once the data decompressed before it is checked

    def _error(self, message: str, line: int | None = None, column: str | None = None) -> ParseError:
        return ParseError(message, path=str(self.path), line=line, column=column, source="csv")

    def _column(self, commas: int) -> str:
        if not self.columns and self._header:
            self.columns = next(csv.reader([self._header.decode("utf-8", "replace")]), [])
        return self.columns[commas] if commas < len(self.columns) else f"field {commas + 1}"

    def _check(self, block: bytes) -> None:
        """Raise at the first line too long, control byte or invalid UTF-8 byte of `block`."""
        arr = np.frombuffer(block, dtype=np.uint8)
        nl = np.flatnonzero(arr == 10)
        starts = np.concatenate(([0], nl + 1))
        ends = np.concatenate((nl, [len(block)]))
        lengths = ends - starts
        lengths[0] += self._line_bytes
        if self._lines_before == 0:  # still in the header line (bounded by the cap checked above)
            self._header += block[: int(nl[0])] if len(nl) else block
        over = np.flatnonzero(lengths > self._max_line)
        if len(over):
            k = int(over[0])
            start = int(starts[k])
            cut = start + self._max_line - (self._line_bytes if k == 0 else 0)  # where the cap is crossed
            commas = block.count(b",", start, cut) + (self._line_commas if k == 0 else 0)
            line = self._lines_before + k + 1
            raise self._error(f"line longer than {self._max_line >> 20} MiB: not a bar file (or a broken one)",
                              line=line, column=self._column(commas) if line > 1 else None)
        control = np.flatnonzero((arr < 9) | ((arr > 13) & (arr < 32)))  # \t \n \v \f \r are text
        bad = len(control) > 0
        control_at = int(control[0]) if bad else len(block)
        pending, _ = self._decoder.getstate()
        try:
            text = self._decoder.decode(block, final=self._eof)
        except UnicodeDecodeError as exc:
            if control_at < exc.start - len(pending):
                text = ""  # the control byte comes first: reported below
            else:
                self._decode_error(pending + block, exc.start)
        if bad:
            line = self._lines_before + block.count(b"\n", 0, control_at) + 1
            raise self._error("binary content (control bytes) in a CSV file", line=line)
        self._text += text
        tail = block[int(nl[-1]) + 1:] if len(nl) else block
        self._line_commas = tail.count(b",") + (0 if len(nl) else self._line_commas)
        self._line_bytes = int(lengths[-1])
        self._lines_before += len(nl)

    def _decode_error(self, data: bytes, pos: int) -> NoReturn:
        """Raise ParseError for the invalid UTF-8 byte at `pos` of `data` (the current block)."""
        line_start = data.rfind(b"\n", 0, pos) + 1
        commas = data.count(b",", line_start, pos) + (self._line_commas if line_start == 0 else 0)
        line = self._lines_before + data.count(b"\n", 0, pos) + 1
        byte = f"byte 0x{data[pos]:02x}" if pos < len(data) else "an incomplete character at the end"
        raise self._error(f"not valid UTF-8 ({byte}); save the file as UTF-8",
                          line=line, column=self._column(commas) if line > 1 else None)

    def _fill(self) -> bool:
        """Read, check and decode one more block; False at the end of the file."""
        if self._eof:
            return False
        try:
            block = self._read_block()
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            what = "truncated" if isinstance(exc, EOFError) else "corrupt"
            raise self._error(f"{what} gzip file ({exc}); the data after line {self._lines_before} is "
                              "missing: download or compress it again", line=self._lines_before + 1) from None
        except OSError as exc:
            raise self._error(f"read failed ({exc.strerror or type(exc).__name__})",
                              line=self._lines_before + 1) from None
        if not block:
            self._eof = True
        self._check(block)
        return not self._eof

    def _read_block(self) -> bytes:
        """Up to one block of bytes. A gzip stream is read piece by piece (`read1`): `read(n)` drops
        what it decompressed before a truncation or a corrupt member, so the error named the line
        where the block began (a truncated 1 MiB file: "line 1", as if it were empty) instead of the
        last complete line. The fault is kept and raised by the next call, after that data."""
        if not self._gzip:
            return self._raw.read(self._block)
        if self._gzip_fault is not None:
            raise self._gzip_fault
        parts: list[bytes] = []
        got = 0
        while got < self._block:
            try:
                piece = cast(gzip.GzipFile, self._raw).read1(self._block - got)
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                if not parts:
                    raise
                self._gzip_fault = exc
                break
            if not piece:
                break
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        while (size is None or size < 0 or len(self._text) < size) and self._fill():
            pass
        if size is None or size < 0:
            out, self._text = self._text, ""
        else:
            out, self._text = self._text[:size], self._text[size:]
        return out

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        while "\n" not in self._text and self._fill():
            pass
        end = self._text.find("\n")
        end = len(self._text) if end < 0 else end + 1
        out, self._text = self._text[:end], self._text[end:]
        return out

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def _parser_detail(exc: Exception) -> str:
    return " ".join(str(exc).replace("Error tokenizing data. C error: ", "").split())[:200]


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
        with _CheckedText(path) as fh:
            header_line = fh.readline()
        if not header_line.strip():
            raise ParseError("empty file: no header line", path=str(path), line=1, source="csv")
        try:
            columns = [str(c) for c in pd.read_csv(io.StringIO(header_line), nrows=0).columns]
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ParseError(f"the header line is not CSV ({_parser_detail(exc)})", path=str(path), line=1,
                             source="csv") from None
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
        with _CheckedText(path) as fh:
            fh.columns = columns
            fh.readline()  # the header, checked above; every segment is parsed under it
            offset = 0  # lines of the file before the current segment, header excluded
            for text, n_lines in _segments(fh, SEGMENT_BYTES):
                try:
                    reader = pd.read_csv(
                        io.BytesIO((header_line + text).encode()), dtype=str, keep_default_na=False, skip_blank_lines=False,
                        chunksize=opts.chunk_rows, engine="c",
                    )
                    for chunk in reader:
                        lines = pd.RangeIndex(first_line, first_line + len(chunk))
                        first_line += len(chunk)
                        batch = self._chunk(chunk, lines, columns, mapping, table, symbols, start, end)
                        if batch is not None:
                            yield batch
                except pd.errors.ParserError as exc:
                    self._parser_error(exc, path, offset)
                offset += n_lines

    @staticmethod
    def _parser_error(exc: pd.errors.ParserError, path: Path, offset: int) -> NoReturn:
        """pandas' message as a ParseError with the file's line (pandas counts within the segment)."""
        quote = re.search(r"EOF inside string starting at row (\d+)", str(exc))
        if quote:  # pandas counts rows from 0 at the header: row N is line N + 1
            raise ParseError("unterminated quote: a field opened with \" never closes", path=str(path),
                             line=int(quote.group(1)) + 1 + offset, source="csv") from None
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        line = int(m.group(2)) + offset if m else None
        extra = f"field {int(m.group(1)) + 1} (beyond the {m.group(1)} header columns)" if m else None
        raise ParseError(f"ragged row: {exc}".strip(), path=str(path), line=line, column=extra,
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
