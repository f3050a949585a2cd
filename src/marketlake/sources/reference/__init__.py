"""Symbol-master loaders (S&P 500 constituents, NASDAQ Trader listings), their merge, shipped snapshots."""

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
from marketlake.sources.reference.snapshots import (
    DEFAULT_URLS,
    default_reference_files,
    reference_path,
    update_reference,
    user_dir,
)

__all__ = [
    "DEFAULT_URLS", "default_reference_files", "reference_path", "update_reference", "user_dir",
    "OUTPUT_COLUMNS", "PRIORITY", "detect_format", "load_nasdaq_listed", "load_other_listed", "load_reference",
    "load_sp500", "merge_reference", "mic_for",
]
