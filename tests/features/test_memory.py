"""Output memory: page population never changes the columns (it may race with the writers); glibc keeps
freed blocks for reuse once `retain_memory` is on."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from marketlake.features import _memory


def test_prefault_keeps_what_is_written_and_returns_on_its_own() -> None:
    arrays = [np.empty(3_000_000) for _ in range(3)] + [np.empty(3_000_000, dtype=bool)]
    for k, a in enumerate(arrays[:3]):
        a[: len(a) // 2] = np.arange(len(a) // 2) * (k + 1)  # half written before, half while it runs
    thread = _memory.prefault(arrays)
    for k, a in enumerate(arrays[:3]):
        a[len(a) // 2:] = -1.0 - k
    if sys.platform.startswith("linux"):
        assert thread is not None
    if thread is not None:
        thread.join(timeout=60)
        assert not thread.is_alive()
    for k, a in enumerate(arrays[:3]):
        half = len(a) // 2
        assert np.array_equal(a[:half], np.arange(half) * (k + 1.0)) and (a[half:] == -1.0 - k).all()
    assert _memory.prefault([]) is None


_RETAIN_PROBE = """
import gc, sys, psutil, numpy as np
from marketlake.features import retain_memory
on = sys.argv[1] == "on" and retain_memory()
proc = psutil.Process()
arrays = [np.ones(2_000_000) for _ in range(48)]  # 48 blocks of 16 MB
peak = proc.memory_info().rss
del arrays
gc.collect()
print(int(on), (peak - proc.memory_info().rss) >> 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_retain_memory_keeps_freed_blocks_for_reuse_and_respects_the_environment() -> None:
    """With it, freeing 768 MB of 16 MB arrays leaves them with the process (the next call reuses warm pages);
    without it, glibc hands them back. An explicit MALLOC_* setting in the environment wins."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}

    def probe(mode: str, extra: dict[str, str] | None = None) -> tuple[int, int]:
        out = subprocess.run([sys.executable, "-c", _RETAIN_PROBE, mode], env={**env, **(extra or {})},
                             capture_output=True, text=True, check=True).stdout.split()
        return int(out[0]), int(out[1])

    applied, returned_mb = probe("on")
    assert applied == 1 and returned_mb < 100
    applied, returned_mb = probe("off")
    assert applied == 0 and returned_mb > 600
    applied, _ = probe("on", {"MALLOC_TRIM_THRESHOLD_": "131072"})
    assert applied == 0
