"""The baseline's gradient-boosted regressor and its saved form.

LightGBM when installed (deterministic mode, fixed seed), else scikit-learn's HistGradientBoostingRegressor:
both take NaN features natively, so NULL features need no imputation. A saved model is a directory:
the booster (`model.txt` for LightGBM, `model.pkl` for scikit-learn), and `model.json` with the feature
list, the label, the version (a hash of the booster bytes) and the full manifest of the dataset it was
trained on, so `predict` serves exactly the features and transforms the model learned from.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from marketlake.errors import ConfigError


def engine_name() -> str:
    try:
        import lightgbm  # noqa: F401

        return "lightgbm"
    except ImportError:
        try:
            import sklearn  # noqa: F401

            return "sklearn-hgb"
        except ImportError:
            raise ConfigError("the baseline needs LightGBM or scikit-learn: pip install 'marketlake[ml]'") from None


def fit(x: np.ndarray, y: np.ndarray, *, seed: int = 0, rounds: int = 200, threads: int = 2,
        engine: str | None = None) -> Any:
    """A gradient-boosted regressor fitted on (x, y); `engine` "lightgbm" or "sklearn-hgb" (default: the
    best installed)."""
    engine = engine or engine_name()
    if engine not in ("lightgbm", "sklearn-hgb"):
        raise ConfigError(f"unknown model engine {engine!r}: lightgbm or sklearn-hgb")
    if engine == "lightgbm":
        import lightgbm as lgb

        params = {"objective": "regression", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 100,
                  "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
                  "seed": seed, "deterministic": True, "num_threads": threads, "verbose": -1,
                  "force_col_wise": True, "max_bin": 63}
        return lgb.train(params, lgb.Dataset(x, y, free_raw_data=True), num_boost_round=rounds)
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(max_iter=rounds, learning_rate=0.05, max_leaf_nodes=31,
                                          min_samples_leaf=100, l2_regularization=1.0, random_state=seed)
    used = ~np.all(np.isnan(x), axis=0)  # its binning fails on an all-NULL column (e.g. no benchmark bars)
    return _Columns(model.fit(x[:, used], y), used)


class _Columns:
    """A scikit-learn model fitted on a subset of the feature columns (picklable)."""

    def __init__(self, model: Any, used: np.ndarray) -> None:
        self.model, self.used = model, used

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(x[:, self.used]))


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x), dtype=np.float64)


def importance(model: Any, n_features: int) -> np.ndarray:
    """Gain importance per feature (LightGBM); zeros for scikit-learn's model, which has none built in."""
    if hasattr(model, "feature_importance"):
        return np.asarray(model.feature_importance(importance_type="gain"), dtype=np.float64)
    return np.zeros(n_features)


@dataclass
class SavedModel:
    model: Any
    engine: str
    features: list[str]
    label: str
    version: str
    manifest: dict[str, Any]
    trained_rows: int

    @property
    def name(self) -> str:
        return f"baseline-{self.label}"


def save(path: str | Path, model: Any, *, features: list[str], label: str, manifest: dict[str, Any],
         trained_rows: int) -> SavedModel:
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    engine = "lightgbm" if hasattr(model, "save_model") else "sklearn-hgb"
    if engine == "lightgbm":
        blob = model.model_to_string().encode()
        (out / "model.txt").write_bytes(blob)
    else:
        blob = pickle.dumps(model)
        (out / "model.pkl").write_bytes(blob)
    version = hashlib.sha256(blob).hexdigest()[:16]
    meta = {"engine": engine, "features": features, "label": label, "version": version,
            "trained_rows": trained_rows, "manifest": manifest}
    (out / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return SavedModel(model, engine, features, label, version, manifest, trained_rows)


def load(path: str | Path) -> SavedModel:
    p = Path(path)
    meta_path = p / "model.json"
    if not meta_path.is_file():
        raise ConfigError(f"no saved model at {p} (expected {meta_path}); save one with "
                          f"`marketlake research baseline DIR --save-model {p}`")
    meta = json.loads(meta_path.read_text())
    if meta.get("engine") == "lightgbm":
        try:
            import lightgbm as lgb
        except ImportError:
            raise ConfigError("this model was trained with LightGBM: pip install lightgbm") from None
        model: Any = lgb.Booster(model_str=(p / "model.txt").read_text())
    else:
        model = pickle.loads((p / "model.pkl").read_bytes())  # our own file, written by save()
    return SavedModel(model, meta["engine"], meta["features"], meta["label"], meta["version"], meta["manifest"],
                      int(meta.get("trained_rows", 0)))


__all__ = ["SavedModel", "engine_name", "fit", "importance", "load", "predict", "save"]
