"""Page population of the output columns never changes their contents (it may race with the writers)."""

from __future__ import annotations

import sys

import numpy as np

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
