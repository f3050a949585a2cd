"""The baseline evaluates out of sample only; predict serves what was trained on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from marketlake.datasets import Dataset, build
from marketlake.research import baseline
from marketlake.research.model import load
from marketlake.storage import DeltaStore
from tests.datasets.cli import run

TABLE = "stocks_daily_clean"


@pytest.fixture(scope="module")
def dataset(sp500_shared: DeltaStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("baseline") / "ds"
    build(sp500_shared, table=TABLE, start="2013-06-01", labels=["fwd_return:5", "sign:5"],
          splits="walk_forward:folds=3,embargo=5", out=d, register=False)
    return d


def test_baseline_cli_reports_out_of_sample_metrics_and_an_offline_page(dataset: Path, tmp_path: Path) -> None:
    code, out = run(["research", "baseline", dataset, "--rounds", "15", "--threads", "1", "--out", tmp_path])
    assert code == 0, out
    s = json.loads((tmp_path / "baseline.json").read_text())
    assert s["engine"] == "lightgbm" and s["label"] == "fwd_return_5"
    for key in ("ic", "rank_ic", "icir", "hit_rate"):
        assert s[key] is not None and -1 <= s[key] <= 1 or key == "icir"
    ls = s["long_short"]
    assert ls["step"] == 5 and ls["periods"] > 50 and 0 <= ls["max_drawdown"] <= 1 and ls["mean_turnover"] > 0
    assert np.isclose(ls["mean_gross"] - ls["mean_net"], ls["mean_turnover"] * 10e-4)
    page = (tmp_path / "baseline.html").read_text()
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js inside the page
    assert not re.search(r"<script[^>]+src=", page)  # nothing fetched: works offline
    for title in ("Cumulative decile long-short", "IC per fold", "Feature importance"):
        assert title in page


def test_predictions_exist_only_for_test_rows_and_ic_is_recomputable(dataset: Path) -> None:
    res = baseline.run(dataset, rounds=10, threads=1)
    df = Dataset.open(dataset).to_pandas()
    tested = df[[c for c in df.columns if c.startswith("fold_")]].eq("test").any(axis=1).to_numpy()
    assert res.predictions is not None
    assert (~np.isnan(res.predictions) == tested).all()  # never scored in-sample
    # the first walk-forward window is never tested
    assert np.isnan(res.predictions[df["datetime"] < df.loc[tested, "datetime"].min()]).all()
    df["pred"] = res.predictions
    per = df.dropna(subset=["pred", "fwd_return_5"]).groupby("datetime")
    ic = per.apply(lambda g: g["pred"].corr(g["fwd_return_5"]))
    assert np.isclose(res.summary["ic"], ic.mean(), rtol=1e-9)


def test_sklearn_fallback(dataset: Path) -> None:
    res = baseline.run(dataset, rounds=10, engine="sklearn-hgb")
    assert res.summary["engine"] == "sklearn-hgb" and np.isfinite(res.summary["ic"])


def test_predict_serves_the_trained_features_into_signals(sp500: DeltaStore, tmp_path: Path) -> None:
    d = tmp_path / "ds"
    build(sp500, table=TABLE, start="2016-01-01", labels=["fwd_return:5"], transforms=["rank"],
          splits="walk_forward:folds=2,embargo=5", out=d)
    model_dir = tmp_path / "model"
    code, out = run(["research", "baseline", d, "--rounds", "10", "--threads", "1", "--save-model", model_dir])
    assert code == 0, out
    saved = load(model_dir)
    assert saved.manifest == Dataset.open(d).manifest  # the model carries its dataset's manifest
    code, out = run(["predict", "--model", model_dir, "-w", sp500.root, "--last", "2"])
    assert code == 0, out
    signals = sp500.read_support("signals").to_pandas()
    last2 = sorted(sp500.read(TABLE, columns=["datetime"]).column("datetime").to_pandas().unique())[-2:]
    assert set(signals["datetime"]) == set(last2) and len(signals) == 2 * 16
    assert set(signals["model_version"]) == {saved.version} and set(signals["model"]) == {"baseline-fwd_return_5"}
    # what is served is what was trained on: the dataset's (rank-transformed) features at those datetimes,
    # scored by the saved model, equal the signals
    rows = Dataset.open(d).to_pandas()
    rows = rows[rows["datetime"].isin(last2)].sort_values(["datetime", "symbol"])
    x = rows[saved.features].to_numpy(dtype=np.float32)
    want = saved.model.predict(x)
    got = signals.sort_values(["datetime", "symbol"])
    np.testing.assert_allclose(got["score"].to_numpy(), want, rtol=1e-6)
    top = got[got["datetime"] == last2[-1]]
    assert top["rank"].max() == 1.0 and top["rank"].min() == 0.0
    # re-running replaces, never duplicates
    assert run(["predict", "--model", model_dir, "-w", sp500.root, "--last", "2"])[0] == 0
    assert len(sp500.read_support("signals")) == len(signals)
    assert pc.max(sp500.read_support("signals").column("source_version")).as_py() == sp500.version(TABLE)


def test_predict_without_a_model_is_a_clear_error(sp500_shared: DeltaStore, tmp_path: Path) -> None:
    code, out = run(["predict", "--model", tmp_path / "none", "-w", sp500_shared.root, "--dry-run"])
    assert code == 2 and "no saved model" in out
