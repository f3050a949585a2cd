"""Entry point: joins the command modules into one Typer app.

Each module exposes `register(app)` (top-level commands or sub-apps); `ingest` subcommands
register on the shared `ingest_app`.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated

import typer

from marketlake._allocator import retain_memory
from marketlake.cli.common import configure_lock
from marketlake.cli.options import apply_to_app
from marketlake.errors import MarketlakeError
from marketlake.sources.redact import install_log_redaction, redact

app = typer.Typer(
    name="marketlake",
    help="Market-data warehouse: ingest, 97 standardized fields, Delta tables, SQL.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold API keys
    add_completion=True,
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
    "marketlake.cli.sync",
    "marketlake.cli.init_cmd",
    "marketlake.cli.quality",
    "marketlake.cli.janitor",
    "marketlake.cli.config_cmd",
    "marketlake.cli.restore",
    "marketlake.cli.migrate",
    "marketlake.cli.rebuild",
    "marketlake.cli.actions",
    "marketlake.cli.dataset",
    "marketlake.cli.research",
    "marketlake.cli.predict",
    "marketlake.cli.status",
    "marketlake.cli.report",
)

def _show_version(value: bool) -> None:
    if value:
        from marketlake import __version__

        typer.echo(f"marketlake {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Market-data warehouse: ingest, 97 standardized fields, Delta tables, SQL."""


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
apply_to_app(app)  # --quiet, --verbose, --config and the warehouse resolution on every command


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


def _one_line(text: str) -> str:
    """`text` as one printable line: a message may quote a vendor or a library (newlines, escapes)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def main() -> None:
    """Run the CLI, turning errors into one clear line (secrets redacted) and exit status 2.

    An unexpected exception (a bug, or a library failing in a way we did not foresee) is one line
    too, exit status 1: a traceback may quote a header or a URL with the API key. Set
    MARKETLAKE_DEBUG=1 to get the traceback (redacted) when reporting the bug.
    """
    retain_memory()  # a CLI run computes and writes big batches: keep freed heap warm (see _allocator)
    install_log_redaction()
    try:
        configure_lock()
        _compile_on_first_run(sys.argv[1:])
        app()
    except MarketlakeError as exc:
        typer.echo(f"error: {_one_line(redact(str(exc)))}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback, no secret
        if os.environ.get("MARKETLAKE_DEBUG"):
            import traceback

            typer.echo(redact("".join(traceback.format_exception(exc))), err=True)
        typer.echo(f"error: unexpected {type(exc).__name__}: {_one_line(redact(str(exc)))[:500]} "
                   "(a bug: please report it; MARKETLAKE_DEBUG=1 shows the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
