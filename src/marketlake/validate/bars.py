"""validate_bars: split raw bars into clean bars and quarantined rows, every row accounted for.

Why quarantine instead of fixing: a NaN inside a series poisons every later TA-Lib value (fields.md),
and a guessed value is worse than a missing bar. So a row with any defect leaves the clean stream and
is stored, with its raw input, location, rule id and a human reason, in the ``quarantine`` support
table. Nothing is dropped silently: ``counts["input"] == counts["good"] + counts["quarantined"]``.

Rules (ids in :mod:`marketlake.validate.rules`, checked in that order, first match wins): missing
value, invalid symbol (outside ``rules.SYMBOL_PATTERN``), non-numeric value, NaN/inf, unparseable
datetime, non-positive price, high < low, high below open/close, low above open/close, negative
volume (0 is valid), outside the exchange sessions, off the timeframe grid (see
:mod:`marketlake.validate.grid` for the grid convention), duplicates.

Duplicate keys (same symbol and datetime among rows that pass every other rule): the LAST row in
input order is kept, like an upsert (a later line or a later vendor answer is a correction of an
earlier one). Every earlier row of the key is quarantined: ``duplicate_identical`` when its OHLCV equal
the kept row (harmless, recorded so counts add up), ``duplicate_conflict`` otherwise (worth a look).
A defective row never displaces a valid one: duplicates are resolved after the other rules.

Symbols are stripped of surrounding whitespace; nothing else about a value is changed.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from marketlake.errors import ConfigError
from marketlake.schema import BAR_COLUMNS, SUPPORT_SCHEMAS, TableSpec
from marketlake.validate.grid import grid_status
from marketlake.validate.rules import RULE_IDS, RULES, SYMBOL_PATTERN, bounded

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
NUMERIC_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
_NAN_WORDS = frozenset({"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
_NAT = np.iinfo(np.int64).min


@dataclass(frozen=True)
class ValidationResult:
    """Outcome of validate_bars.

    Attributes:
        good: exactly ``BAR_COLUMNS``; float64 values, ``datetime64[us, UTC]``; unique (symbol, datetime),
            sorted by them.
        quarantined: rows of ``SUPPORT_SCHEMAS["quarantine"]``, one per rejected input row.
        counts: ``input``, ``good``, ``quarantined`` and one entry per rule id (rows quarantined under it).
    """

    good: pd.DataFrame
    quarantined: pa.Table
    counts: dict[str, int] = field(default_factory=dict)


def _numeric(col: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(values, missing, non_numeric, non_finite) of one raw column: float64 or raw strings."""
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        vals = col.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(vals)
        return vals, missing, np.zeros(len(vals), bool), np.isinf(vals)
    isna = col.isna().to_numpy()
    txt = col.astype(object).where(~isna, "").astype(str).str.strip()
    missing = isna | (txt == "").to_numpy()
    vals = pd.to_numeric(txt.where(~missing, "0"), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan).copy()
    vals[missing] = np.nan
    nan_word = txt.str.lower().isin(_NAN_WORDS).to_numpy()
    bad = ~missing & np.isnan(vals)
    non_finite = (~missing & np.isinf(vals)) | (bad & nan_word)
    return vals, missing, bad & ~nan_word, non_finite


def _timestamps(col: pd.Series) -> np.ndarray:
    """UTC epoch nanoseconds; ``_NAT`` where missing or unparseable (naive stamps are taken as UTC)."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        dt = col.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(col.dtype):
        dt = col.dt.tz_localize("UTC")
    else:
        dt = pd.to_datetime(col, utc=True, errors="coerce", format="mixed")
    return bounded(pd.DatetimeIndex(dt)).as_unit("ns").asi8.copy()


def _json_value(v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (pd.Timestamp, datetime)):
        return v.isoformat()
    if isinstance(v, np.generic):
        return v.item()
    return v


def validate_bars(
    raw: pd.DataFrame,
    table: TableSpec,
    *,
    source: str,
    run_id: str | None = None,
    quarantined_at: datetime | None = None,
) -> ValidationResult:
    """Split `raw` (the raw-bar contract of docs/internals.md) into clean bars and quarantine rows.

    Args:
        raw: raw bars; `open..volume` float64 or raw strings; optional `_location` and `_raw`.
        table: the production table the bars are for (decides calendar and grid).
        source: recorded in the quarantine rows and their ids.
        run_id: recorded in the quarantine rows (not part of the id, so re-runs give the same ids).
        quarantined_at: timestamp of the quarantine rows; now (UTC) when None.

    Raises:
        ConfigError: `raw` lacks one of the bar columns (a source bug, not a data defect).
    """
    missing_cols = [c for c in BAR_COLUMNS if c not in raw.columns]
    if missing_cols:
        raise ConfigError(f"raw bars lack column(s) {', '.join(missing_cols)}; sources must yield {BAR_COLUMNS}")
    n = len(raw)
    rule_of = np.full(n, -1, dtype=np.int16)
    detail: dict[str, dict[str, np.ndarray]] = {r: {} for r in RULE_IDS}

    def mark(rule: str, mask: np.ndarray) -> None:
        rule_of[(rule_of < 0) & mask] = RULE_IDS.index(rule)

    sym_isna = raw["symbol"].isna().to_numpy()
    symbols = raw["symbol"].astype(object).where(~sym_isna, "").astype(str).str.strip()
    sym_missing = sym_isna | (symbols == "").to_numpy()
    vals: dict[str, np.ndarray] = {}
    for c in NUMERIC_COLUMNS:
        vals[c], miss, nonnum, nonfin = _numeric(raw[c])
        detail["missing_value"][c] = miss
        detail["non_numeric"][c] = nonnum
        detail["non_finite"][c] = nonfin
    detail["missing_value"] = {"symbol": sym_missing, **detail["missing_value"]}
    detail["invalid_symbol"] = {
        "symbol": ~sym_missing & ~symbols.str.fullmatch(SYMBOL_PATTERN).to_numpy(dtype=bool, na_value=False)
    }
    for r in ("missing_value", "invalid_symbol", "non_numeric", "non_finite"):
        mark(r, np.logical_or.reduce(list(detail[r].values())))

    ts = _timestamps(raw["datetime"])
    mark("unparseable_datetime", ts == _NAT)
    o, h, low, close, v = (vals[k] for k in NUMERIC_COLUMNS)
    with np.errstate(invalid="ignore"):
        detail["non_positive_price"] = {k: vals[k] <= 0 for k in PRICE_COLUMNS}
        mark("non_positive_price", np.logical_or.reduce(list(detail["non_positive_price"].values())))
        mark("high_below_low", h < low)
        detail["high_below_open_close"] = {"open": h < o, "close": h < close}
        mark("high_below_open_close", (h < o) | (h < close))
        detail["low_above_open_close"] = {"open": low > o, "close": low > close}
        mark("low_above_open_close", (low > o) | (low > close))
        mark("negative_volume", v < 0)

    ok = rule_of < 0
    outside = np.zeros(n, bool)
    off = np.zeros(n, bool)
    if ok.any():
        outside[ok], off[ok] = grid_status(ts[ok], table)
    mark("outside_session", outside)
    mark("off_grid", off)

    keep_pos = np.flatnonzero(rule_of < 0)
    if len(keep_pos):
        keys = pd.DataFrame({"s": symbols.to_numpy()[keep_pos], "t": ts[keep_pos]})
        dup_any = keys.duplicated(keep=False).to_numpy()
        if dup_any.any():
            sub = keys[dup_any].assign(p=keep_pos[dup_any])
            last = sub.groupby(["s", "t"], sort=False)["p"].transform("max").to_numpy()
            pos = sub["p"].to_numpy()
            earlier = pos != last
            same = np.logical_and.reduce(
                [(vals[k][pos] == vals[k][last]) | (np.isnan(vals[k][pos]) & np.isnan(vals[k][last])) for k in NUMERIC_COLUMNS]
            )
            m = np.zeros(n, bool)
            m[pos[earlier & same]] = True
            mark("duplicate_identical", m)
            m = np.zeros(n, bool)
            m[pos[earlier & ~same]] = True
            mark("duplicate_conflict", m)

    good_mask = rule_of < 0
    good = pd.DataFrame(
        {
            "symbol": pd.array(symbols.to_numpy()[good_mask], dtype="str"),
            "datetime": pd.DatetimeIndex(ts[good_mask].astype("datetime64[ns]"), tz="UTC").as_unit("us"),
            **{k: vals[k][good_mask] for k in NUMERIC_COLUMNS},
        }
    )
    good = good.sort_values(["symbol", "datetime"], kind="stable", ignore_index=True)

    quarantined = _quarantine_table(
        raw, table, source, run_id, quarantined_at, rule_of, detail, symbols, sym_missing, ts
    )
    counts = {"input": n, "good": len(good), "quarantined": quarantined.num_rows}
    bincount = np.bincount(rule_of[rule_of >= 0], minlength=len(RULE_IDS))
    counts.update({r: int(bincount[i]) for i, r in enumerate(RULE_IDS)})
    return ValidationResult(good=good, quarantined=quarantined, counts=counts)


def _quarantine_table(
    raw: pd.DataFrame,
    table: TableSpec,
    source: str,
    run_id: str | None,
    quarantined_at: datetime | None,
    rule_of: np.ndarray,
    detail: dict[str, dict[str, np.ndarray]],
    symbols: pd.Series,
    sym_missing: np.ndarray,
    ts: np.ndarray,
) -> pa.Table:
    """One quarantine row per rejected input row; ids hash (table, source, raw row, rule[, n-th copy])."""
    schema = SUPPORT_SCHEMAS["quarantine"]
    bad = np.flatnonzero(rule_of >= 0)
    if len(bad) == 0:
        return schema.empty_table()
    when = quarantined_at or datetime.now(UTC)
    sub = raw.iloc[bad]
    if "_raw" in raw.columns:
        raw_text = [r if isinstance(r, str) else None for r in sub["_raw"].tolist()]
    else:
        raw_text = [None] * len(bad)
    cols = [c for c in BAR_COLUMNS]
    records = sub[cols].to_dict("records") if any(r is None for r in raw_text) else []
    raws: list[str] = []
    for i, r in enumerate(raw_text):
        raws.append(r if r is not None else json.dumps({k: _json_value(records[i][k]) for k in cols}, default=str))
    locations = (
        [x if isinstance(x, str) else None for x in sub["_location"].tolist()]
        if "_location" in raw.columns
        else [None] * len(bad)
    )
    rules = [RULE_IDS[i] for i in rule_of[bad]]
    reasons: list[str] = []
    for _j, (pos, rule) in enumerate(zip(bad, rules)):
        cols_hit = [c for c, m in detail[rule].items() if m[pos]]
        reasons.append(RULES[rule].format(cols=", ".join(cols_hit), timeframe=table.timeframe))
    seen: dict[str, int] = {}
    ids: list[str] = []
    for r, rule in zip(raws, rules):
        base = "\x1f".join((table.name, source, r, rule))
        k = seen.get(base, 0)
        seen[base] = k + 1
        ids.append(hashlib.sha1((base if k == 0 else f"{base}\x1f{k}").encode()).hexdigest())
    sym_out = [None if sym_missing[p] else s for p, s in zip(bad, symbols.to_numpy()[bad])]
    t = ts[bad]
    dt = pa.array(np.where(t == _NAT, 0, t // 1000).astype("datetime64[us]"), type=pa.timestamp("us"), mask=t == _NAT)
    return pa.table(
        {
            "row_id": pa.array(ids, pa.string()),
            "table": pa.array([table.name] * len(bad), pa.string()),
            "source": pa.array([source] * len(bad), pa.string()),
            "symbol": pa.array(sym_out, pa.string()),
            "datetime": dt.cast(pa.timestamp("us", tz="UTC")),
            "rule": pa.array(rules, pa.string()),
            "reason": pa.array(reasons, pa.string()),
            "raw": pa.array(raws, pa.string()),
            "location": pa.array(locations, pa.string()),
            "run_id": pa.array([run_id] * len(bad), pa.string()),
            "quarantined_at": pa.array([when] * len(bad), pa.timestamp("us", tz="UTC")),
        },
        schema=schema,
    )


__all__ = ["NUMERIC_COLUMNS", "PRICE_COLUMNS", "ValidationResult", "validate_bars"]
