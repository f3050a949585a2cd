"""One side of a lost-update race, run as its own process: `python race_child.py ROLE WAREHOUSE [FILE]`.

Read-modify-write roles (`repair`, `load`, `symbols`) run the real operation with one pause injected
just before its commit: they print READ and wait for a line on stdin. The `ingest` role loads new MSFT
bars and prints WAIT when it has to wait for the writer lock, DONE when it committed; `ingest-killed`
is the same load killed between its bars commit and its symbol-master commit. The test lets
the ingest run while the other side sits between its read and its commit.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from marketlake.schema import get_table
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore
from marketlake.storage import lock as _lock

TABLE = "stocks_daily_clean"
SEED_END = datetime(2024, 5, 31, tzinfo=UTC)
SEED_START = datetime(2023, 6, 1, tzinfo=UTC)
INGEST_START = datetime(2024, 5, 1, tzinfo=UTC)
INGEST_END = datetime(2024, 6, 28, tzinfo=UTC)


def source():  # type: ignore[no-untyped-def]
    return get_source("synthetic", stocks=4, crypto=0, seed=11)


def raw(symbol: str, start: datetime, end: datetime, *, scale: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic bars of `symbol`; prices up to SEED_END scaled by `scale` (so they update stored rows)."""
    batches = list(source().fetch([symbol], get_table(TABLE), start=start, end=end))
    bars = pd.concat([b.bars for b in batches], ignore_index=True)
    meta = pd.concat([b.metadata for b in batches if b.metadata is not None], ignore_index=True)
    old = bars["datetime"] <= SEED_END
    for col in ("open", "high", "low", "close"):
        bars.loc[old, col] = bars.loc[old, col] * scale
    return bars, meta


def ingest_bars() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ingest's input: MSFT's May bars with new prices (updates) and its June bars (inserts)."""
    return raw("MSFT", INGEST_START, INGEST_END, scale=1.02)


def _pause_before(cls: type, name: str, only: str | None = None) -> None:
    original = getattr(cls, name)

    def paused(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if only is None or (args and args[0] == only):
            print("READ", flush=True)
            sys.stdin.readline()
        return original(self, *args, **kwargs)

    setattr(cls, name, paused)


def main(role: str, root: str, extra: str | None = None) -> None:
    from marketlake.pipeline import load_bars

    store = DeltaStore(root)
    spec = get_table(TABLE)
    if role == "ingest-killed":  # killed by SIGKILL after the bars commit, before the symbol-master commit
        import os
        import signal

        from marketlake.pipeline import core

        core.record_symbols = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # type: ignore[assignment]
        bars, meta = ingest_bars()
        load_bars(store, spec, bars, source="synthetic", metadata=meta)
    elif role == "ingest":
        _lock.configure(notify=lambda msg: print(f"WAIT {msg}", flush=True))
        bars, meta = ingest_bars()
        load_bars(store, spec, bars, source="synthetic", metadata=meta)
        print("DONE", flush=True)
    elif role == "repair":
        from marketlake.quality.fix import recompute

        _pause_before(DeltaStore, "write_bars")
        recompute(store, spec, ["MSFT", "AAPL"])
    elif role == "load":  # the benchmark moves: every symbol, MSFT included, is recomputed and compared
        _pause_before(DeltaStore, "write_bars")
        bars, meta = raw("SPY", datetime(2024, 4, 1, tzinfo=UTC), SEED_END, scale=1.01)
        load_bars(store, spec, bars, source="synthetic", metadata=meta)
    elif role == "symbols":
        from marketlake.cli.symbols import load

        _pause_before(DeltaStore, "upsert_support", only="symbols")
        load([Path(extra or "")], warehouse=Path(root))
    else:
        raise SystemExit(f"unknown role {role}")


if __name__ == "__main__":
    main(*sys.argv[1:])
