"""`read(keep=True)`: decoded pieces kept between reads never serve anything but the table's current rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from storage_synth import synthetic_bars

from marketlake.storage import DeltaStore
from marketlake.storage import files as storage_files

T = "stocks_daily_clean"
COLS = ["symbol", "datetime", "close", "volume", "return_1"]
SINCE = datetime(2021, 2, 15, tzinfo=UTC)


def _read(store: DeltaStore, **kw: object) -> pa.Table:
    return store.read(T, columns=COLS, sort=True, **kw)


def test_kept_reads_follow_appends_upserts_and_new_files(store: DeltaStore) -> None:
    syms = [f"S{i:02d}" for i in range(6)]
    store.write_bars(T, synthetic_bars(syms, periods=90))
    before = storage_files.kept_bytes()
    first = _read(store, symbols=syms[:4], start=SINCE, keep=True)
    assert storage_files.kept_bytes() > before  # the pieces are kept
    assert first.equals(_read(DeltaStore(store.root), symbols=syms[:4], start=SINCE))
    assert _read(store, symbols=syms[:4], start=SINCE, keep=True).equals(first)  # served from memory

    changed = synthetic_bars(syms, periods=90).slice(100, 40)  # S01's bars: a partition rewritten
    changed = changed.set_column(changed.schema.get_field_index("close"), "close", pc.add(changed["close"], 7.0))
    store.write_bars(T, changed)
    store.write_bars(T, synthetic_bars(["S07"], periods=90, seed=3))  # a second file in every partition
    for kw in ({"symbols": syms[:4], "start": SINCE}, {"symbols": [*syms, "S07"]}, {}):
        kept = _read(store, keep=True, **kw)
        assert kept.equals(_read(DeltaStore(store.root), **kw)), kw
        assert kept.equals(_read(store, keep=True, **kw)), kw
    s01 = _read(store, symbols=["S01"], keep=True)
    assert pc.max(s01["close"]).as_py() > pc.max(first.filter(pc.equal(first["symbol"], "S01"))["close"]).as_py()


def test_kept_pieces_stay_within_the_budget(store: DeltaStore, monkeypatch) -> None:
    store.write_bars(T, synthetic_bars([f"S{i:02d}" for i in range(8)], periods=200))
    piece = _read(store).combine_chunks().nbytes // store.table_info(T).files  # ~ one file's piece
    monkeypatch.setattr(storage_files, "KEEP_BYTES", 16 * piece)  # pieces of ~2x the mean are still kept
    grew = []
    for cols in (COLS, COLS[:3], COLS[:4], ["symbol", "datetime", "open"], COLS[1:]):
        before = storage_files.kept_bytes()
        store.read(T, columns=cols, keep=True)
        grew.append(storage_files.kept_bytes() != before)
        assert storage_files.kept_bytes() <= storage_files.KEEP_BYTES
        assert store.read(T, columns=cols, keep=True).equals(DeltaStore(store.root).read(T, columns=cols)), cols
    assert all(grew)  # every read kept pieces, evicting the oldest
