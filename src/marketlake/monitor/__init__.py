"""Monitoring: how current the warehouse is (`status`) and a self-contained HTML report (`report`)."""

from marketlake.monitor.freshness import DEFAULT_GRACE, Freshness, expected_last_bar, judge
from marketlake.monitor.status import CreditStatus, StatusReport, TableStatus, warehouse_status

__all__ = [
    "DEFAULT_GRACE",
    "CreditStatus",
    "Freshness",
    "StatusReport",
    "TableStatus",
    "expected_last_bar",
    "judge",
    "warehouse_status",
]
