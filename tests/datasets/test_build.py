"""Building datasets: reproducible from the manifest, verifiable, transforms within a datetime, policies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from marketlake.datasets import Dataset, build, pinned_versions, vacuum_warnings, verify
from marketlake.errors import ConfigError, StorageError
from marketlake.pipeline import load_bars
from marketlake.storage import DeltaStore
from marketlake.storage import maintenance as mt
from tests.conftest import SHARED_DATA
from tests.datasets.cli import run
from tests.datasets.conftest import UNTIL
from tests.datasets.sp500 import DAILY, sp500_bars

TABLE = "stocks_daily_clean"


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((d / "data").glob("*.parquet"))}


def test_rebuild_from_manifest_after_appending_bars_is_byte_identical(sp500: DeltaStore, tmp_path: Path) -> None:
    a = tmp_path / "a"
    code, out = run(["dataset", "build", "-w", sp500.root, "--table", TABLE, "--start", "2014-01-01",
                     "--features", "close,rsi_14,macd,trend_regime", "--label", "fwd_return:5",
                     "--label", "triple_barrier:10", "--splits", "walk_forward:folds=3,embargo=5", "--out", a])
    assert code == 0, out
    v0 = sp500.version(TABLE)
    load_bars(sp500, DAILY, sp500_bars(SHARED_DATA, after=UNTIL), source="csv")  # June-August 2017 arrive
    assert sp500.version(TABLE) > v0
    b = tmp_path / "b"
    code, out = run(["dataset", "build", "--from-manifest", a / "manifest.json", "--out", b])
    assert code == 0, out
    assert "identical" in out
    fa, fb = _files(a), _files(b)
    assert fa and fa == fb  # byte for byte, not only the same hash
    # a fresh build at the latest version does see the new bars: the pin is what made them equal
    c = build(sp500, table=TABLE, start="2014-01-01", features=["close", "rsi_14", "macd", "trend_regime"],
              labels=["fwd_return:5", "triple_barrier:10"], splits="walk_forward:folds=3,embargo=5", out=tmp_path / "c")
    assert c.manifest["rows"] > Dataset.open(a).manifest["rows"]
    assert c.manifest["source"]["version"] == sp500.version(TABLE)
    assert pinned_versions(sp500)[TABLE] >= {v0, sp500.version(TABLE)}


def test_verify_detects_tampering(sp500: DeltaStore, tmp_path: Path) -> None:
    d = tmp_path / "d"
    build(sp500, table=TABLE, start="2016-01-01", features=["rsi_14"], labels=["fwd_return:5"], out=d)
    assert verify(d).ok
    assert run(["dataset", "verify", d])[0] == 0
    f = next((d / "data").glob("*.parquet"))
    t = pq.read_table(f)
    col = t.column("fwd_return_5").to_numpy(zero_copy_only=False).copy()
    col[100] = 0.5  # one label nudged
    pq.write_table(t.set_column(t.column_names.index("fwd_return_5"), "fwd_return_5", pa.array(col)), f)
    v = verify(d)
    assert not v.ok and any("content changed" in p for p in v.problems)
    code, out = run(["dataset", "verify", d])
    assert code == 1 and "problem" in out
    (d / "data" / "extra.parquet").write_bytes(b"x")
    assert any("unlisted" in p for p in verify(d).problems)


def test_from_manifest_fails_clearly_once_the_version_is_vacuumed(sp500: DeltaStore, tmp_path: Path) -> None:
    d = tmp_path / "d"
    build(sp500, table=TABLE, start="2016-06-01", features=["rsi_14"], labels=["fwd_return:5"], out=d)
    pinned = Dataset.open(d).manifest["source"]["version"]
    assert pinned in pinned_versions(sp500)[TABLE]
    sp500.optimize(TABLE)  # rewrites every file: the pinned version's files are now unused by the latest one
    doomed, _ = mt.vacuum(sp500, TABLE, retention_hours=0, dry_run=True)
    warnings = vacuum_warnings(sp500, TABLE, doomed)
    assert warnings and f"version {pinned}" in warnings[0] and str(d) in warnings[0]
    from marketlake.janitor import plan as janitor_plan

    vacuum = [p for p in janitor_plan(sp500, vacuum_hours=0) if p.name == TABLE and p.action == "vacuum"]
    assert vacuum and f"WARNING: {TABLE} version {pinned} is pinned by dataset(s) {d}" in vacuum[0].reason
    mt.vacuum(sp500, TABLE, retention_hours=0, dry_run=False)
    code, out = run(["dataset", "build", "--from-manifest", d / "manifest.json", "--out", tmp_path / "e"])
    assert code == 2
    assert f"version {pinned} is no longer readable" in out and "vacuumed" in out
    with pytest.raises(StorageError, match="no longer readable"):
        from marketlake.datasets import rebuild

        rebuild(d / "manifest.json", out=tmp_path / "f")


def test_every_file_holds_whole_rows_and_outputs_agree(sp500_shared: DeltaStore, tmp_path: Path) -> None:
    d = tmp_path / "d"
    ds = build(sp500_shared, table=TABLE, start="2015-01-01", labels=["fwd_return:5", "sign:5"], out=d,
               splits="walk_forward:folds=2,embargo=1", register=False, rows_per_file=3000)  # several files
    files = sorted((d / "data").glob("*.parquet"))
    assert len(files) > 3
    expected = ["symbol", "datetime", *ds.feature_columns, *ds.label_columns, "fold_1", "fold_2"]
    last = None
    for f in files:
        t = pq.read_table(f)
        assert t.column_names == expected
        assert t.schema.field("symbol").type == pa.string()
        assert t.schema.field("datetime").type == pa.timestamp("us", tz="UTC")
        first = t.column("datetime")[0].as_py()
        assert last is None or first > last  # a datetime never straddles two files
        last = t.column("datetime")[-1].as_py()
    # default features: every numeric catalogue field; float64 labels
    assert len(ds.feature_columns) == 83 and "rsi_14" in ds.feature_columns and "sector" not in ds.feature_columns
    arrow = Dataset.open(d).to_arrow()
    assert arrow.schema.field("fwd_return_5").type == pa.float64()
    pdf = Dataset.open(d).to_pandas()
    plf = Dataset.open(d).to_polars()
    assert isinstance(plf, pl.DataFrame) and plf.height == len(pdf) == arrow.num_rows == ds.manifest["rows"]
    assert ds.features().shape[1] == 2 + 83 and list(ds.labels().columns) == ["symbol", "datetime", "fwd_return_5",
                                                                              "sign_5"]
    # the loader: fold 2's training rows, batch by batch, equal the same rows selected in pandas
    xs, ys = [], []
    for x, y in Dataset.open(d).batches(fold=2, part="train", label="fwd_return_5", batch_size=1000,
                                        dtype=np.float64):
        assert x.shape[0] <= 1000 and x.shape[1] == 83
        xs.append(x)
        ys.append(y)
    want = pdf[(pdf["fold_2"] == "train") & pdf["fwd_return_5"].notna()]
    np.testing.assert_array_equal(np.concatenate(ys), want["fwd_return_5"].to_numpy())
    np.testing.assert_array_equal(np.concatenate(xs)[:, 0], want[ds.feature_columns[0]].to_numpy(dtype=float))


def test_transforms_and_missing_policies_stay_within_a_datetime(sp500_shared: DeltaStore) -> None:
    feats = ["rsi_14", "sma_200", "volume"]
    raw = build(sp500_shared, table=TABLE, start="2012-09-01", end="2013-12-31", features=feats,
                labels=["fwd_return:1"], splits=None, register=False).to_pandas()
    g = raw.groupby("datetime")

    def check(transforms: list[str], missing: str, expect: pd.DataFrame) -> None:
        got = build(sp500_shared, table=TABLE, start="2012-09-01", end="2013-12-31", features=feats,
                    labels=["fwd_return:1"], splits=None, transforms=transforms, missing=missing,
                    register=False).to_pandas()
        exp = expect.reset_index(drop=True)
        assert len(got) == len(exp)
        for f in feats:
            np.testing.assert_allclose(got[f].to_numpy(dtype=float), exp[f].to_numpy(dtype=float), rtol=1e-12,
                                       atol=1e-12, err_msg=f"{transforms} {missing} {f}")

    z = raw.copy()
    for f in feats:
        z[f] = (raw[f] - g[f].transform("mean")) / g[f].transform("std")
    check(["zscore"], "keep", z)
    r = raw.copy()
    for f in feats:
        n = g[f].transform("count")
        r[f] = np.where(n > 1, (g[f].rank(method="average") - 1) / (n - 1), 0.5)
        r.loc[raw[f].isna(), f] = np.nan
    check(["rank"], "keep", r)
    imp = raw.copy()
    for f in feats:
        imp[f] = raw[f].fillna(g[f].transform("median"))
    check([], "impute", imp)
    check([], "drop", raw.dropna(subset=feats))
    w = raw.copy()
    for f in feats:
        def clip(s: pd.Series) -> pd.Series:
            v = np.sort(s.dropna().to_numpy())
            if not len(v):
                return s
            lo, hi = v[int(np.floor(0.1 * (len(v) - 1)))], v[int(np.ceil(0.9 * (len(v) - 1)))]
            return s.clip(lo, hi)
        w[f] = g[f].transform(clip)
    check(["winsorize:p=0.1"], "keep", w)
    assert raw["sma_200"].isna().any()  # the policies had NULLs to act on (warm-up of sma_200)


def test_membership_restricts_the_universe_at_each_date(sp500_shared: DeltaStore, tmp_path: Path) -> None:
    members = tmp_path / "members.csv"
    members.write_text("symbol,start,end\nAAPL,2015-01-01,2015-06-30\nMSFT,2015-03-01,\nKO,2014-01-01,2015-02-01\n")
    ds = build(sp500_shared, table=TABLE, start="2015-01-01", end="2015-12-31", features=["close"],
               labels=["fwd_return:5"], splits=None, membership=members, register=False).to_pandas()
    span = ds.groupby("symbol")["datetime"].agg(["min", "max"])
    assert set(span.index) == {"AAPL", "MSFT", "KO"}
    assert span.loc["AAPL", "max"] < pd.Timestamp("2015-07-01", tz="UTC")
    assert span.loc["MSFT", "min"] >= pd.Timestamp("2015-03-01", tz="UTC")
    assert span.loc["KO", "max"] < pd.Timestamp("2015-02-02", tz="UTC")
    # labels read the bars after a member leaves (you still hold it): AAPL's last member day has a label
    assert pd.notna(ds[ds.symbol == "AAPL"]["fwd_return_5"].iloc[-1])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"features": ["sector"]}, "numeric"),
    ({"features": ["nope"]}, "unknown features"),
    ({"labels": ["fwd_return:5", "fwd_return:h=5"]}, "two columns named"),
    ({"labels": ["excess_return:h=5,benchmark=ZZZZ"]}, "benchmark 'ZZZZ'"),
    ({"missing": "fill"}, "missing-feature policy"),
    ({"start": "2030-01-01"}, "no bars"),
    ({"splits": "walk_forward:folds=5000"}, "too few"),
])
def test_bad_requests_get_clear_errors(sp500_shared: DeltaStore, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(sp500_shared, table=TABLE, register=False, **{"labels": ["fwd_return:5"], **kwargs})


def test_cli_refuses_a_foreign_out_directory(sp500_shared: DeltaStore, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    code, out = run(["dataset", "build", "-w", sp500_shared.root, "--table", TABLE, "--out", tmp_path])
    assert code == 2 and "not empty" in out
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_universe_is_resolved_into_the_manifest(sp500_shared: DeltaStore) -> None:
    from marketlake.sources.twelvedata.universes import DOW30

    ds = build(sp500_shared, table=TABLE, start="2017-01-01", universe="dow30", features=["close"],
               labels=["fwd_return:1"], splits=None, register=False)
    assert ds.manifest["config"]["symbols"] == sorted(DOW30)  # a rebuild does not depend on the config file
    got = set(ds.to_pandas()["symbol"])
    assert got and got <= set(DOW30) and "NVDA" in got and "XOM" not in got


def test_streamed_files_equal_the_in_memory_dataset_and_the_sorted_table(
    sp500_shared: DeltaStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are written row group by row group from the reordered source; the in-memory build, the files
    and the stored table sorted by (datetime, symbol) (an independent reorder) must all hold the same rows."""
    import importlib

    build_module = importlib.import_module("marketlake.datasets.build")  # the package exports build() by that name
    monkeypatch.setattr(build_module, "ROW_GROUP", 997)  # many row groups per file, cut mid-datetime
    kwargs = dict(table=TABLE, start="2016-06-01", labels=["fwd_return:5"], register=False, rows_per_file=4000,
                  splits="walk_forward:folds=2,embargo=1")
    d = tmp_path / "d"
    on_disk = build(sp500_shared, out=d, **kwargs)
    in_memory = build(sp500_shared, out=None, **kwargs)
    assert [f["sha256"] for f in on_disk.manifest["files"]] == [f["sha256"] for f in in_memory.manifest["files"]]
    files = Dataset.open(d).to_arrow()
    memory = in_memory.to_arrow()
    assert files.equals(memory)
    assert pq.ParquetFile(sorted((d / "data").glob("*.parquet"))[0]).metadata.num_row_groups > 2
    stored = sp500_shared.read(TABLE, start="2016-06-01", columns=["symbol", "datetime", *on_disk.feature_columns])
    oracle = stored.sort_by([("datetime", "ascending"), ("symbol", "ascending")])
    assert oracle.num_rows == files.num_rows
    for name in ["symbol", "datetime", *on_disk.feature_columns]:
        assert files.column(name).equals(oracle.column(name)), name


def test_the_sample_computed_beside_the_read_is_proved_to_be_of_the_rows_read(sp500_shared: DeltaStore) -> None:
    """`build` computes order, labels and folds from (symbol, datetime, close) while the features are read;
    `Index.matches` must accept exactly those rows in that order, and the dataset must equal the one an
    Assembly computes from the rows themselves."""
    from marketlake.datasets.build import INDEX_COLUMNS, Assembly, Index, make_config

    config = make_config(table=TABLE, start="2016-06-01", end=None, labels=["fwd_return:5", "fwd_log_return:3"],
                         splits="walk_forward:folds=2,embargo=1")
    rows = sp500_shared.read(TABLE, start="2016-06-01", columns=list(dict.fromkeys(
        [*INDEX_COLUMNS, *config["features"]])), sort=False)
    narrow = rows.select(list(INDEX_COLUMNS))
    early = Index(narrow, config)
    assert early.matches(rows)
    assert Assembly(rows, config, early).table().equals(Assembly(rows, config).table())
    n = rows.num_rows
    assert not Index(narrow, config).matches(rows.take(pa.array(np.arange(n)[::-1])))  # another order
    assert not Index(narrow, config).matches(rows.slice(0, n - 1))  # a row less
    sym = rows.column("symbol").to_pylist()
    j = next(k for k in range(1, n) if sym[k] != sym[0])
    swapped = rows.set_column(0, "symbol", pa.array([sym[j]] + sym[1:j] + [sym[0]] + sym[j + 1:]))
    assert not Index(narrow, config).matches(swapped)  # same datetimes, other symbols
