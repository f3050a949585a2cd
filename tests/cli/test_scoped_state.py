"""A command run in-process (CliRunner, a notebook) leaves no process-wide state behind."""

from __future__ import annotations

import logging
from pathlib import Path

from typer.testing import CliRunner

from marketlake.cli.main import app


def test_logging_is_as_before_after_an_in_process_command(tmp_path: Path) -> None:
    logger = logging.getLogger("marketlake")
    before = (list(logger.handlers), logger.level, logger.propagate)
    result = CliRunner().invoke(app, ["config", "show", "--verbose"], env={"MARKETLAKE_WAREHOUSE": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert (list(logger.handlers), logger.level, logger.propagate) == before
    assert logger.propagate  # records still reach the host's handlers (pytest's caplog among them)
