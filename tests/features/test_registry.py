"""The catalogue drives the engine: every computed field has exactly one producer; kernels name references."""

from __future__ import annotations

import inspect
from collections import Counter

import pytest

import marketlake.features as features
from marketlake.features import (
    _talib,
    cross_section,
    dynamics,
    overlap,
    price,
    regimes,
    undefined,
    volatility,
    volume,
    volume_profile,
)
from marketlake.features.registry import PRODUCERS
from marketlake.schema import FIELDS, bar_schema
from marketlake.schema.fields import FIELDS_BY_NAME
from tests.features.feature_bars import make_bars

_ENGINE_FILLED = {"trade_date"}  # from datetime + exchange time zone, in the engine


def test_every_computed_field_has_exactly_one_producer() -> None:
    produced = Counter(name for p in PRODUCERS for name in p.outputs)
    assert all(n == 1 for n in produced.values()), [k for k, n in produced.items() if n > 1]
    computed = {f.name for f in FIELDS if f.computed} - _ENGINE_FILLED
    assert set(produced) == computed


def test_producers_only_read_earlier_columns() -> None:
    """Order matters: running the producers in list order on a tiny batch raises no KeyError."""
    features.compute(make_bars(2, 30))


@pytest.mark.parametrize(
    "module",
    [cross_section, dynamics, overlap, price, regimes, undefined, volatility, volume, volume_profile],
)
def test_kernels_document_their_reference(module: object) -> None:
    for name, fn in inspect.getmembers(module, inspect.isfunction):
        if name.startswith("_") or fn.__module__ != module.__name__:  # type: ignore[attr-defined]
            continue
        doc = inspect.getdoc(fn) or ""
        assert doc, f"{module.__name__}.{name} has no docstring"  # type: ignore[attr-defined]
        sig = inspect.signature(fn)
        for p in sig.parameters.values():
            if p.default is not inspect.Parameter.empty and p.name not in ("seg",):
                assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"{name}({p.name}) must be keyword-only"


_ELEMENTWISE = {"TYPPRICE", "MEDPRICE", "WCLPRICE", "TRANGE"}  # one call over the whole batch, in `price`


def test_every_talib_field_is_run_through_the_adapter_with_all_its_parameters() -> None:
    """The catalogue names the TA-Lib function; the adapter knows it and every parameter it needs is given."""
    for f in FIELDS:
        if f.talib is None or f.talib in _ELEMENTWISE:
            continue
        fn = _talib.FUNCTIONS[f.talib]
        assert set(fn.ints) | set(fn.floats) <= set(f.params), f.name


def test_compute_table_schema_and_public_api() -> None:
    tbl = features.compute_table(make_bars(2, 40), "stocks_daily_clean")
    assert tbl.schema == bar_schema()
    assert set(features.__all__) == {"FeatureInputError", "compute", "compute_table", "retain_memory"}
    out = features.compute(make_bars(2, 40))
    assert list(out.columns) == [f.name for f in FIELDS]
    assert all(str(out[f.name].dtype) == "Int8" for f in FIELDS if f.dtype == "int8")
    assert FIELDS_BY_NAME["vwap"].warmup_for(intraday=True) == 0


def test_bad_input_raises_actionable_error() -> None:
    bars = make_bars(1, 10)
    with pytest.raises(features.FeatureInputError, match="close"):
        features.compute(bars.drop(columns="close"))
    with pytest.raises(features.FeatureInputError, match="duplicate"):
        features.compute(__import__("pandas").concat([bars, bars.iloc[[3]]]))


@pytest.mark.parametrize("layout", ["sorted", "by_time", "shuffled"])
def test_duplicate_bar_named_whatever_the_input_order(layout: str) -> None:
    """The key check runs in the pass that orders the rows: sorted input, symbols interleaved (by time), and
    time out of order each take another path; each must name the repeated (symbol, datetime)."""
    import re

    import pandas as pd

    bars = make_bars(3, 30)
    dup = bars[(bars["symbol"] == "S001")].iloc[[17]]
    bars = pd.concat([bars, dup], ignore_index=True)
    if layout == "sorted":
        bars = bars.sort_values(["symbol", "datetime"], kind="stable")
    elif layout == "by_time":
        bars = bars.sort_values(["datetime", "symbol"], kind="stable")
    else:
        bars = bars.sample(frac=1.0, random_state=3)
    when = pd.Timestamp(dup["datetime"].iloc[0])
    with pytest.raises(features.FeatureInputError, match=re.escape(f"duplicate bar for 'S001' at {when};")):
        features.compute(bars)
