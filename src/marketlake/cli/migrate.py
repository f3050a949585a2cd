"""`marketlake migrate`: bring every table of a warehouse to the current layout (preview, then `--yes`).

Opening a table migrates it anyway (`DeltaStore.table`); this command does the whole warehouse at once,
for example before handing it to another Delta reader. Safe to re-run, and after a kill.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption
from marketlake.cli.options import current
from marketlake.cli.output import Format, FormatOption, OutputOption, emit_records
from marketlake.storage import DeltaStore
from marketlake.storage.commits import LAYOUT_VERSION
from marketlake.storage.migrate import Migration, migrate_warehouse


def _human(todo: list[Migration], yes: bool) -> None:
    if not todo:
        typer.echo(f"every table is up to date (layout {LAYOUT_VERSION})")
        return
    for m in todo:
        verb = "migrated" if yes else "would migrate"
        moved = f", {m.files} files relinked" if yes else ""
        typer.echo(f"{verb} {m.table}: layout {m.from_version} -> {m.to_version}{moved}")
    if not yes:
        typer.echo(f"{len(todo)} tables to migrate; nothing changed; re-run with --yes to apply")


def migrate(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Migrate (without it: only show what would change).")] = False,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """Migrate tables written by an older release to the current storage layout."""
    store = DeltaStore(warehouse)
    if yes:
        with current().reporter().task("migrate", unit="tables") as task:
            todo = migrate_warehouse(store, progress=task.stage)
    else:
        todo = migrate_warehouse(store, dry_run=True)
    emit_records([{**asdict(m), "applied": yes} for m in todo], fmt=fmt, output=output,
                 human=lambda: _human(todo, yes))


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)


__all__ = ["migrate", "register"]
