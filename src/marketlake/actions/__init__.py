"""Corporate actions: splits, dividends, renames and delistings as data (docs/corporate-actions.md).

`records` (the `corporate_actions` table and the CSV form), `apply` (rescale and recompute stored bars,
move renamed histories, mark delistings), `adjust` (the `none` / `total_return` views on read and the
convention of incoming bars), `sql` (the same views in DuckDB).
"""

from __future__ import annotations

from marketlake.actions.adjust import ADJUST_MODES, adjust_rows, to_stored_convention
from marketlake.actions.apply import ApplyReport, apply_pending, record
from marketlake.actions.records import Action, read_actions, read_csv

__all__ = ["ADJUST_MODES", "Action", "ApplyReport", "adjust_rows", "apply_pending", "read_actions", "read_csv",
           "record", "to_stored_convention"]
