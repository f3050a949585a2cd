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
    "marketlake.cli.actions",
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


_COMPUTING_COMMANDS = frozenset({"demo", "ingest", "quality", "symbols"})


def _compile_on_first_run(argv: list[str]) -> None:
    """Say so, instead of pausing silently, when a computing command must first compile the kernels."""
    words = [a for a in argv if not a.startswith("-")]
    if not words or words[0] not in _COMPUTING_COMMANDS or "--help" in argv:
        return
    from marketlake.features.warmup import kernels_ready, warm_up

    if kernels_ready():
        return
    typer.echo("marketlake: first run on this machine: compiling the feature kernels (once, 30-60 s)...", err=True)
    seconds = warm_up()
    typer.echo(f"marketlake: feature kernels ready ({seconds:.0f} s)", err=True)


def main() -> None:
    """Run the CLI, turning our own errors into one clear line and exit status 2."""
    retain_memory()  # a CLI run computes and writes big batches: keep freed heap warm (see _allocator)
    try:
        _compile_on_first_run(sys.argv[1:])
        app()
    except MarketlakeError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
