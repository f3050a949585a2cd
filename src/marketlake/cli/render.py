"""Rich rendering of pipeline reports and progress shared by ingest commands."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from marketlake.pipeline.report import LoadReport


def reports_table(reports: Sequence[LoadReport], *, title: str = "Load summary") -> Table:
    table = Table(title=title)
    for col in ("table", "source", "rows in", "valid", "quarantined", "symbols", "inserted", "updated",
                "unchanged", "version", "seconds"):
        table.add_column(col, justify="left" if col in ("table", "source") else "right")
    for r in reports:
        table.add_row(
            r.table, r.source, f"{r.rows_in:,}", f"{r.rows_valid:,}", f"{r.quarantined:,}",
            f"{r.symbols_loaded:,}", f"{r.inserted:,}", f"{r.updated:,}", f"{r.unchanged:,}",
            "-" if r.version is None else str(r.version), f"{r.seconds:.1f}",
        )
    return table


def print_rejections(console: Console, reports: Sequence[LoadReport]) -> None:
    """Nothing is dropped silently: say what was rejected and where to look."""
    for r in reports:
        if r.quarantined:
            reasons = ", ".join(f"{rule}: {n:,}" for rule, n in sorted(r.rejected_by_rule.items()))
            console.print(
                f"[yellow]{r.table}: {r.quarantined:,} rows quarantined[/yellow] ({reasons}); "
                f"inspect with: marketlake sql \"SELECT * FROM quarantine WHERE \\\"table\\\" = '{r.table}'\""
            )
