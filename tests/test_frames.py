"""`concat_rows`: an empty part never decides a column's type (pandas 3 made such columns object)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketlake.frames import concat_rows, isin, runs_of


def _bars(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "symbol": pd.array([f"S{i % 3}" for i in range(n)], dtype="string"),
        "datetime": pd.date_range("2025-01-02", periods=n, freq="min", tz="UTC", unit="us"),
        "close": np.linspace(1.0, 2.0, n),
    })


def test_an_untyped_empty_part_keeps_every_column_typed_and_the_rows_in_order():
    bars = _bars(5)
    untyped = pd.DataFrame(columns=list(bars.columns))
    out = concat_rows([untyped, bars, bars[:0], bars.iloc[::-1]], ignore_index=True)
    assert dict(out.dtypes) == dict(bars.dtypes)
    assert out["close"].tolist() == bars["close"].tolist() + bars["close"].tolist()[::-1]
    assert out.index.tolist() == list(range(10))
    assert out["datetime"].tolist() == bars["datetime"].tolist() + bars["datetime"].tolist()[::-1]


def test_columns_only_an_empty_part_has_are_kept_like_pd_concat():
    bars = _bars(3)
    extra = pd.DataFrame({"symbol": [], "extra": []})
    out = concat_rows([bars, extra], ignore_index=True)
    assert list(out.columns) == [*bars.columns, "extra"]
    assert out["extra"].isna().all() and out["close"].dtype == np.float64


def test_series_and_all_empty_parts():
    a = pd.Series([1.0, 2.0], index=["x", "y"])
    assert concat_rows([pd.Series([], dtype=object), a]).tolist() == [1.0, 2.0]
    assert concat_rows([pd.Series([], dtype=object), a]).dtype == np.float64
    empty = concat_rows([_bars(0), _bars(0)], ignore_index=True)
    assert len(empty) == 0 and list(empty.columns) == ["symbol", "datetime", "close"]
    with pytest.raises(ValueError):
        concat_rows([])


@settings(max_examples=150, deadline=None)
@given(column=st.lists(st.one_of(st.none(), st.sampled_from(["AAPL", "MSFT", "BRK.B", "", "SPY"])), max_size=40),
       wanted=st.lists(st.one_of(st.none(), st.sampled_from(["AAPL", "BRK.B", "", "QQQ"])), max_size=6))
def test_isin_on_a_string_column_is_set_membership_and_null_never_matches(column, wanted):
    series = pd.Series(column, dtype="str")
    expected = [v is not None and v in {w for w in wanted if w is not None} for v in column]
    assert isin(series, wanted).tolist() == expected
    assert isin(pd.Index(series), wanted).tolist() == expected
    assert isin(pd.Series(column, dtype=object), [w for w in wanted if w is not None]).tolist() == expected


def test_isin_on_other_columns_is_pandas_isin():
    assert isin(pd.Series([1, 2, 3]), iter([2, 3])).tolist() == [False, True, True]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.sampled_from(["AA", "B", "", "CCC"])), max_size=40),
       dtype=st.sampled_from(["str", "string", "object"]))
def test_runs_of_finds_every_run_of_equal_neighbours(values, dtype):
    column = pd.Series(values, dtype=dtype)
    starts, run_values = runs_of(column)
    want_starts, want_values = [], []  # an independent loop; a NULL starts a run of its own
    for i, v in enumerate(values):
        if i == 0 or v is None or values[i - 1] is None or v != values[i - 1]:
            want_starts.append(i)
            want_values.append(v)
    assert starts.tolist() == want_starts
    got = [None if pd.isna(v) else v for v in run_values]
    assert got == want_values
