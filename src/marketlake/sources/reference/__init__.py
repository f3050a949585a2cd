"""Symbol-master loaders (S&P 500 constituents, NASDAQ Trader listings) and their merge."""

from marketlake.sources.reference.loaders import (
    OUTPUT_COLUMNS,
    PRIORITY,
    detect_format,
    load_nasdaq_listed,
    load_other_listed,
    load_reference,
    load_sp500,
    merge_reference,
    mic_for,
)

__all__ = [
    "OUTPUT_COLUMNS", "PRIORITY", "detect_format", "load_nasdaq_listed", "load_other_listed", "load_reference",
    "load_sp500", "merge_reference", "mic_for",
]
