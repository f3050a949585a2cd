"""Run the CLI in-process the way `marketlake.cli.main.main` does (our errors -> one line, exit 2)."""

from __future__ import annotations

from typer.testing import CliRunner

from marketlake.cli.main import app
from marketlake.errors import MarketlakeError


def run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if isinstance(result.exception, MarketlakeError):
        return 2, f"error: {result.exception}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output
