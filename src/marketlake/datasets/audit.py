"""`dataset audit`: the causality proof, run on the user's own data.

Features: for a few cut instants t, every bar after t is perturbed (prices by random factors per bar, the
same factor for open/high/low/close so bars stay valid; volume by another), the features are recomputed
with the warehouse's engine (`features.compute_table`) on the perturbed bars, passed through the
dataset's own missing-feature policy and cross-sectional transforms (`build.assemble`), and compared with
the unperturbed run at every row at or before t: any difference is a leak.

Labels: for one random bar t per symbol, perturbing every bar after t+h must leave the label at t (and
before) unchanged; with bars t+1..t+h-1 held flat, moving bar t+h up or down must change it (the label
reads exactly its declared horizon); and a label whose horizon runs past the data must be NULL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.datasets import labels as _labels
from marketlake.datasets import manifest as _manifest
from marketlake.datasets.build import _numpy, _store, assemble
from marketlake.datasets.spec import LabelSpec
from marketlake.schema import BAR_COLUMNS, FIELDS_BY_NAME, METADATA_COLUMNS, get_table
from marketlake.storage.versioned import read_at

FeatureFn = Callable[[pd.DataFrame, str], pa.Table]
"""bars (symbol, datetime, OHLCV, metadata) and the table name -> symbol, datetime and feature columns."""
_STAMP = datetime(2000, 1, 1, tzinfo=UTC)


def engine_features(bars: pd.DataFrame, table: str) -> pa.Table:
    """The warehouse's own feature engine: what `ingest` stores and `predict` serves."""
    from marketlake.features import compute_table

    return compute_table(bars, table, updated_at=_STAMP, workers=1)


@dataclass
class Check:
    check: str
    subject: str
    passed: bool
    detail: str


@dataclass
class AuditReport:
    path: str
    symbols: list[str]
    cuts: list[str]
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "passed": self.passed, "symbols": self.symbols, "cuts": self.cuts,
                "checks": [asdict(c) for c in self.checks]}


def _equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise equal, NaN equal to NaN; a relative 1e-12 absorbs nothing a leak could hide in."""
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        close = np.isclose(a, b, rtol=1e-12, atol=0.0)
    return both_nan | close


def _perturb(bars: pd.DataFrame, after_us: int, rng: np.random.Generator) -> pd.DataFrame:
    out = bars.copy()
    dt = pd.to_datetime(out["datetime"], utc=True).dt.tz_convert(None).to_numpy().astype("datetime64[us]").astype(np.int64)
    later = dt > after_us
    n = int(later.sum())
    price = rng.uniform(0.6, 1.5, n)
    for c in ("open", "high", "low", "close"):
        col = out[c].to_numpy(dtype=np.float64).copy()
        col[later] *= price
        out[c] = col
    vol = out["volume"].to_numpy(dtype=np.float64).copy()
    vol[later] *= rng.uniform(0.3, 3.0, n)
    out["volume"] = vol
    return out


def _rows_for_assemble(features: pa.Table, names: list[str]) -> pa.Table:
    cols = list(dict.fromkeys(["symbol", "datetime", "close", *names]))
    return features.select(cols)


def _feature_names(dataset_features: list[str], computed: pa.Table) -> list[str]:
    """The dataset's features, plus any extra numeric column a custom feature function adds."""
    extra = [c for c in computed.column_names if c not in FIELDS_BY_NAME and c not in ("symbol", "datetime")
             and (pa.types.is_floating(computed.schema.field(c).type) or pa.types.is_integer(computed.schema.field(c).type))]
    return [c for c in dataset_features if c in computed.column_names] + extra


def audit_features(bars: pd.DataFrame, config: dict[str, Any], cuts: list[int], *, feature_fn: FeatureFn,
                   seed: int) -> list[Check]:
    """One check per feature: unchanged at every row at or before each cut after the future was perturbed."""
    table = config["table"]
    base_raw = feature_fn(bars, table)
    names = _feature_names(config["features"], base_raw)
    cfg = {**config, "features": names, "splits": None, "membership": config.get("membership")}
    base, _ = assemble(_rows_for_assemble(base_raw, names), cfg)
    base_dt = pc.cast(base.column("datetime"), pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    bad: dict[str, list[str]] = {n: [] for n in names}
    compared = 0
    rng = np.random.default_rng(seed)
    for cut in cuts:
        pert_raw = feature_fn(_perturb(bars, cut, rng), table)
        pert, _ = assemble(_rows_for_assemble(pert_raw, names), cfg)
        keep = np.flatnonzero(base_dt <= cut)
        p_dt = pc.cast(pert.column("datetime"), pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
        p_keep = np.flatnonzero(p_dt <= cut)
        if len(keep) != len(p_keep):  # rows themselves changed (e.g. a drop policy reading the future)
            for n in names:
                bad[n].append(f"{len(keep)} rows at or before the cut became {len(p_keep)}")
            continue
        compared += len(keep)
        for n in names:
            a = _numpy(base.column(n))[keep]
            b = _numpy(pert.column(n))[keep]
            diff = ~_equal(a, b)
            if diff.any():
                i = int(np.flatnonzero(diff)[-1])
                when = datetime.fromtimestamp(base_dt[keep][i] / 1e6, tz=UTC).date()
                bad[n].append(f"{int(diff.sum())} values at or before {_day(cut)} changed (e.g. "
                              f"{base.column('symbol')[int(keep[i])]} {when}: {a[i]!r} -> {b[i]!r})")
    out = []
    for n in names:
        if bad[n]:
            out.append(Check("feature_causal", n, False, "; ".join(bad[n][:2])))
        else:
            out.append(Check("feature_causal", n, True, f"{compared:,} values at or before {len(cuts)} cuts unchanged"))
    return out


def _day(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=UTC).date().isoformat()


def audit_labels(series: _labels.Series, config: dict[str, Any], *, seed: int) -> list[Check]:
    """Per label: no bar after t+h is read, bar t+h is read, NULL past the data."""
    out = []
    rng = np.random.default_rng(seed + 1)
    n = len(series.close)
    starts = np.unique(series.seg_start)
    bench = config["benchmark"]
    for ls in (LabelSpec.parse(t) for t in config["labels"]):
        h = ls.h
        base = _labels.compute_label(series, ls, default_benchmark=bench) if n else np.empty(0)
        # one random bar t per symbol with bars up to t+h+1
        picks = []
        for s in starts:
            end = int(series.seg_end[s])
            hi = end - h - 2
            if hi >= s:
                picks.append(int(rng.integers(s, hi + 1)))
        cross = ls.kind == "excess_return"  # reads other symbols' bars: one common datetime for every pick
        if cross:
            target = ls.params.get("benchmark") or bench
            picks = [i for i in picks if series.name(i) != target]  # its own excess return is 0 by definition
            if picks:
                when = series.dt[picks[int(rng.integers(len(picks)))]]
                at = np.flatnonzero(series.dt == when)
                picks = [int(i) for i in at if i + h + 1 < series.seg_end[i] and series.name(int(i)) != target]
        if not picks:
            out.append(Check("label_horizon", ls.name, False, f"no symbol has {h + 2} bars: nothing to check"))
            continue
        p = np.asarray(picks)
        # 1. bars after t+h perturbed: the label at t (and before, same symbol) unchanged
        close = series.close.copy()
        idx = np.arange(n)
        later = np.zeros(n, dtype=bool)
        for i in picks:
            later[i + h + 1: int(series.seg_end[i])] = True
        if cross:  # every symbol's bars after the last bar any label at that datetime reads
            at = np.flatnonzero(series.dt == series.dt[p[0]])
            later = series.dt > int(series.dt[np.minimum(at + h, series.seg_end[at] - 1)].max())
        close[later] *= rng.uniform(0.5, 2.0, int(later.sum()))
        after = _labels.compute_label(series.with_close(close), ls, default_benchmark=bench)
        earlier = np.zeros(n, dtype=bool)
        for i in picks:
            earlier[int(series.seg_start[i]): i + 1] = True
        if cross:
            earlier = np.isin(idx, p)
        peek = earlier & ~_equal(base, after)
        # 2. bars t+1..t+h-1 flat, bar t+h far up vs far down: the label at t must differ
        up, down = series.close.copy(), series.close.copy()
        for k, i in enumerate(picks):  # alternate directions: a cross-sectional mean stays put
            up[i + 1: i + h] = down[i + 1: i + h] = series.close[i]
            hi, lo = series.close[i] * 100.0, series.close[i] * 0.01
            up[i + h], down[i + h] = (hi, lo) if k % 2 == 0 else (lo, hi)
        lu = _labels.compute_label(series.with_close(up),
                                   ls, default_benchmark=bench)[p]
        ld = _labels.compute_label(series.with_close(down),
                                   ls, default_benchmark=bench)[p]
        defined = ~np.isnan(lu) & ~np.isnan(ld)
        blind = defined & _equal(lu, ld)
        # 3. NULL where t+h is past the symbol's last bar
        past = (idx + h) >= series.seg_end
        filled = past & ~np.isnan(base)
        problems = []
        if peek.any():
            problems.append(f"{int(peek.sum())} labels changed when only bars after t+{h} moved")
        if blind.any():
            problems.append(f"{int(blind.sum())} of {int(defined.sum())} labels ignore bar t+{h}")
        if not defined.any():
            problems.append("no defined label to test bar t+h with")
        if filled.any():
            problems.append(f"{int(filled.sum())} labels defined although t+{h} is past the data")
        detail = "; ".join(problems) or (f"{len(picks)} symbols: unchanged by bars after t+{h}, moved by bar t+{h}; "
                                          f"{int(past.sum())} rows past the data are NULL")
        out.append(Check("label_horizon", ls.name, not problems, detail))
    return out


def audit(
    path: str | Path,
    *,
    warehouse: Any = None,
    symbols: int = 12,
    cuts: int = 3,
    seed: int = 0,
    feature_fn: FeatureFn | None = None,
) -> AuditReport:
    """Audit a dataset directory (see the module doc) on up to `symbols` of its symbols and `cuts` instants."""
    man = _manifest.load(path)
    config = man["config"]
    store = _store(warehouse if warehouse is not None else man["source"]["warehouse"])
    table = config["table"]
    spec = get_table(table)
    rng = np.random.default_rng(seed)
    members = config["symbols"]
    if members is None:
        probe, _ = read_at(store, table, version=int(man["source"]["version"]), start=config["start"],
                           end=config["end"], columns=["symbol", "datetime"])
        members = sorted(set(probe.column("symbol").to_pylist()))
    chosen = sorted(rng.choice(members, size=min(symbols, len(members)), replace=False).tolist())
    wanted = chosen + ([spec.default_benchmark] if spec.default_benchmark not in chosen else [])
    cols = [*BAR_COLUMNS, *METADATA_COLUMNS]
    # the whole history up to the dataset's end: the stored features had it for their warm-up
    rows, _ = read_at(store, table, version=int(man["source"]["version"]), symbols=wanted, end=config["end"],
                      columns=cols)
    bars = rows.to_pandas()
    dt_us = pc.cast(rows.column("datetime"), pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    lo = _us_or(config["start"], int(dt_us.min()) if len(dt_us) else 0)
    in_window = np.unique(dt_us[dt_us >= lo])
    qs = np.linspace(0, 1, cuts + 2)[1:-1]
    cut_us = sorted({int(in_window[int(q * (len(in_window) - 1))]) for q in qs}) if len(in_window) else []
    report = AuditReport(str(path), chosen, [_day(c) for c in cut_us])
    report.checks += audit_features(bars, config, cut_us, feature_fn=feature_fn or engine_features, seed=seed)
    sample = rows.filter(pc.greater_equal(rows.column("datetime"), pa.scalar(lo, pa.timestamp("us", tz="UTC"))))
    sym = np.asarray(sample.column("symbol").to_numpy(zero_copy_only=False), dtype=object)
    sdt = pc.cast(sample.column("datetime"), pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    series = _labels.Series.of(sym, sdt, _numpy(sample.column("close")))
    report.checks += audit_labels(series, config, seed=seed)
    return report


def _us_or(value: str | None, default: int) -> int:
    if value is None:
        return default
    from marketlake.storage.layout import to_utc

    ts = to_utc(value)
    assert ts is not None
    return int(ts.timestamp() * 1_000_000)


__all__ = ["AuditReport", "Check", "FeatureFn", "audit", "audit_features", "audit_labels", "engine_features"]
