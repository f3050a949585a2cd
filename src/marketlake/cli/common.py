"""Options and helpers shared by every command module."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console

WarehouseOption = Annotated[
    Path,
    typer.Option(
        "--warehouse",
        "-w",
        envvar="MARKETLAKE_WAREHOUSE",
        help="Warehouse directory or URI (default: MARKETLAKE_WAREHOUSE, else `warehouse` in the config file, "
             "else ./warehouse).",
        show_default=False,
    ),
]
# Unset on the command line: `cli.options.with_common_options`, which wraps every command, replaces it by
# the resolved warehouse (MARKETLAKE_WAREHOUSE, the config file's `warehouse`, ./warehouse) before the
# command runs, so command bodies always see a Path.
DEFAULT_WAREHOUSE: Path = cast(Path, None)


def console(*, stderr: bool = False) -> Console:
    """A Rich console; width is fixed when not a terminal so output is stable in tests and logs.

    The fixed width is COLUMNS when set (the shell's convention, what `COLUMNS=80 marketlake ... | less`
    asks for), else 160.
    """
    columns = os.environ.get("COLUMNS", "")
    fixed = int(columns) if columns.isdigit() and int(columns) >= 20 else 160
    return Console(stderr=stderr, width=None if os.isatty(1) else fixed, soft_wrap=False)


def split_symbols(value: str | None) -> list[str] | None:
    """`A,B, C` -> ['A', 'B', 'C']; None stays None."""
    if value is None:
        return None
    items = [s.strip() for s in value.split(",") if s.strip()]
    return items or None


def parse_when(value: str | None) -> datetime | None:
    """An ISO date or datetime from the command line; naive values are UTC."""
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date or datetime (e.g. 2024-01-31)") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def configure_lock(config: object | None = None) -> None:
    """Every command waits for the writer lock the same way: the configured time, saying who holds it.

    The config file is read best-effort here (a command that needs it reports a broken one itself);
    `MARKETLAKE_LOCK_WAIT` wins over the file inside `storage.lock` anyway.
    """
    from marketlake.config import MarketlakeConfig, load_config
    from marketlake.errors import MarketlakeError
    from marketlake.storage import lock

    if not isinstance(config, MarketlakeConfig):
        try:
            config = load_config(config) if isinstance(config, str | Path) else load_config()
        except MarketlakeError:
            config = None
    wait = config.lock_wait_seconds if isinstance(config, MarketlakeConfig) else None
    lock.configure(wait_seconds=wait, notify=lambda msg: typer.echo(msg, err=True))


def configure_storage(config: object | None = None) -> None:
    """The `[storage]` options of the config file for this command's object-store warehouse (best effort)."""
    from marketlake.config import MarketlakeConfig, load_config
    from marketlake.errors import MarketlakeError
    from marketlake.storage import location

    if not isinstance(config, MarketlakeConfig):
        try:
            config = load_config(config) if isinstance(config, str | Path) else load_config()
        except MarketlakeError:
            config = None
    location.configure(config.storage if isinstance(config, MarketlakeConfig) else None)
