"""Wire -> raw bars for a whole batch answer at once: the same bars, raw rows and DST handling as one
series at a time, checked against independent oracles (float(), json, zoneinfo)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from marketlake.schema import get_table
from marketlake.sources.twelvedata.convert import batch_to_bars, series_to_bars
from marketlake.sources.twelvedata.wire import WireMeta, WireSeries
from tests.vendors.fake_twelvedata import FakeState, make_values

NOW = datetime(2024, 11, 5, 15, 7, tzinfo=UTC)


def _series(symbol: str, values: list[dict[str, object]], tz: str = "America/New_York") -> WireSeries:
    return WireSeries(meta=WireMeta(symbol=symbol, interval="1h", exchange_timezone=tz), values=values)


def _wire(state: FakeState, symbol: str, interval: str) -> list[dict[str, object]]:
    return [dict(v) for v in make_values(state, symbol, interval)[::-1]]  # newest first, as sent


def test_batch_matches_one_series_at_a_time_with_bad_rows() -> None:
    state = FakeState(api_key="k", market_now=NOW, listings={"AAPL": date(2024, 9, 2), "MSFT": date(2024, 10, 1)})
    table = get_table("stocks_hourly_clean")
    aapl, msft = _wire(state, "AAPL", "1h"), _wire(state, "MSFT", "1h")
    msft[3]["close"] = "n/a"  # a value that does not parse
    msft[4]["high"] = 'a "quoted" é'  # needs JSON escaping
    msft[5]["extra"] = "1"  # a key we do not know
    del msft[6]["volume"]  # a key missing
    msft[7]["open"] = 12.5  # a number where a string belongs
    answers = [("AAPL", _series("AAPL", aapl)), ("MSFT", _series("MSFT", msft))]
    batch = batch_to_bars(answers, table, now=NOW)
    alone = pd.concat([series_to_bars(s, table, symbol=n, now=NOW) for n, s in answers], ignore_index=True)
    assert len(batch) == len(alone) == len(aapl) + len(msft) - 2  # each symbol's forming bar dropped
    assert batch["symbol"].tolist() == alone["symbol"].tolist()
    assert batch["datetime"].equals(alone["datetime"])
    for part in ("AAPL", "MSFT"):
        stamps = batch.loc[batch.symbol == part, "datetime"]
        assert stamps.is_monotonic_increasing and str(stamps.dtype) == "datetime64[us, UTC]"
    # every kept row's _raw is its wire row, compact JSON with sorted keys (quarantine hashes this text)
    wire = {("AAPL", v["datetime"]): v for v in aapl} | {("MSFT", v["datetime"]): v for v in msft}
    for frame in (batch, alone):
        for raw, sym in zip(frame["_raw"], frame["symbol"]):
            row = json.loads(raw)
            assert row == wire[(sym, row["datetime"])]
            assert raw == json.dumps(row, sort_keys=True, separators=(",", ":"))
    # prices: floats equal to Python's parse of the string, or the raw value kept for validation
    for col in ("open", "high", "low", "close", "volume"):
        for got, raw in zip(batch[col], batch["_raw"]):
            value = json.loads(raw).get(col)
            try:
                expected = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                assert got == value or (value is None and pd.isna(got))
                continue
            assert float(got) == expected


def test_clean_batch_is_float_and_bars_match_the_calendar() -> None:
    state = FakeState(api_key="k", market_now=NOW, listings={"AAPL": date(2024, 1, 2), "SPY": date(2024, 6, 3)})
    table = get_table("stocks_daily_clean")
    answers = [(s, WireSeries(WireMeta(s, "1day", exchange_timezone="America/New_York"), _wire(state, s, "1day")))
               for s in ("AAPL", "SPY")]
    bars = batch_to_bars(answers, table, now=NOW)
    for col in ("open", "high", "low", "close", "volume"):
        assert bars[col].dtype == np.float64
    # a daily bar is stamped at 09:30 New York: 13:30Z in summer, 14:30Z in winter; today's is still forming
    spy = set(bars.loc[bars.symbol == "SPY", "datetime"])
    assert pd.Timestamp("2024-07-03 13:30Z") in spy and pd.Timestamp("2024-11-04 14:30Z") in spy
    assert pd.Timestamp("2024-11-05 14:30Z") not in spy
    assert bars["_location"].iloc[0] == "twelvedata /time_series AAPL 1day"


def test_dst_overlap_and_gap_resolved_per_symbol_in_one_batch() -> None:
    table = get_table("crypto_hourly_clean")
    wall = ["2024-11-03 00:00:00", "2024-11-03 01:00:00", "2024-11-03 01:00:00", "2024-11-03 02:00:00"]
    rows = [{"datetime": t, "open": "1", "high": "2", "low": "0.5", "close": "1.5", "volume": "3"} for t in wall]
    lone = [dict(rows[1])]  # a single ambiguous wall time: nothing to infer from
    gap = [dict(rows[0], datetime="2024-03-10 02:00:00")]  # does not exist in New York
    answers = [("A", _series("A", rows[::-1])), ("U", _series("U", rows[:2][::-1], tz="UTC")),
               ("L", _series("L", lone)), ("G", _series("G", gap))]
    bars = batch_to_bars(answers, table, now=datetime(2025, 1, 1, tzinfo=UTC))
    got = {s: g["datetime"].tolist() for s, g in bars.groupby("symbol", sort=False)}
    # 00:00 and the first 01:00 are EDT (UTC-4); the repeated 01:00 and 02:00 are EST (UTC-5)
    assert got["A"] == [pd.Timestamp(t) for t in ("2024-11-03 04:00Z", "2024-11-03 05:00Z",
                                                  "2024-11-03 06:00Z", "2024-11-03 07:00Z")]
    assert got["U"] == [pd.Timestamp("2024-11-03 00:00Z"), pd.Timestamp("2024-11-03 01:00Z")]
    assert pd.isna(got["L"][0]) and pd.isna(got["G"][0])  # NaT: validation quarantines them
