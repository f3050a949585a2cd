"""File importers registered as `csv` and `parquet` (documented columns: see parse.py)."""

from marketlake.sources.files.csv_source import CsvSource
from marketlake.sources.files.parquet_source import ParquetSource

__all__ = ["CsvSource", "ParquetSource"]
