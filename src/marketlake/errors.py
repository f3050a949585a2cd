"""marketlake's exceptions: one root, a few families, each carrying the fields a caller needs.

MarketlakeError
 +-- ConfigError            bad or missing configuration (unknown table, bad option, missing key)
 +-- SourceError            a data source failed (file or vendor); carries ``source``
 |    +-- ParseError        a file cannot be parsed at all; carries ``path``, ``line``, ``column``
 |    +-- VendorError       a vendor answered with an error; carries ``vendor``, ``status``, ``code``
 |         +-- AuthError        401/403: the key or the plan is wrong; retrying will not help
 |         +-- RateLimitError   429: credits exhausted for the current window
 |         +-- SymbolNotFound   404 for one symbol; the run goes on without it
 +-- StorageError           a table cannot be read or written; carries ``table``
 |    +-- SchemaMismatch    a stored table does not match the catalogue
 |    +-- WarehouseLocked   another writer holds the warehouse lock
 |    +-- CorruptTable      a commit, checkpoint or data file of a table is damaged; carries ``files``
 +-- BudgetExceeded         a request would overspend the credit budget; carries ``credits_needed``

Messages say what failed and what to do about it. No secret (API key) ever enters a message.
"""

from __future__ import annotations


class MarketlakeError(Exception):
    """Root of every error raised on purpose by marketlake."""


class ConfigError(MarketlakeError):
    """The configuration or an argument is invalid."""


class SourceError(MarketlakeError):
    """A source of bars or metadata failed."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class ParseError(SourceError):
    """A file cannot be parsed; names the file, the line and the column."""

    def __init__(
        self,
        message: str,
        *,
        path: str,
        line: int | None = None,
        column: str | None = None,
        source: str | None = None,
    ) -> None:
        where = path
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}", source=source)
        self.path = path
        self.line = line
        self.column = column


class VendorError(SourceError):
    """A vendor answered with an error status (HTTP status or an error body)."""

    def __init__(
        self,
        message: str,
        *,
        vendor: str,
        status: int | None = None,
        code: int | str | None = None,
        symbol: str | None = None,
    ) -> None:
        super().__init__(message, source=vendor)
        self.vendor = vendor
        self.status = status
        self.code = code
        self.symbol = symbol


class AuthError(VendorError):
    """The API key is missing or wrong, or the plan lacks access (401/403)."""


class RateLimitError(VendorError):
    """The vendor's credit or weight limit is exhausted for the current window (429)."""

    def __init__(self, message: str, *, vendor: str, retry_after_s: float | None = None, **kw: object) -> None:
        super().__init__(message, vendor=vendor, **kw)  # type: ignore[arg-type]
        self.retry_after_s = retry_after_s


class SymbolNotFound(VendorError):
    """The vendor does not know a symbol (404); the symbol is marked inactive."""


class StorageError(MarketlakeError):
    """A table cannot be read or written."""

    def __init__(self, message: str, *, table: str | None = None) -> None:
        super().__init__(message)
        self.table = table


class SchemaMismatch(StorageError):
    """A stored table's schema differs from the field catalogue."""


class WarehouseLocked(StorageError):
    """Another process is writing to the warehouse."""


class CorruptTable(StorageError):
    """A file of a table (commit, checkpoint or data file) is empty, truncated or garbled."""

    def __init__(self, message: str, *, table: str | None, files: list[str] | None = None) -> None:
        super().__init__(message, table=table)
        self.files = list(files or [])


class BudgetExceeded(MarketlakeError):
    """Sending a request would overspend the vendor credit budget."""

    def __init__(self, message: str, *, credits_needed: int, credits_left: int) -> None:
        super().__init__(message)
        self.credits_needed = credits_needed
        self.credits_left = credits_left


__all__ = [
    "AuthError",
    "BudgetExceeded",
    "ConfigError",
    "CorruptTable",
    "MarketlakeError",
    "ParseError",
    "RateLimitError",
    "SchemaMismatch",
    "SourceError",
    "StorageError",
    "SymbolNotFound",
    "VendorError",
    "WarehouseLocked",
]
