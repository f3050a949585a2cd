"""csv and parquet importers: formats, zones, daily session mapping, raw values kept, ParseError."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from marketlake.errors import ParseError
from marketlake.schema import get_table
from marketlake.sources import get_source
from marketlake.validate import validate_bars

DAILY = get_table("stocks_daily_clean")
MINUTE = get_table("stocks_1min_clean")
CRYPTO = get_table("crypto_daily_clean")


def read(path: Path, table=DAILY, kind: str = "csv", **opts) -> pd.DataFrame:
    return pd.concat([b.bars for b in get_source(kind, path=path, **opts).fetch(None, table)], ignore_index=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-07-03", "2024-07-03 13:30"),      # date only -> session open (EDT)
        ("07/03/24", "2024-07-03 13:30"),
        ("12/03/2024", "2024-12-03 14:30"),      # EST
        ("2024-07-03 00:00", "2024-07-03 13:30"),  # local midnight in a daily table = the date
        ("20240703", "2024-07-03 13:30"),
        ("1720013400", "2024-07-03 13:30"),      # epoch seconds
        ("1720013400000", "2024-07-03 13:30"),   # epoch ms
        ("2024-07-03T13:30:00Z", "2024-07-03 13:30"),
    ],
)
def test_date_formats_daily(tmp_path: Path, text: str, expected: str) -> None:
    p = tmp_path / "a.csv"
    p.write_text(f"Symbol,Date,Open,High,Low,Close,Volume\nX,{text},1,2,0.5,1.5,10\n")
    bars = read(p)
    assert bars["datetime"].tolist() == [pd.Timestamp(expected, tz="UTC")]


def test_time_zone_option_and_crypto_default(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text("timestamp,open,high,low,close,volume\n2024-07-03 09:30,1,2,0.5,1.5,10\n")
    assert read(p, MINUTE, symbol="X")["datetime"][0] == pd.Timestamp("2024-07-03 13:30", tz="UTC")
    assert read(p, MINUTE, symbol="X", tz="UTC")["datetime"][0] == pd.Timestamp("2024-07-03 09:30", tz="UTC")
    q = tmp_path / "c.csv"
    q.write_text("date,open,high,low,close,volume\n2024-07-03,1,2,0.5,1.5,0.25\n")
    assert read(q, CRYPTO, symbol="BTC/USD")["datetime"][0] == pd.Timestamp("2024-07-03", tz="UTC")


def test_bad_values_stay_raw_and_are_quarantined_with_location(tmp_path: Path) -> None:
    p = tmp_path / "b.csv.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("symbol,datetime,open,high,low,close,volume\n"
                 "X,2024-07-01,1,2,0.5,1.5,10\n"
                 "X,2024-07-02,abc,2,0.5,1.5,10\n"
                 "X,not a date,1,2,0.5,1.5,10\n"
                 "X,2024-07-04,1,2,0.5,1.5,10\n"
                 "\n")
    bars = read(p)
    assert bars["open"].tolist()[1] == "abc" and bars["_location"].tolist()[2] == "b.csv.gz:4"
    res = validate_bars(bars, DAILY, source="csv")
    q = res.quarantined.to_pandas().set_index("location")
    assert q.loc["b.csv.gz:3", "rule"] == "non_numeric"
    assert q.loc["b.csv.gz:4", "rule"] == "unparseable_datetime"
    assert '"not a date"' in q.loc["b.csv.gz:4", "raw"]
    assert q.loc["b.csv.gz:5", "rule"] == "outside_session"  # Independence Day
    assert res.counts["good"] == 1


def test_spy_daily_file_with_symbol_option(shared_data: Path) -> None:
    bars = read(shared_data / "ohlcv" / "spy_daily_2017_2018.csv", symbol="SPY")
    assert len(bars) == 502 and set(bars["symbol"]) == {"SPY"}
    assert validate_bars(bars, DAILY, source="csv").counts["good"] == 502


def test_chunked_streaming_and_window_filter(tmp_path: Path) -> None:
    p = tmp_path / "w.csv"
    rows = [f"X,2024-07-{d:02d},1,2,0.5,1.5,10" for d in (1, 2, 3, 5, 8, 9)]
    p.write_text("symbol,datetime,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    batches = list(get_source("csv", path=p, chunk_rows=2).fetch(
        ["X"], DAILY, start=pd.Timestamp("2024-07-02", tz="UTC"), end=pd.Timestamp("2024-07-06", tz="UTC")))
    got = pd.concat([b.bars for b in batches])
    assert len(batches) >= 2 and got["_location"].tolist() == ["w.csv:3", "w.csv:4", "w.csv:5"]


@pytest.mark.parametrize(
    ("content", "line", "column"),
    [
        (b"symbol,datetime,open,high,low,close\nX,2024-07-01,1,2,0.5,1.5\n", 1, "volume"),
        (b"datetime,open,high,low,close,volume\n2024-07-01,1,2,0.5,1.5,1\n", 1, "symbol"),
        (b"symbol,datetime,open,high,low,close,volume\nX,2024-07-01,1,2,0.5,1.5,1\nX,2024-07-02,1,2,0.5,1.5,1,9,9\n", 3, None),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", 1, None),
    ],
)
def test_parse_errors_name_file_line_column(tmp_path: Path, content: bytes, line: int, column: str | None) -> None:
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(ParseError) as err:
        read(p)
    assert err.value.path == str(p) and err.value.line == line
    if column is not None:
        assert err.value.column == column
    assert "bad.csv" in str(err.value)


def test_parquet_typed_and_text_timestamps(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "Symbol": ["X", "X"], "Timestamp": pd.to_datetime(["2024-07-03 09:30", "2024-07-03 09:31"]),
        "open": [1.0, 1.0], "high": [2.0, 2.0], "low": [0.5, 0.5], "close": [1.5, 1.5], "volume": [1, 2],
    })
    p = tmp_path / "m.parquet"
    frame.to_parquet(p)
    bars = read(p, MINUTE, kind="parquet")
    assert bars["datetime"].tolist() == [pd.Timestamp("2024-07-03 13:30", tz="UTC"), pd.Timestamp("2024-07-03 13:31", tz="UTC")]
    assert bars["_location"].tolist() == ["m.parquet:row 1", "m.parquet:row 2"]
    assert validate_bars(bars, MINUTE, source="parquet").counts["good"] == 2
    with pytest.raises(ParseError):
        frame.drop(columns="close").to_parquet(p)
        read(p, MINUTE, kind="parquet")


def test_short_row_becomes_missing_values(tmp_path: Path) -> None:
    """pandas' C reader pads short rows; they are quarantined as missing values at their line."""
    p = tmp_path / "s.csv"
    p.write_text("symbol,datetime,open,high,low,close,volume\nX,2024-07-01,1,2,0.5,1.5,1\nX,2024-07-02,1,2\n")
    res = validate_bars(read(p), DAILY, source="csv")
    q = res.quarantined.to_pylist()
    assert [(r["location"], r["rule"]) for r in q] == [("s.csv:3", "missing_value")]
    assert "low, close, volume" in q[0]["reason"]
