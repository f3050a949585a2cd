"""End to end on real Delta tables: inject each defect, the monitor finds it where it is, --fix clears it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.quality import QualityConfig, run_quality
from marketlake.storage import DeltaStore
from tests.quality.conftest import replace_rows

AS_OF = datetime(2024, 6, 29, tzinfo=UTC)
CFG = QualityConfig(as_of=AS_OF, targets={"stocks_daily_clean": 1})
T = "stocks_daily_clean"


def _errors(store: DeltaStore, **kw: object) -> list[tuple[str, str | None, str | None]]:
    rep = run_quality(store, config=CFG, record=False, **kw)  # type: ignore[arg-type]
    return sorted((i.check, i.symbol, i.field) for i in rep.issues if i.severity == "error")


def test_clean_warehouse_has_no_errors_and_cli_contract(wh: DeltaStore) -> None:
    assert _errors(wh) == []
    res = CliRunner().invoke(app, ["quality", "-w", wh.root, "--json", "--as-of", AS_OF.isoformat()])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["errors"] == 0 and isinstance(out["issues"], list)
    assert all({"check", "severity", "table", "symbol", "field", "detail"} <= set(i) for i in out["issues"])
    runs = wh.read_support("quality_runs").to_pylist()
    assert runs[-1]["run_id"] == out["run_id"]
    stored = wh.read_support("quality_issues").to_pylist()
    assert len([r for r in stored if r["run_id"] == out["run_id"]]) == len(out["issues"])


def test_nulls_found_and_recomputed(wh: DeltaStore) -> None:
    orig = replace_rows(wh, T, "AAPL", lambda d: d.assign(
        rsi_14=d["rsi_14"].where(~d.index.isin([100, 101, 102]), None)))
    rep = run_quality(wh, config=CFG)
    hits = [i for i in rep.issues if i.check == "nulls"]
    assert [(i.symbol, i.field, i.count, i.first_datetime) for i in hits] == [
        ("AAPL", "rsi_14", 3, orig.column("datetime")[100].as_py())]
    res = CliRunner().invoke(app, ["quality", "-w", wh.root, "--as-of", AS_OF.isoformat()])
    assert res.exit_code == 1 and "rsi_14" in res.output
    fixed = run_quality(wh, config=CFG, fix=True)
    assert [i.fixed for i in fixed.issues if i.check == "nulls"] == [True]
    assert any(r.check == "repair" and r.symbol == "AAPL" for r in fixed.repairs)
    assert wh.read(T, symbols=["AAPL"], columns=["rsi_14"]).column("rsi_14").equals(orig.column("rsi_14"))
    assert _errors(wh) == []


def test_missing_bars_found_and_refetched(wh: DeltaStore) -> None:
    dts = wh.read(T, symbols=["MSFT"], columns=["datetime"]).column("datetime")
    gone = [dts[200].as_py(), dts[201].as_py()]
    DeltaTable(wh.path(T)).delete(
        "symbol = 'MSFT' AND datetime IN (" + ", ".join(f"'{d.isoformat()}'" for d in gone) + ")")
    hits = [i for i in run_quality(wh, config=CFG, record=False).issues if i.check == "missing_bars"]
    assert [(i.symbol, i.count, i.first_datetime, i.last_datetime) for i in hits] == [("MSFT", 2, *gone)]
    rep = run_quality(wh, config=CFG, fix=True)
    assert [i.fixed for i in rep.issues if i.check == "missing_bars"] == [True]
    assert wh.read(T, symbols=["MSFT"], columns=["datetime"]).column("datetime").equals(dts)


def test_split_found_and_rebackfilled(wh: DeltaStore) -> None:
    orig = wh.read(T, symbols=["NVDA"])
    when = orig.column("datetime")[250].as_py()

    def split(d):  # type: ignore[no-untyped-def]
        after = d["datetime"] >= when
        for c in ("open", "high", "low", "close"):
            d.loc[after, c] = d.loc[after, c] / 2
        d.loc[after, "volume"] = d.loc[after, "volume"] * 2
        return d

    replace_rows(wh, T, "NVDA", split)
    hits = [i for i in run_quality(wh, config=CFG, record=False).issues if i.check == "split"]
    assert [(i.symbol, i.first_datetime, i.severity) for i in hits] == [("NVDA", when, "error")]
    rep = run_quality(wh, config=CFG, fix=True)
    assert [i.fixed for i in rep.issues if i.check == "split"] == [True]
    assert wh.read(T, symbols=["NVDA"], columns=["close"]).column("close").equals(orig.column("close"))


def test_metadata_found_and_enriched_from_reference(wh: DeltaStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    replace_rows(wh, T, "JNJ", lambda d: d.assign(exchange=None, mic_code=None))
    hits = {(i.symbol, i.field) for i in run_quality(wh, config=CFG, record=False).issues if i.check == "metadata"
            and i.table == T}
    assert hits == {("JNJ", "exchange"), ("JNJ", "mic_code")}
    ref = tmp_path / "other_listed.csv"
    ref.write_text("ACT Symbol,Security Name,Exchange,CQS Symbol,ETF,Round Lot Size,Test Issue,NASDAQ Symbol\n"
                   "JNJ,Johnson & Johnson Common Stock,N,JNJ,N,100,N,JNJ\n")
    no_ref = run_quality(wh, config=CFG, fix=True, record=False)
    assert any("not repairable" in r.detail for r in no_ref.repairs)
    cfg = QualityConfig(as_of=AS_OF, targets={T: 1}, reference_paths=(str(ref),))
    rep = run_quality(wh, config=cfg, fix=True)
    assert all(i.fixed for i in rep.issues if i.check == "metadata" and i.symbol == "JNJ" and i.table == T)
    meta = wh.read(T, symbols=["JNJ"], columns=["exchange", "mic_code"]).to_pylist()
    assert {(m["exchange"], m["mic_code"]) for m in meta} == {("NYSE", "XNYS")}


def test_dependency_gap_without_benchmark(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.quality.conftest import load_synthetic

    store = DeltaStore(tmp_path / "wh")
    load_synthetic(store, symbols=["AAPL", "MSFT", "NVDA"], days=200)
    deps = {(i.symbol, i.field) for i in run_quality(store, config=CFG, record=False).issues
            if i.check == "dependency"}
    assert {("AAPL", "rs_benchmark_20"), ("AAPL", "beta_60")} <= deps
    assert not any(i.check == "nulls" for i in run_quality(store, config=CFG, record=False).issues)


def test_schema_mismatch_is_an_error(wh: DeltaStore) -> None:
    write_deltalake(wh.path("stocks_hourly_clean"), pa.table({"symbol": ["A"], "close": [1.0]}))
    rep = run_quality(wh, config=CFG, record=False)
    schema = [i for i in rep.issues if i.check == "schema"]
    assert schema and all(i.table == "stocks_hourly_clean" for i in schema)
    assert any(i.field == "datetime" and "missing" in i.detail for i in schema)
    assert not rep.ok


def _versions(store: DeltaStore) -> dict[str, int]:
    from marketlake.schema import TABLE_NAMES

    return {t: DeltaTable(store.path(t)).version() for t in TABLE_NAMES if store.exists(t)}


def test_fix_previews_without_yes_and_applies_with_yes(wh: DeltaStore) -> None:
    orig = replace_rows(wh, T, "AAPL", lambda d: d.assign(
        rsi_14=d["rsi_14"].where(~d.index.isin([100, 101]), None)))
    before = _versions(wh)
    args = ["quality", "-w", wh.root, "--as-of", AS_OF.isoformat(), "--fix"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1, res.output  # as a normal run: the error is still there
    assert "repair plan" in res.output and "recompute" in res.output and "--fix --yes" in res.output
    assert _versions(wh) == before
    assert wh.read(T, symbols=["AAPL"], columns=["rsi_14"]).column("rsi_14").null_count > 0
    res = CliRunner().invoke(app, [*args, "--yes"])
    assert res.exit_code == 0, res.output
    assert wh.read(T, symbols=["AAPL"], columns=["rsi_14"]).column("rsi_14").equals(orig.column("rsi_14"))
    logged = [r for r in wh.read_support("quality_issues").to_pylist() if r["check"] == "repair"]
    assert [(r["table"], r["symbol"], r["field"]) for r in logged] == [(T, "AAPL", "nulls")]
    assert "recomputed" in logged[0]["detail"]


def _mixed_sources(wh: DeltaStore, cut: int, gap: tuple[int, int]) -> pa.Table:
    """MSFT: bars before row `cut` relabelled as a file import (`csv`), rows gap[0]..gap[1]-1 deleted."""
    dts = wh.read(T, symbols=["MSFT"], columns=["datetime"]).column("datetime")
    when = dts[cut].as_py()
    replace_rows(wh, T, "MSFT", lambda d: d.assign(source=d["source"].where(d["datetime"] >= when, "csv")))
    gone = [dts[k].as_py() for k in range(*gap)]
    DeltaTable(wh.path(T)).delete(
        "symbol = 'MSFT' AND datetime IN (" + ", ".join(f"'{d.isoformat()}'" for d in gone) + ")")
    return wh.read(T, symbols=["MSFT"])


def test_gap_between_two_sources_is_never_filled(wh: DeltaStore) -> None:
    # real (csv) bars before the gap, synthetic after it: the old policy (mode of `source`) padded it
    kept = _mixed_sources(wh, cut=150, gap=(150, 160))
    rep = run_quality(wh, config=CFG, fix=True)
    assert [i.fixed for i in rep.issues if i.check == "missing_bars"] == [False]
    assert [r.detail for r in rep.repairs if r.field == "missing_bars"] == [
        "not repairable: 1 gap(s): the bars around it come from different sources ('csv' before, "
        "'synthetic' after)"]
    assert wh.read(T, symbols=["MSFT"]).equals(kept)


def test_synthetic_bars_never_enter_a_mixed_series(wh: DeltaStore) -> None:
    # synthetic on both sides of the gap, but the series also holds real bars: refused
    kept = _mixed_sources(wh, cut=100, gap=(200, 205))
    plan = run_quality(wh, config=CFG, fix=True, plan_only=True, record=False).plan
    assert [(p.action, p.symbols) for p in plan if p.check == "missing_bars"] == [("refuse", ("MSFT",))]
    assert "never fetched into a series with bars of another source (csv)" in plan[-1].detail
    run_quality(wh, config=CFG, fix=True)
    assert wh.read(T, symbols=["MSFT"]).equals(kept)


def test_gap_refetched_only_over_its_own_range(wh: DeltaStore) -> None:
    dts = wh.read(T, symbols=["MSFT"], columns=["datetime"]).column("datetime")
    DeltaTable(wh.path(T)).delete(f"symbol = 'MSFT' AND datetime = '{dts[250].as_py().isoformat()}'")
    plan = run_quality(wh, config=CFG, fix=True, plan_only=True, record=False).plan
    assert [(p.action, p.source, p.start, p.end) for p in plan] == [
        ("refetch", "synthetic", dts[249].as_py(), dts[251].as_py())]


def test_symbol_master_checked_only_for_used_symbols_and_cli_summary(wh: DeltaStore) -> None:
    import pandas as pd

    from marketlake.schema import SUPPORT_SCHEMAS

    schema = SUPPORT_SCHEMAS["symbols"]
    extra = pd.DataFrame({"symbol": [f"Z{k:04d}" for k in range(300)] + ["QQQM"], "asset_type": "stock",
                          "active": True})
    cols = {f.name: extra[f.name] if f.name in extra else None for f in schema}
    table = pa.Table.from_arrays([pa.array(cols[f.name] if cols[f.name] is not None else [None] * len(extra),
                                           type=f.type, from_pandas=True) for f in schema], schema=schema)
    wh.upsert_support("symbols", table, keys=["symbol"])  # 301 master rows, no metadata, no bars
    cfg = QualityConfig(as_of=AS_OF, targets={T: 1}, universes={T: ("QQQM",)})
    master_issues = {i.symbol for i in run_quality(wh, config=cfg, record=False).issues if i.table == "symbols"}
    assert master_issues == {"QQQM"}  # in a configured universe; the 300 unused symbols are not reported
    args = ["quality", "-w", wh.root, "--as-of", AS_OF.isoformat()]
    full = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    assert len(full["issues"]) > 2 and full["summary"]
    text = " ".join(CliRunner().invoke(app, [*args, "--limit", "2"]).output.replace("│", " ").split())
    assert f"showing 2 of {len(full['issues'])} rows" in text
    for check, row in full["summary"].items():
        assert f"{check} {row['error']} {row['warning']} {row['info']}" in text
    assert sum(sum(r.values()) for r in full["summary"].values()) == len(full["issues"])
