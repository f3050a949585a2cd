"""Reference loaders on the real files, format detection, merge priority, and the symbols CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from marketlake.errors import ParseError
from marketlake.schema import METADATA_COLUMNS
from marketlake.sources.reference import (
    detect_format,
    load_nasdaq_listed,
    load_other_listed,
    load_reference,
    load_sp500,
    merge_reference,
    mic_for,
)


def test_mic_codes_come_from_iso10383() -> None:
    assert [mic_for(x) for x in ("NASDAQ", "NYSE", "NYSE Arca", "Cboe BZX", "NYSE American")] == [
        "XNAS", "XNYS", "ARCX", "BATS", "XASE"]
    assert mic_for("Nowhere") is None


def test_sp500(shared_data: Path) -> None:
    f = load_sp500(shared_data / "reference" / "sp500_constituents.csv")
    assert len(f) == 503 and f["symbol"].is_unique
    assert f["sector"].nunique() == 11
    row = f.set_index("symbol").loc["MMM"]
    assert (row["sector"], row["industry"]) == ("Industrials", "Industrial Conglomerates")
    assert set(METADATA_COLUMNS) <= set(f.columns)


def test_listings_footer_test_issues_exchanges_etfs(shared_data: Path) -> None:
    nas = load_nasdaq_listed(shared_data / "reference" / "nasdaq_listed.csv")
    assert not nas["symbol"].str.startswith("File Creation").any()
    assert set(nas["exchange"]) == {"NASDAQ"} and set(nas["mic_code"]) == {"XNAS"}
    raw = pd.read_csv(shared_data / "reference" / "nasdaq_listed.csv", dtype=str, keep_default_na=False)
    tests = set(raw.loc[raw["Test Issue"] == "Y", "Symbol"])
    assert tests and tests.isdisjoint(nas["symbol"])
    assert (nas.set_index("symbol").loc[raw.loc[(raw["ETF"] == "Y") & (raw["Test Issue"] == "N"), "Symbol"], "asset_type"] == "etf").all()
    oth = load_other_listed(shared_data / "reference" / "other_listed.csv")
    assert set(oth["exchange"]) <= {"NYSE", "NYSE Arca", "Cboe BZX", "NYSE American", "IEX"}
    spy = oth.set_index("symbol").loc["SPY"]
    assert (spy["exchange"], spy["mic_code"], spy["asset_type"]) == ("NYSE Arca", "ARCX", "etf")
    assert (oth["currency"] == "USD").all() and (oth["exchange_timezone"] == "America/New_York").all()


def test_detect_and_merge_priority(shared_data: Path) -> None:
    ref = shared_data / "reference"
    assert detect_format(["Symbol", "Security", "GICS Sector", "GICS Sub-Industry"]) == "sp500"
    frames = [load_reference(ref / n) for n in ("other_listed.csv", "nasdaq_listed.csv", "sp500_constituents.csv")]
    merged = merge_reference(frames).set_index("symbol")
    assert merged.index.is_unique
    aapl = merged.loc["AAPL"]
    assert aapl["name"] == "Apple Inc." and aapl["exchange"] == "NASDAQ" and aapl["sector"] == "Information Technology"
    assert merged.loc["MMM", "exchange"] == "NYSE"  # from other_listed, sector from sp500
    assert merged.loc["MMM", "metadata_source"] == "sp500,other_listed"


def test_unknown_format_is_a_parse_error(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ParseError) as err:
        load_reference(p)
    assert err.value.line == 1


def test_symbols_cli_load_and_list(tmp_path: Path) -> None:
    from marketlake.cli.main import app

    p = tmp_path / "sp.csv"
    p.write_text("Symbol,Security,GICS Sector,GICS Sub-Industry\nAAA,Alpha,Energy,Oil\nBBB,Beta,Utilities,Power\n")
    q = tmp_path / "other.csv"
    q.write_text("ACT Symbol,Company Name,Security Name,Exchange,CQS Symbol,ETF,Round Lot Size,Test Issue,NASDAQ Symbol\n"
                 "AAA,Alpha Inc,Alpha Inc Common,N,AAA,N,100,N,AAA\nZZZ,Test,Test,N,ZZZ,N,100,Y,ZZZ\n")
    wh = tmp_path / "wh"
    runner = CliRunner()
    r = runner.invoke(app, ["symbols", "load", str(p), str(q), "--warehouse", str(wh)])
    assert r.exit_code == 0, r.output
    assert "loaded 2 symbols" in r.output
    r = runner.invoke(app, ["symbols", "list", "--warehouse", str(wh)])
    assert r.exit_code == 0 and "AAA" in r.output and "XNYS" in r.output and "ZZZ" not in r.output
    from marketlake.storage import DeltaStore

    rows = DeltaStore(wh).read_support("symbols").to_pandas().set_index("symbol")
    assert rows.loc["AAA", "exchange"] == "NYSE" and rows.loc["AAA", "sector"] == "Energy"
