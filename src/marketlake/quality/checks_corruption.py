"""The `corruption` check: damaged commit, checkpoint or data files of any table of the warehouse.

A damaged log is invisible to the other checks: delta-rs reads a zero-byte latest commit as a version
with no actions, so the table looks smaller (or empty) and every row check passes. This check runs first,
over production and support tables alike; a damaged table gets one `corruption` error per file and is
left out of the other checks (reading it would fail or mislead). Data files are decoded in full with
their page checksums (our writer stores them): a garbled page can decode to plausible wrong numbers,
which no later check would notice.
"""

from __future__ import annotations

from marketlake.quality.issues import Issue
from marketlake.storage import DeltaStore, integrity


def check_corruption(store: DeltaStore) -> list[Issue]:
    """One `corruption` error per damaged file, for every Delta table in the warehouse."""
    out: list[Issue] = []
    for name in store.table_names():
        for d in integrity.scan(store, name, full_data=True):
            out.append(Issue("corruption", "error", name, None, None,
                             f"{d.kind} file {d.describe()}; `marketlake janitor plan` shows the repair"))
    return out


def corruption_issue(store: DeltaStore, table: str, exc: BaseException) -> list[Issue]:
    """Issues for a table whose read failed: its damaged files, read in full, or the error itself."""
    found = [d for d in integrity.scan(store, table, full_data=True)]
    if found:
        return [Issue("corruption", "error", table, None, None, f"{d.kind} file {d.describe()}") for d in found]
    return [Issue("corruption", "error", table, None, None, f"cannot be read: {str(exc).splitlines()[0][:200]}")]


__all__ = ["check_corruption", "corruption_issue"]
