"""`state.aligned_tail_bars`: the tail an update passes is one the engine keeps as given."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from marketlake.features import state
from marketlake.schema import FIELDS_BY_NAME, get_table

CCI = int(FIELDS_BY_NAME["cci_20"].params["timeperiod"])


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(1, 3000), st.integers(0, 400)), min_size=1, max_size=30),
       table=st.sampled_from(["stocks_daily_clean", "crypto_hourly_clean", "stocks_1min_clean"]))
def test_aligned_tails_fit_the_state_without_dropping_a_row(pairs, table):
    spec = get_table(table)
    short = state.short_history_bars(spec)
    available = np.array([a for a, _ in pairs], np.int64)
    n_bars = available + np.array([extra for _, extra in pairs], np.int64)  # a state counts at least what is stored
    got = state.aligned_tail_bars(n_bars, available, spec)
    for n, a, c in zip(n_bars.tolist(), available.tolist(), got.tolist()):
        if n == a:  # the whole history: passed whole
            assert c == a
            continue
        assert 0 <= c <= min(a, short)
        if c == 0:  # too few bars to align: nothing passed, the engine refuses the state (as it would have)
            assert a - (-(n - a) % CCI) < short - (CCI - 1) or a < CCI
            continue
        assert (n - c) % CCI == 0  # the engine's drop for this tail is 0
        if a >= short:  # enough bars: the windows still get what they need after the alignment
            assert c >= short - (CCI - 1)
