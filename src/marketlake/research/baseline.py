"""`research baseline`: one gradient-boosted model per fold, evaluated only on that fold's test rows.

Training rows are the fold's `train` rows with a label (purged and embargoed rows are NULL in the fold
column, so they never train); predictions are made for its `test` rows only and pooled across folds into
one out-of-sample series, on which every metric is computed. Nothing is tuned on the test rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.datasets import Dataset
from marketlake.datasets import splits as _splits
from marketlake.datasets.spec import LabelSpec
from marketlake.errors import ConfigError
from marketlake.research import metrics as _m
from marketlake.research import model as _model

_RETURN_KINDS = ("fwd_return", "fwd_log_return", "excess_return")


@dataclass
class BaselineResult:
    summary: dict[str, Any]
    ic_dates: np.ndarray
    ic: np.ndarray
    rank_ic: np.ndarray
    long_short: _m.LongShort | None
    importance: dict[str, float]
    fold_ic: list[dict[str, Any]] = field(default_factory=list)
    predictions: np.ndarray | None = None  # out-of-sample score per dataset row (NaN: never tested)


def _matrix(table: pa.Table, names: list[str]) -> np.ndarray:
    x = np.empty((table.num_rows, len(names)), dtype=np.float32)
    for j, n in enumerate(names):
        x[:, j] = pc.cast(table.column(n), pa.float64()).to_numpy()
    return x


def _return_label(ds: Dataset, label: str) -> tuple[str, int] | None:
    """The label the long-short returns are measured with: `label` if it is a return, else the first
    return label of the dataset; with its horizon (the rebalancing step)."""
    specs = {LabelSpec.parse(t).name: LabelSpec.parse(t) for t in ds.manifest["config"]["labels"]}
    order = [label, *[n for n in ds.label_columns if n != label]]
    for n in order:
        if specs[n].kind in _RETURN_KINDS:
            return n, specs[n].h
    return None


def run(path: str | Path, *, label: str | None = None, cost_bps: float = 10.0, rounds: int = 200, seed: int = 0,
        save_model: str | Path | None = None, threads: int = 2,
        engine: str | None = None, progress: Callable[[str], None] | None = None) -> BaselineResult:
    """Train per fold, predict the fold's test rows, evaluate the pooled out-of-sample predictions.

    `progress` hears each fold before it trains (a fold's fit is the long part).
    """
    t0 = time.perf_counter()
    ds = Dataset.open(path)
    if not ds.fold_columns:
        raise ConfigError(f"{path} has no folds: build it with --splits walk_forward:folds=5,embargo=5")
    y_name = label or ds.label_columns[0]
    if y_name not in ds.label_columns:
        raise ConfigError(f"no label {y_name!r} in {path}; it has {', '.join(ds.label_columns)}")
    ret = _return_label(ds, y_name)
    feats = ds.feature_columns
    table = ds.to_arrow([*feats, *ds.label_columns, *ds.fold_columns])
    x = _matrix(table, feats)
    y = pc.cast(table.column(y_name), pa.float64()).to_numpy()
    dt = pc.cast(table.column("datetime"), pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    sym_codes = pc.dictionary_encode(table.column("symbol")).combine_chunks().indices.to_numpy()
    has_y = ~np.isnan(y)
    oos = np.full(len(y), np.nan)
    gains = np.zeros(len(feats))
    fold_rows = []
    engine = engine or _model.engine_name()
    for k, name in enumerate(ds.fold_columns, 1):
        if progress is not None:
            progress(f"fold {k}/{len(ds.fold_columns)}: training {name}")
        codes = _splits.from_arrow(table.column(name))
        train = (codes == _splits.TRAIN) & has_y
        test = codes == _splits.TEST
        if train.sum() < 200 or not test.any():
            fold_rows.append({"fold": name, "train_rows": int(train.sum()), "test_rows": int(test.sum()),
                              "skipped": "fewer than 200 labelled training rows"})
            continue
        m = _model.fit(x[train], y[train], seed=seed, rounds=rounds, threads=threads, engine=engine)
        pred = _model.predict(m, x[test])
        oos[test] = pred
        gains += _model.importance(m, len(feats))
        order = np.argsort(dt[test], kind="stable")
        _d, fic, fric = _m.ic_series(dt[test][order], pred[order], y[test][order])
        fold_rows.append({"fold": name, "train_rows": int(train.sum()), "test_rows": int(test.sum()),
                          "ic": _m.summarize_ic(fic)["mean"], "rank_ic": _m.summarize_ic(fric)["mean"]})
    evaluated = ~np.isnan(oos)
    if not evaluated.any():
        raise ConfigError(f"no fold of {path} could be trained (each needs >= 200 labelled training rows)")
    dates, ic, ric = _m.ic_series(dt, oos, y)  # rows are datetime-sorted in the dataset
    ls = None
    if ret is not None:
        r = pc.cast(table.column(ret[0]), pa.float64()).to_numpy()
        ls = _m.long_short(dt[evaluated], sym_codes[evaluated], oos[evaluated], r[evaluated], step=ret[1],
                           cost_bps=cost_bps)
    total_gain = gains.sum()
    imp = {f: float(g / total_gain) if total_gain > 0 else 0.0 for f, g in zip(feats, gains)}
    imp = dict(sorted(imp.items(), key=lambda kv: -kv[1]))
    ic_s, ric_s = _m.summarize_ic(ic), _m.summarize_ic(ric)
    summary: dict[str, Any] = {
        "dataset": str(path), "content_hash": ds.manifest["content_hash"], "engine": engine, "label": y_name,
        "return_label": ret[0] if ret else None, "features": len(feats), "rounds": rounds, "seed": seed,
        "oos_rows": int(evaluated.sum()),
        "ic": ic_s["mean"], "ic_std": ic_s["std"], "icir": ic_s["ir"], "ic_positive_share": ic_s["positive_share"],
        "rank_ic": ric_s["mean"], "rank_icir": ric_s["ir"], "ic_datetimes": ic_s["datetimes"],
        "hit_rate": _m.hit_rate(dt[evaluated], oos[evaluated], y[evaluated]),
        "long_short": ls.to_dict() if ls is not None else None,
        "folds": fold_rows,
        "top_features": dict(list(imp.items())[:20]),
    }
    if save_model is not None:
        full = has_y  # the served model learns from every labelled row
        if progress is not None:
            progress(f"training the saved model on {int(full.sum()):,} rows")
        m = _model.fit(x[full], y[full], seed=seed, rounds=rounds, threads=threads, engine=engine)
        saved = _model.save(save_model, m, features=feats, label=y_name, manifest=ds.manifest,
                            trained_rows=int(full.sum()))
        summary["saved_model"] = {"path": str(save_model), "version": saved.version, "trained_rows": int(full.sum())}
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    return BaselineResult(summary, dates, ic, ric, ls, imp, fold_rows, oos)


__all__ = ["BaselineResult", "run"]
