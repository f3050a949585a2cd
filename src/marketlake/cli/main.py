"""Entry point: joins the command modules into one Typer app.

Each module exposes `register(app)` (top-level commands or sub-apps); `ingest` subcommands
register on the shared `ingest_app`.
"""

from __future__ import annotations

import importlib
import sys

import typer

from marketlake._allocator import retain_memory
from marketlake.errors import MarketlakeError

app = typer.Typer(
    name="marketlake",
    help="Market-data warehouse: ingest, 97 standardized fields, Delta tables, SQL.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold API keys
    add_completion=False,
)
ingest_app = typer.Typer(help="Load bars from a source into a production table.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

_COMMAND_MODULES = (
    "marketlake.cli.schema_cmd",
    "marketlake.cli.ingest",
    "marketlake.cli.ingest_vendor",
    "marketlake.cli.symbols",
    "marketlake.cli.tables",
    "marketlake.cli.sql",
    "marketlake.cli.demo",
    "marketlake.cli.capacity",
    "marketlake.cli.quality",
    "marketlake.cli.janitor",
    "marketlake.cli.dataset",
    "marketlake.cli.research",
    "marketlake.cli.predict",
)

for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(_name)
    except ModuleNotFoundError as exc:
        if exc.name != _name:
            raise
        continue
    if hasattr(_mod, "register"):
        _mod.register(app)
    if hasattr(_mod, "register_ingest"):
        _mod.register_ingest(ingest_app)


def main() -> None:
    """Run the CLI, turning our own errors into one clear line and exit status 2."""
    retain_memory()  # a CLI run computes and writes big batches: keep freed heap warm (see _allocator)
    try:
        app()
    except MarketlakeError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
