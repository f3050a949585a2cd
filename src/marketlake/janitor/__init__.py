"""The janitor: inventory, clean-up plan and its application, retention (tables.md naming and windows).

Nothing is changed unless asked: `plan` and `retention_plan` are dry runs; `apply` and `apply_retention`
act and write every action to `janitor_log`. Production and support tables are never removed.
"""

from marketlake.janitor.audit import AuditEntry, audit
from marketlake.janitor.plan import PlanEntry, apply, decide, plan
from marketlake.janitor.retention import RetentionEntry, apply_retention, retention_days, retention_plan

__all__ = [
    "AuditEntry", "PlanEntry", "RetentionEntry", "apply", "apply_retention", "audit", "decide", "plan",
    "retention_days", "retention_plan",
]
