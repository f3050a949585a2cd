"""`marketlake restore TABLE --version V`: bring a table back to a past Delta version (preview, then --yes).

The restore is itself a new commit, so it can be undone the same way; versions whose files the janitor
vacuumed, or that predate a layout migration, are refused with the reason.
"""

from __future__ import annotations

from typing import Annotated

import typer

from marketlake.cli.common import DEFAULT_WAREHOUSE, WarehouseOption, console


def restore(
    table: Annotated[str, typer.Argument(help="The table, e.g. stocks_daily_clean (support tables too).")],
    version: Annotated[int, typer.Option("--version", help="The Delta version to go back to "
                                         "(see `marketlake sql \"SELECT ...\" --as-of` to inspect one first).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do it (otherwise: show what it would do).")] = False,
    warehouse: WarehouseOption = DEFAULT_WAREHOUSE,
) -> None:
    """Restore a table to a past version: a plan by default, `--yes` to apply."""
    from marketlake.storage import DeltaStore
    from marketlake.storage.versioned import plan_restore
    from marketlake.storage.versioned import restore as do_restore

    store = DeltaStore(warehouse)
    out = console()
    if not yes:
        plan = plan_restore(store, table, version)
        out.print(f"plan: {plan.describe()}")
        out.print("nothing changed; re-run with --yes to restore")
        return
    from marketlake.cli.options import current

    with current().reporter().task(f"restore {table}", unit="tables") as task:
        task.stage(f"back to version {version}")
        done = do_restore(store, table, version)
        spans = _resync_master(store, table)
    note = f"; symbol master: {spans} symbols' first/last bars follow it" if spans else ""
    out.print(f"restored: {done.describe()}; now version {store.version(table)}{note}")


def _resync_master(store: object, table: str) -> int:
    """A production table went back in time: its first/last bars in the symbol master follow."""
    from datetime import UTC, datetime

    from marketlake.pipeline.symbol_master import resync_spans
    from marketlake.schema import TABLES
    from marketlake.storage import DeltaStore

    if table not in TABLES or not isinstance(store, DeltaStore):
        return 0
    return resync_spans(store, TABLES[table], now=datetime.now(UTC))


def register(app: typer.Typer) -> None:
    app.command("restore")(restore)


__all__ = ["register", "restore"]
