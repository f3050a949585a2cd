"""`layout.group_rows` (each symbol's rows together and chronological) and the read order it serves."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from marketlake.storage.layout import group_rows

_ROWS = st.lists(st.tuples(st.sampled_from(["AAA", "BB", "C", "DDDD", "EE"]), st.integers(0, 40)), max_size=60)


def _table(rows: list[tuple[str, int]], cuts: list[int], dictionary: bool) -> pa.Table:
    """`rows` as a table chunked at `cuts`, the symbol column per chunk as strings or its own dictionary."""
    bounds = sorted({0, len(rows), *(c % (len(rows) + 1) for c in cuts)})
    chunks = []
    for lo, hi in zip(bounds, bounds[1:]):
        part = rows[lo:hi]
        symbols = pa.array([s for s, _ in part], pa.string())
        chunks.append(pa.table({
            "symbol": symbols.dictionary_encode() if dictionary else symbols,
            "datetime": pa.array([t for _, t in part], pa.timestamp("us", tz="UTC")),
            "i": pa.array(range(lo, hi), pa.int64()),
        }))
    if not chunks:
        return pa.table({"symbol": pa.array([], pa.dictionary(pa.int32(), pa.string()) if dictionary else pa.string()),
                         "datetime": pa.array([], pa.timestamp("us", tz="UTC")), "i": pa.array([], pa.int64())})
    return pa.concat_tables(chunks, promote_options="permissive") if dictionary else pa.concat_tables(chunks)


@settings(max_examples=300, deadline=None)
@given(rows=_ROWS, cuts=st.lists(st.integers(0, 60), max_size=5), dictionary=st.booleans(),
       storage_like=st.booleans())
def test_each_symbol_once_chronological_and_stable(rows, cuts, dictionary, storage_like):
    if storage_like:  # "files" of rows sorted by (symbol, datetime), the files in time order
        rows = sorted(rows, key=lambda r: (r[1] // 10, r[0], r[1]))
    out = group_rows(_table(rows, cuts, dictionary))
    symbols = [str(s) for s in out.column("symbol").to_pylist()]
    positions = out.column("i").to_pylist()
    assert sorted(positions) == list(range(len(rows)))  # the same rows, each once
    runs: dict[str, list[int]] = {}
    for k, (sym, i) in enumerate(zip(symbols, positions)):
        if k and symbols[k - 1] != sym:
            assert sym not in runs, f"{sym} comes back in two runs"
        runs.setdefault(sym, []).append(i)
    for sym, got in runs.items():  # the independent order: input positions stably sorted by datetime
        want = sorted((i for i, r in enumerate(rows) if r[0] == sym), key=lambda i: rows[i][1])
        assert got == want
    assert set(runs) == {s for s, _ in rows}


def test_many_symbols_beyond_sixteen_bit_codes_still_group():
    n = 70_000  # more distinct symbols than uint16 codes hold
    rng = np.random.default_rng(3)
    names = np.array([f"S{k:05d}" for k in range(n)])
    picks = rng.integers(0, n, 2 * n)
    when = rng.integers(0, 1_000, 2 * n)
    table = pa.table({"symbol": pa.array(names[picks]),
                      "datetime": pa.array(when, pa.int64()).cast(pa.timestamp("us", tz="UTC"))})
    out = group_rows(table)
    sym = np.asarray(out.column("symbol").to_pylist())
    dt = out.column("datetime").cast(pa.int64()).to_numpy()
    change = np.flatnonzero(sym[1:] != sym[:-1]) + 1
    starts = sym[np.concatenate([[0], change])]
    assert len(starts) == len(set(starts.tolist())) == len(set(picks.tolist()))
    same = sym[1:] == sym[:-1]
    assert np.all(dt[1:][same] >= dt[:-1][same])


def test_a_dated_read_in_grouped_order_equals_the_sorted_read(tmp_path):
    from marketlake.storage import DeltaStore
    from tests.storage.storage_synth import synthetic_bars

    store = DeltaStore(str(tmp_path))
    store.ensure_tables(["stocks_daily_clean"])
    symbols = [f"S{k:03d}" for k in range(40)]
    store.write_bars("stocks_daily_clean", synthetic_bars(symbols, periods=90, start=datetime(2024, 1, 2, tzinfo=UTC)))
    start = datetime(2024, 2, 14, tzinfo=UTC)  # inside a month: the boundary file is cut per symbol
    cols = ["symbol", "datetime", "close"]
    grouped = store.read("stocks_daily_clean", symbols=symbols[5:], start=start, columns=cols, sort="grouped")
    ordered = store.read("stocks_daily_clean", symbols=symbols[5:], start=start, columns=cols)
    assert grouped.schema == ordered.schema
    assert grouped.sort_by([("symbol", "ascending"), ("datetime", "ascending")]).equals(ordered)
    sym = grouped.column("symbol").to_pylist()
    runs = [s for k, s in enumerate(sym) if k == 0 or sym[k - 1] != s]
    assert len(runs) == len(set(runs)) == 35
