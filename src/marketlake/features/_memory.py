"""Fresh memory for the output columns: how it is faulted in matters as much as the arithmetic.

The engine writes ~1.7 GB of new columns per 2M rows. Faulting that in page by page cost ~0.45 s of
kernel time on the 2-core reference host (as much as all TA-Lib calls), inside the compute threads.
Two policies here:

* `prefault`: a background thread asks the kernel to populate the columns' pages (Linux
  MADV_POPULATE_WRITE, one call per range, ~25% cheaper than faults) while the calling thread is still
  preparing the input on one core. It never writes data, so it is safe to race with the compute threads.
  Elsewhere, or on kernels without it, it does nothing and pages fault in as usual.
* `no_hugepage_advice`: NumPy advises transparent huge pages for big arrays; where the kernel compacts
  memory on a huge-page fault (THP defrag=madvise, common on shared hosts) each fresh 16 MB array cost
  ~25 ms. The columns are written once; huge pages win nothing here.
* `marketlake._allocator.retain_memory` (opt-in, process-wide; the CLI turns it on) keeps freed heap
  memory for the next call.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

_MADV_POPULATE_WRITE = 23  # Linux >= 5.14
_CHUNK = 1 << 21  # bytes of each column per call: the columns fill up together, block by block


def _madvise() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):  # pragma: no cover - no libc symbol
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_MADVISE = _madvise()
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _populate(arrays: Sequence[np.ndarray]) -> None:
    assert _MADVISE is not None
    longest = max(a.nbytes for a in arrays)
    for offset in range(0, longest, _CHUNK):
        for a in arrays:
            base = a.ctypes.data
            start = -(-(base + offset) // _PAGE) * _PAGE  # whole pages inside the array only
            stop = min(base + offset + _CHUNK, base + a.nbytes) // _PAGE * _PAGE
            if stop > start and _MADVISE(start, stop - start, _MADV_POPULATE_WRITE) != 0:
                return  # EINVAL on kernels without it: leave the pages to fault in


def prefault(arrays: Sequence[np.ndarray]) -> threading.Thread | None:
    """Start populating the pages of `arrays` (freshly allocated, same length) in a daemon thread."""
    if _MADVISE is None or not arrays:
        return None
    thread = threading.Thread(target=_populate, args=(list(arrays),), name="marketlake-prefault", daemon=True)
    thread.start()
    return thread


@contextmanager
def no_hugepage_advice() -> Iterator[None]:
    """Allocate inside without NumPy's transparent-huge-page advice; restored on exit."""
    multiarray = getattr(getattr(np, "_core", None), "multiarray", None)
    getter = getattr(multiarray, "_get_madvise_hugepage", None)
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    if getter is None or setter is None:  # pragma: no cover - another NumPy layout
        yield
        return
    before = setter(False)
    try:
        yield
    finally:
        setter(before)


__all__ = ["no_hugepage_advice", "prefault"]
