"""Each validation rule on hand-made rows, the duplicate policy, ids and the never-lost property."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketlake.schema import BAR_COLUMNS, SUPPORT_SCHEMAS, get_table
from marketlake.validate import RULE_IDS, validate_bars

DAILY = get_table("stocks_daily_clean")
MINUTE = get_table("stocks_1min_clean")
CRYPTO_H = get_table("crypto_hourly_clean")
OPEN = "2024-07-03 13:30:00+00:00"  # session open (09:30 New York, summer)


def bars(rows: list[tuple], *, dtype: object = None) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(BAR_COLUMNS), dtype=dtype)
    frame["datetime"] = pd.to_datetime(frame["datetime"], utc=True, errors="coerce")
    return frame


def good_row(**kw: object) -> tuple:
    row = {"symbol": "AAA", "datetime": OPEN, "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 100.0}
    row.update(kw)
    return tuple(row.values())


def only_rule(raw: pd.DataFrame, table=DAILY) -> tuple[str, str]:
    res = validate_bars(raw, table, source="test")
    assert res.counts["good"] == 0 and res.quarantined.num_rows == 1
    q = res.quarantined.to_pylist()[0]
    return q["rule"], q["reason"]


@pytest.mark.parametrize(
    ("kw", "rule", "in_reason"),
    [
        ({"open": None}, "missing_value", "open"),
        ({"symbol": None}, "missing_value", "symbol"),
        ({"volume": np.nan}, "missing_value", "volume"),
        ({"high": np.inf}, "non_finite", "high"),
        ({"open": 0.0, "low": 0.0}, "non_positive_price", "open"),
        ({"low": -1.0}, "non_positive_price", "low"),
        ({"high": 8.0}, "high_below_low", "high < low"),
        ({"high": 10.2}, "high_below_open_close", "close"),
        ({"open": 11.5, "high": 11.2}, "high_below_open_close", "open"),
        ({"low": 10.2}, "low_above_open_close", "open"),
        ({"volume": -5.0}, "negative_volume", "volume"),
        ({"datetime": None}, "unparseable_datetime", "datetime"),
        ({"datetime": "2024-07-04 13:30:00+00:00"}, "outside_session", "session"),  # Independence Day
        ({"datetime": "2024-07-06 13:30:00+00:00"}, "outside_session", "session"),  # Saturday
        ({"datetime": "2024-07-03 00:00:00+00:00"}, "off_grid", "grid"),  # 20:00 NY on 07-02, a session day
        ({"datetime": "2024-07-03 14:30:00+00:00"}, "off_grid", "grid"),  # inside the session, not the open
    ],
)
def test_each_rule(kw: dict, rule: str, in_reason: str) -> None:
    got_rule, reason = only_rule(bars([good_row(**kw)]))
    assert got_rule == rule
    assert in_reason in reason


def test_string_values_non_numeric_and_nan_words() -> None:
    raw = bars([good_row(open="abc"), good_row(close="nan", datetime="2024-07-05 13:30:00+00:00"),
                good_row(volume="", datetime="2024-07-08 13:30:00+00:00"),
                good_row(high="11.5", datetime="2024-07-09 13:30:00+00:00")], dtype=object)
    res = validate_bars(raw, DAILY, source="test")
    rules = sorted(res.quarantined.column("rule").to_pylist())
    assert rules == ["missing_value", "non_finite", "non_numeric"]
    assert res.counts["good"] == 1 and res.good["high"].tolist() == [11.5]


def test_zero_volume_is_valid_and_good_frame_contract() -> None:
    raw = bars([good_row(volume=0.0), good_row(symbol="BBB"), good_row(datetime="2024-07-02 13:30:00+00:00")])
    res = validate_bars(raw, DAILY, source="test")
    assert res.counts["good"] == 3 and res.quarantined.num_rows == 0
    g = res.good
    assert list(g.columns) == list(BAR_COLUMNS)
    assert str(g["datetime"].dtype) == "datetime64[us, UTC]"
    assert all(g[c].dtype == np.float64 for c in ("open", "high", "low", "close", "volume"))
    assert g[["symbol", "datetime"]].values.tolist() == sorted(g[["symbol", "datetime"]].values.tolist())


def test_duplicates_last_wins_identical_and_conflicting_quarantined() -> None:
    raw = bars([good_row(close=10.1), good_row(close=10.5), good_row(close=10.5), good_row(close=10.7)])
    raw["_location"] = [f"f.csv:{i}" for i in range(2, 6)]
    res = validate_bars(raw, DAILY, source="test")
    assert res.good["close"].tolist() == [10.7]  # the last row in input order is kept
    q = res.quarantined.to_pandas().sort_values("location")
    assert q["rule"].tolist() == ["duplicate_conflict"] * 3  # all differ from the kept 10.7
    raw2 = bars([good_row(), good_row(), good_row(open=0.0)])
    res2 = validate_bars(raw2, DAILY, source="test")
    assert res2.counts["good"] == 1 and res2.counts["duplicate_identical"] == 1
    assert res2.counts["non_positive_price"] == 1  # a bad row never displaces a valid one


def test_quarantine_schema_raw_and_stable_ids() -> None:
    raw = bars([good_row(open=None), good_row(open=None), good_row(high=1.0)])
    a = validate_bars(raw, DAILY, source="csv", run_id="r1").quarantined
    b = validate_bars(raw, DAILY, source="csv", run_id="r2").quarantined
    assert a.schema.equals(SUPPORT_SCHEMAS["quarantine"])
    assert a.column("row_id").to_pylist() == b.column("row_id").to_pylist()
    assert len(set(a.column("row_id").to_pylist())) == 3  # identical raw rows still get distinct ids
    assert json.loads(a.column("raw")[2].as_py())["high"] == 1.0
    c = validate_bars(raw, DAILY, source="other").quarantined
    assert set(c.column("row_id").to_pylist()).isdisjoint(a.column("row_id").to_pylist())


def test_intraday_grid_early_close_and_dst() -> None:
    rows = [
        good_row(datetime="2020-11-27 14:30:00+00:00"),  # day after Thanksgiving: open 09:30 EST
        good_row(datetime="2020-11-27 17:59:00+00:00"),  # last minute before the 13:00 close
        good_row(datetime="2020-11-27 18:00:00+00:00"),  # the early close itself: outside
        good_row(datetime="2020-11-27 20:00:00+00:00"),  # would be in a normal session
        good_row(datetime="2024-03-08 14:30:00+00:00"),  # Friday before DST: 09:30 EST
        good_row(datetime="2024-03-11 13:30:00+00:00"),  # Monday after DST: 09:30 EDT
        good_row(datetime="2024-03-11 14:30:30+00:00"),  # mid-minute: off grid
        good_row(datetime="2024-03-11 13:29:00+00:00"),  # pre-market
    ]
    res = validate_bars(bars(rows), MINUTE, source="test")
    q = dict(zip(res.quarantined.column("datetime").to_pylist(), res.quarantined.column("rule").to_pylist()))
    assert res.counts["good"] == 4
    assert sorted(q.values()) == ["off_grid", "outside_session", "outside_session", "outside_session"]


def test_crypto_grid_is_utc_and_24_7() -> None:
    rows = [good_row(datetime="2024-07-06 00:00:00+00:00"), good_row(datetime="2024-07-04 13:00:00+00:00"),
            good_row(datetime="2024-07-04 13:30:00+00:00")]
    res = validate_bars(bars(rows), CRYPTO_H, source="test")
    assert res.counts["good"] == 2 and res.counts["off_grid"] == 1


def test_all_rule_ids_have_counts() -> None:
    res = validate_bars(bars([good_row()]), DAILY, source="test")
    assert set(RULE_IDS) <= set(res.counts)
    assert res.counts["input"] == res.counts["good"] + res.counts["quarantined"]


_value = st.one_of(st.none(), st.floats(min_value=-5, max_value=50), st.sampled_from([np.nan, np.inf]),
                   st.sampled_from(["x", "", "12.5", "nan"]))
_row = st.tuples(st.sampled_from(["AAA", "BBB", None, " "]),
                 st.sampled_from([OPEN, "2024-07-04 13:30:00+00:00", "2024-07-05 13:30:00+00:00", None, "junk"]),
                 _value, _value, _value, _value, _value)


@settings(max_examples=60, deadline=None)
@given(st.lists(_row, max_size=25))
def test_every_row_in_good_or_quarantine_exactly_once(rows: list[tuple]) -> None:
    raw = pd.DataFrame(rows, columns=list(BAR_COLUMNS), dtype=object)
    raw["datetime"] = pd.to_datetime(raw["datetime"], utc=True, errors="coerce", format="mixed")
    raw["_location"] = [f"row{i}" for i in range(len(raw))]
    res = validate_bars(raw, DAILY, source="prop")
    q_locs = res.quarantined.column("location").to_pylist()
    assert len(q_locs) == len(set(q_locs))
    assert res.counts["good"] + len(q_locs) == len(raw)
    assert not res.good.duplicated(["symbol", "datetime"]).any()
    assert (res.good[["open", "high", "low", "close"]] > 0).all().all()
    assert len(set(res.quarantined.column("row_id").to_pylist())) == len(q_locs)
