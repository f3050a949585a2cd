"""Row-level checks: NULLs beyond warm-up, dependency gaps, duplicate keys, OHLC sanity, bar metadata.

A NULL before a field's warm-up (catalogue `warmup_for`) is expected; after it, it is an error unless
the catalogue says NULL may legitimately appear (`may_be_null`: zero ranges, missing peers). For the
relative-performance fields a NULL is explained when the benchmark or the sector peers were missing at
that datetime: that is a dependency gap (fix the benchmark or peers), not a computation error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from marketlake.quality.frame import Frame, to_dt
from marketlake.quality.groups import TableContext
from marketlake.quality.issues import Issue, Severity
from marketlake.schema import FIELDS

METADATA_CHECKED = ("exchange", "mic_code", "sector", "industry", "currency", "exchange_timezone")
DEPENDENT = ("rs_benchmark_20", "rs_sector_20", "beta_60")


def _emit(frame: Frame, mask: np.ndarray, *, check: str, severity: Severity, field: str | None,
          detail: str) -> list[Issue]:
    out = []
    codes, counts, first, last = frame.first_last(mask)
    for c, n, f, l in zip(codes, counts, first, last):
        out.append(Issue(check, severity, frame.spec.name, frame.symbols[int(c)], field,
                         detail.format(n=int(n), first=to_dt(f), last=to_dt(l)), int(n), to_dt(f), to_dt(l)))
    return out


def check_nulls(frame: Frame) -> list[Issue]:
    """NULLs after each computed field's warm-up, by symbol and field (fields that may not be NULL)."""
    out: list[Issue] = []
    intraday = frame.spec.intraday
    for f in FIELDS:
        if not f.computed or f.may_be_null:  # inputs are checked by check_ohlc, metadata by check_bar_metadata
            continue
        if f.name not in frame.data.column_names or frame.column(f.name).null_count == 0:
            continue
        w = f.warmup_for(intraday=intraday)
        mask = frame.nulls(f.name) & (frame.pos >= w)
        out += _emit(frame, mask, check="nulls", severity="error", field=f.name,
                     detail=f"{{n}} NULLs after the warm-up of {w} bars ({{first:%Y-%m-%d %H:%M}}..{{last:%Y-%m-%d %H:%M}})")
    return out


def check_dependencies(frame: Frame, *, benchmark: str, context: TableContext | None = None) -> list[Issue]:
    """NULL relative-performance fields: explained by a missing benchmark/peers, or unexplained errors.

    `frame` may hold one symbol group: `context` then brings the benchmark's datetimes and the sector
    peer counts of the whole table (None: `frame` is the whole table)."""
    names = frame.data.column_names
    if not all(c in names for c in (*DEPENDENT, "return_20", "return_1", "sector")):
        return []
    out: list[Issue] = []
    r20_ok = ~frame.nulls("return_20")
    r1_ok = ~frame.nulls("return_1")
    is_bench = np.zeros(frame.data.num_rows, bool)
    if benchmark in frame.symbols:
        b = frame.symbols.index(benchmark)
        is_bench = frame.codes == b
    if context is None:
        bench_r20 = np.isin(frame.ts_us, frame.ts_us[is_bench & r20_ok])
        bench_r1 = np.isin(frame.ts_us, frame.ts_us[is_bench & r1_ok])
        present = bool(is_bench.any())
    else:
        bench_r20 = np.isin(frame.ts_us, context.bench_r20_us)
        bench_r1 = np.isin(frame.ts_us, context.bench_r1_us)
        present = context.bench_present
    missing = "is not in the table" if not present else "has no bar (or no value) there"
    # rs_benchmark_20
    rs_null = frame.nulls("rs_benchmark_20") & r20_ok & ~is_bench
    out += _emit(frame, rs_null & ~bench_r20, check="dependency", severity="warning", field="rs_benchmark_20",
                 detail=f"{{n}} NULLs because benchmark {benchmark} {missing}")
    out += _emit(frame, rs_null & bench_r20, check="nulls", severity="error", field="rs_benchmark_20",
                 detail="{n} NULLs although the benchmark has return_20 there; recompute")
    # beta_60: needs 60 bars where both returns exist
    both = (r1_ok & bench_r1).astype(np.int64)
    cum = np.cumsum(both)
    before = np.r_[0, cum][frame.starts][frame.codes]
    enough = (cum - before) >= 60
    beta_null = frame.nulls("beta_60") & ~is_bench & (frame.pos >= 60)
    out += _emit(frame, beta_null & ~enough, check="dependency", severity="warning", field="beta_60",
                 detail=f"{{n}} NULLs: fewer than 60 bars with benchmark {benchmark} returns")
    out += _emit(frame, beta_null & enough, check="nulls", severity="error", field="beta_60",
                 detail="{n} NULLs although 60 paired returns exist; recompute")
    # rs_sector_20: needs >= 3 non-NULL return_20 in the sector at that datetime
    sector = frame.values("sector")
    df = pd.DataFrame({"s": sector, "t": frame.ts_us, "ok": r20_ok})
    if context is None or context.peers is None:
        peers = df.groupby(["s", "t"], sort=False, dropna=False)["ok"].transform("sum").to_numpy()
    else:  # the whole table's counts at each (sector, datetime); a sectorless row's count is never used
        peers = df[["s", "t"]].merge(context.peers, on=["s", "t"], how="left")["n"].fillna(0).to_numpy()
    sec_null = frame.nulls("rs_sector_20") & r20_ok
    no_sector = pd.isna(sector)
    explained = (peers < 3) | no_sector
    etf = _is_etf(frame)
    out += _emit(frame, sec_null & no_sector & ~etf, check="dependency", severity="warning", field="rs_sector_20",
                 detail="{n} NULLs because the symbol has no sector")
    out += _emit(frame, sec_null & ~no_sector & explained, check="dependency", severity="warning",
                 field="rs_sector_20", detail="{n} NULLs: fewer than 3 sector peers with return_20")
    out += _emit(frame, sec_null & ~explained, check="nulls", severity="error", field="rs_sector_20",
                 detail="{n} NULLs although >= 3 sector peers have return_20; recompute")
    return out


def _is_etf(frame: Frame) -> np.ndarray:
    if "asset_type" not in frame.data.column_names:
        return np.zeros(frame.data.num_rows, bool)
    etf = pc.fill_null(pc.equal(frame.column("asset_type"), "etf"), False).to_numpy(zero_copy_only=False)
    return etf if frame.order is None else etf[frame.order]


def check_duplicates(frame: Frame) -> list[Issue]:
    """Repeated (symbol, datetime) keys among the stored rows."""
    if frame.data.num_rows < 2:
        return []
    dup = np.r_[False, (frame.codes[1:] == frame.codes[:-1]) & (frame.ts_us[1:] == frame.ts_us[:-1])]
    return _emit(frame, dup, check="duplicates", severity="error", field="datetime",
                 detail="{n} duplicate keys (symbol, datetime), first at {first:%Y-%m-%d %H:%M}")


def check_ohlc(frame: Frame) -> list[Issue]:
    """high >= max(open, close, low), low <= min(open, close), prices > 0, volume >= 0, none NULL."""
    o, h, l, c, v = (frame.floats(x) for x in ("open", "high", "low", "close", "volume"))
    rules = {
        "high": (h < np.fmax(np.fmax(o, c), l)) | np.isnan(h), "low": (l > np.fmin(o, c)) | np.isnan(l),
        "close": (c <= 0) | np.isnan(c) | (o <= 0) | np.isnan(o), "volume": (v < 0) | np.isnan(v),
    }
    text = {"high": "high below open/close/low", "low": "low above open/close",
            "close": "non-positive or missing open/close", "volume": "negative or missing volume"}
    out: list[Issue] = []
    for name, mask in rules.items():
        out += _emit(frame, mask, check="ohlc", severity="error", field=name,
                     detail=f"{{n}} bars with {text[name]}, first at {{first:%Y-%m-%d %H:%M}}")
    return out


def check_bar_metadata(frame: Frame) -> list[Issue]:
    """Metadata columns NULL on stored bars (exchange/mic_code errors for stocks; the rest warnings)."""
    out: list[Issue] = []
    for col in METADATA_CHECKED:
        if col not in frame.data.column_names or frame.column(col).null_count == 0:
            continue
        if col == "mic_code" and frame.spec.asset == "crypto":
            continue  # crypto venues have no ISO 10383 code as a rule
        severity: Severity = "error" if col in ("exchange", "mic_code") else "warning"
        mask = frame.nulls(col)
        if col in ("sector", "industry") and "asset_type" in frame.data.column_names:
            mask &= ~_is_etf(frame)  # ETFs have no GICS sector
        out += _emit(frame, mask, check="metadata", severity=severity, field=col,
                     detail=f"{col} is NULL on {{n}} bars")
    return out


def check_symbol_master(master: pd.DataFrame, *, symbols: set[str] | None = None) -> list[Issue]:
    """Gaps in the `symbols` support table (active symbols only), one issue per symbol and field."""
    out: list[Issue] = []
    if master.empty:
        return out
    for col in METADATA_CHECKED:
        gaps = master[master[col].isna()]
        for row in gaps.itertuples():
            sym = str(row.symbol)
            if symbols is not None and sym not in symbols:
                continue
            kind = getattr(row, "asset_type", None)
            if (col == "mic_code" and kind == "crypto") or (col in ("sector", "industry") and kind == "etf"):
                continue
            active = getattr(row, "active", True)
            severity: Severity = "info" if active is False else ("error" if col in ("exchange", "mic_code") else "warning")
            out.append(Issue("metadata", severity, "symbols", sym, col, f"{col} is NULL in the symbol master"))
    return out


__all__ = ["check_bar_metadata", "check_dependencies", "check_duplicates", "check_nulls", "check_ohlc",
           "check_symbol_master"]
