"""Pure helpers shared by the CSV and Parquet importers: headers, timestamps, numbers, raw rows.

Documented input columns: ``symbol, datetime, open, high, low, close, volume`` (headers are matched
case-insensitively; ``date``, ``timestamp`` or ``time`` are accepted for ``datetime`` and ``ticker``
for ``symbol``). Accepted timestamp formats:

* ISO dates and date-times (``2024-07-03``, ``2024-07-03 09:30``, ``2024-07-03T09:30:00``), with an
  offset or ``Z`` (then the zone option is ignored for that row);
* US dates ``MM/DD/YY`` and ``MM/DD/YYYY``, optionally followed by ``HH:MM[:SS]``;
* compact dates ``YYYYMMDD``; epoch seconds (9-10 digits) and epoch milliseconds (12-13 digits).

Naive stamps are in the zone option (default: the table's exchange zone, America/New_York for stock
tables, UTC for crypto); stamps that do not exist or are ambiguous in that zone (DST) become NaT and are
quarantined, never guessed. For DAILY tables a date without time (or a local midnight) means "the
session of that date" and maps to the session open in UTC (see marketlake.validate.grid).
Anything else becomes NaT and is quarantined as ``unparseable_datetime`` by validation.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.schema import TableSpec
from marketlake.validate.grid import session_open_for_dates
from marketlake.validate.rules import DATETIME_END, DATETIME_MIN, bounded

_LO_S = pd.Timestamp(DATETIME_MIN).value // 1_000_000_000
_HI_S = pd.Timestamp(DATETIME_END).value // 1_000_000_000

REQUIRED = ("datetime", "open", "high", "low", "close", "volume")
ALIASES = {"date": "datetime", "timestamp": "datetime", "time": "datetime", "ticker": "symbol"}
NUMERIC = ("open", "high", "low", "close", "volume")

_PATTERNS: tuple[tuple[str, str, bool], ...] = (
    # regex, format (or mode), date_only
    (r"^\d{4}-\d{2}-\d{2}$", "%Y-%m-%d", True),
    (r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", "ISO8601", False),
    (r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$", "ISO8601-TZ", False),
    (r"^\d{1,2}/\d{1,2}/\d{2}$", "%m/%d/%y", True),
    (r"^\d{1,2}/\d{1,2}/\d{4}$", "%m/%d/%Y", True),
    (r"^\d{1,2}/\d{1,2}/\d{2} \d{1,2}:\d{2}(:\d{2})?$", "US-YY-TIME", False),
    (r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}(:\d{2})?$", "US-YYYY-TIME", False),
    (r"^\d{8}$", "%Y%m%d", True),
    (r"^\d{9,10}(\.\d+)?$", "EPOCH-S", False),
    (r"^\d{12,13}$", "EPOCH-MS", False),
)


def canonical_columns(columns: list[str]) -> dict[str, str]:
    """Map the file's headers to canonical names (case-insensitive, aliases); first match wins."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for c in columns:
        key = str(c).strip().lower()
        key = ALIASES.get(key, key)
        if key in (*REQUIRED, "symbol") and key not in taken:
            out[c] = key
            taken.add(key)
    return out


def _localize(naive: pd.DatetimeIndex, tz: str) -> np.ndarray:
    """Naive wall-clock stamps in `tz` -> UTC epoch ns; nonexistent/ambiguous (DST) -> NaT."""
    aware = naive.tz_localize(tz, nonexistent="NaT", ambiguous="NaT").tz_convert("UTC")
    return aware.as_unit("ns").asi8


def parse_datetimes(text: pd.Series, table: TableSpec, *, tz: str) -> pd.Series:
    """Parse raw timestamp strings (or numbers) to UTC ``datetime64[us, UTC]``; NaT where unparseable."""
    s = text.astype(object).where(text.notna(), "").astype(str).str.strip()
    out = np.full(len(s), np.iinfo(np.int64).min, dtype=np.int64)
    todo = np.ones(len(s), dtype=bool)
    for pattern, fmt, date_only in _PATTERNS:
        if not todo.any():
            break
        hit = todo & s.str.match(pattern).to_numpy(dtype=bool, na_value=False)
        if not hit.any():
            continue
        todo &= ~hit
        vals = s[hit]
        if fmt in ("EPOCH-S", "EPOCH-MS"):  # out of range -> NaT before scaling (int64 ns overflows past 2262)
            secs = vals.astype(float).to_numpy() / (1 if fmt == "EPOCH-S" else 1000)
            ok = (secs >= _LO_S) & (secs < _HI_S)
            ns = np.full(len(secs), np.iinfo(np.int64).min, dtype=np.int64)
            if fmt == "EPOCH-S":
                ns[ok] = (secs[ok] * 1e9).astype(np.int64)
            else:
                ns[ok] = vals.astype(np.int64).to_numpy()[ok] * 1_000_000
        elif fmt == "ISO8601-TZ":
            parsed = pd.to_datetime(vals, format="ISO8601", utc=True, errors="coerce")
            ns = bounded(pd.DatetimeIndex(parsed)).as_unit("ns").asi8
        else:
            f = {"ISO8601": "ISO8601", "US-YY-TIME": "%m/%d/%y %H:%M", "US-YYYY-TIME": "%m/%d/%Y %H:%M"}.get(fmt, fmt)
            if fmt.startswith("US-"):
                parsed = pd.to_datetime(vals, format=f, errors="coerce")
                sec = pd.to_datetime(vals, format=f + ":%S", errors="coerce")
                parsed = parsed.fillna(sec)
            else:
                parsed = pd.to_datetime(vals, format=f, errors="coerce")
            idx = bounded(pd.DatetimeIndex(parsed))
            midnight = np.asarray(idx.notna()) & (idx == idx.normalize())
            ns = _localize(idx, tz)
            if table.timeframe == "daily":
                as_date = (np.asarray(midnight) | date_only) & np.asarray(idx.notna())
                if as_date.any():
                    days = idx[as_date].values.astype("datetime64[D]")
                    ns[as_date] = session_open_for_dates(days, table)
        out[hit] = ns
    return pd.Series(pd.DatetimeIndex(out.astype("datetime64[ns]"), tz="UTC").as_unit("us"), index=text.index)


def _text(col: pd.Series) -> pd.Series:
    """Stripped text of a column ('' for missing), staying on the fast Arrow-backed string dtype."""
    if not pd.api.types.is_string_dtype(col.dtype) or col.dtype == object:
        col = col.astype(object).where(col.notna(), "").astype("str")
    elif col.hasnans:
        col = col.fillna("")
    return col.str.strip()


def to_numbers(col: pd.Series) -> pd.Series:
    """float64 when every non-empty value parses; otherwise object with floats and the raw strings kept."""
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return col.astype(np.float64)
    s = _text(col)
    empty = (s == "").to_numpy(dtype=bool)
    arr = pa.array(s.where(~empty, None)) if empty.any() else pa.array(s)
    try:
        num = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        if not (np.isnan(num) & ~empty).any():  # a literal "nan" takes the slow path and stays raw
            return pd.Series(num, index=col.index, dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    num = pd.to_numeric(s.where(~empty, "nan"), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(num) & ~empty  # includes a literal "nan": kept raw so validation names it
    if not bad.any():
        return pd.Series(num, index=col.index, dtype=np.float64)
    obj = pd.Series(num, index=col.index, dtype=object)
    obj[bad] = s[bad].to_numpy()
    return obj


def raw_json(frame: pd.DataFrame) -> pd.Series:
    """Each row as a JSON object of its text values (vectorised with Arrow; escapes only when needed)."""
    pieces: list[pa.Array | pa.Scalar] = []
    for i, c in enumerate(frame.columns):
        col = frame[c]
        if not pd.api.types.is_string_dtype(col.dtype) or col.dtype == object or col.hasnans:
            col = col.astype(object).where(col.notna(), "").astype("str")
        v = pa.array(col).cast(pa.large_string())
        if pc.any(pc.match_substring_regex(v, r'["\\\x00-\x1f]')).as_py():
            v = pa.array([json.dumps(x)[1:-1] for x in v.to_pylist()], pa.large_string())
        pieces += [pa.scalar(("{" if i == 0 else ", ") + json.dumps(str(c)) + ': "', pa.large_string()), v,
                   pa.scalar('"', pa.large_string())]
    if not pieces:
        return pd.Series(["{}"] * len(frame), index=frame.index, dtype="str")
    pieces.append(pa.scalar("}", pa.large_string()))
    joined = pc.binary_join_element_wise(*pieces, pa.scalar("", pa.large_string()))
    return pd.Series(joined.to_numpy(zero_copy_only=False), index=frame.index, dtype="str")


__all__ = ["ALIASES", "REQUIRED", "canonical_columns", "parse_datetimes", "raw_json", "to_numbers"]
