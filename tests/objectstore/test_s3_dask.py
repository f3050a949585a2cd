"""Group tasks on a Dask cluster writing straight to s3:// (moto on loopback): the same table as the local
executor on local disk, value for value, in one commit, even when a worker is killed in the middle."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from marketlake.pipeline.executors import DaskExecutor
from marketlake.pipeline.grouped import load_grouped
from marketlake.pipeline.memory_budget import BASE_BYTES, BYTES_PER_ROW
from marketlake.schema import get_table
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore
from tests.objectstore.conftest import HAVE_MOTO

pytestmark = pytest.mark.skipif(not HAVE_MOTO, reason='moto server not installed: pip install "moto[server]"')
pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install 'marketlake[dask]')")

NOW = datetime(2025, 1, 1, tzinfo=UTC)
TABLE = "stocks_daily_clean"
SPAN = (datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 4, 30, tzinfo=UTC))
BUDGET = BASE_BYTES + 200 * BYTES_PER_ROW  # about two symbols per group


def _batches():  # type: ignore[no-untyped-def]
    source = get_source("synthetic", stocks=6, crypto=0, seed=11)
    return list(source.fetch(None, get_table(TABLE), start=SPAN[0], end=SPAN[1]))


def _table(store: DeltaStore) -> pd.DataFrame:
    return store.read(TABLE).to_pandas().sort_values(["symbol", "datetime"]).reset_index(drop=True)


def test_dask_load_on_s3_equals_local_even_with_a_worker_killed_mid_run(s3_root: str, tmp_path: Path) -> None:
    local = DeltaStore(tmp_path / "local")
    ref = load_grouped(local, TABLE, _batches(), source="synthetic", memory_budget=BUDGET, now=NOW)
    remote = DeltaStore(s3_root)
    killed: list[int] = []
    with DaskExecutor(workers=2, in_flight=4) as ex:

        def kill_a_worker(done: int, total: int) -> None:
            """After the first group came back, SIGKILL a worker while the others are queued or running."""
            if done == 1:
                pids = sorted(ex._client.run(os.getpid).values())
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        got = load_grouped(remote, TABLE, _batches(), source="synthetic", memory_budget=BUDGET, now=NOW,
                           executor=ex, on_group=kill_a_worker)
    assert killed and got.timings["groups"] == ref.timings["groups"] >= 3
    assert remote.version(TABLE) == 1  # one commit by the driver, whatever the workers went through
    a, b = _table(local), _table(DeltaStore(s3_root))
    assert len(a) > 400
    pd.testing.assert_frame_equal(a, b, check_exact=True)  # all 97 columns, updated_at included
