"""`marketlake migrate`: bring every table of a warehouse to the current layout (preview, then `--yes`).

Opening a table migrates it anyway (`DeltaStore.table`); this command does the whole warehouse at once,
for example before handing it to another Delta reader. Safe to re-run, and after a kill.
"""

from __future__ import annotations

from typing import Annotated

import typer

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption
from marketlake.storage import DeltaStore
from marketlake.storage.commits import LAYOUT_VERSION
from marketlake.storage.migrate import migrate_warehouse


def migrate(
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
    yes: Annotated[bool, typer.Option("--yes", help="Migrate (without it: only show what would change).")] = False,
) -> None:
    """Migrate tables written by an older release to the current storage layout."""
    store = DeltaStore(warehouse)
    todo = migrate_warehouse(store, dry_run=not yes)
    if not todo:
        typer.echo(f"every table is up to date (layout {LAYOUT_VERSION})")
        return
    for m in todo:
        verb = "migrated" if yes else "would migrate"
        moved = f", {m.files} files relinked" if yes else ""
        typer.echo(f"{verb} {m.table}: layout {m.from_version} -> {m.to_version}{moved}")
    if not yes:
        typer.echo(f"{len(todo)} tables to migrate; run again with --yes to do it")


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)


__all__ = ["migrate", "register"]
