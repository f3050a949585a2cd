"""`marketlake init --preset hybrid|free`: write a commented ./marketlake.toml with a coverage plan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def init(
    preset: Annotated[str, typer.Option("--preset", help="hybrid (the original design's plan) or free.")] = "hybrid",
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write it.")] = Path("marketlake.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write the preset's coverage plan (no prompt); refuses to overwrite without --force."""
    from marketlake.coverage.presets import write_preset

    path = write_preset(preset, output, force=force)
    typer.echo(f"wrote {path} (preset {preset}); check it with: marketlake capacity --config {path}")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
