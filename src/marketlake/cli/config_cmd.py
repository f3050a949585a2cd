"""`marketlake config show`: the resolved configuration, and where each value came from.

Every setting is listed with its value and its origin: `default`, the config file, or the environment
variable that overrides it. Secrets are shown masked (their length only), so the output can be pasted
into a bug report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, SecretStr

from marketlake.cli.output import Format, FormatOption, OutputOption, emit, records_to_table

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        return f"**** ({len(secret)} characters)" if secret else ""
    return value


def _leaves(model: BaseModel, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if not prefix and name == "sources":  # vendor sections, each as `[<vendor>]` (registered ones, defaults too)
            from marketlake.sources import registry

            for vendor in registry.vendors():
                out += _leaves(model.source_config(vendor), f"{vendor}.")  # type: ignore[attr-defined]
            continue
        if isinstance(value, BaseModel):
            out += _leaves(value, f"{key}.")
        elif key == "storage" and isinstance(value, dict):  # object-store options: one line each, secrets masked
            from marketlake.config import SECRET_OPTION

            for sub, item in sorted(value.items()):
                out.append((f"{key}.{sub}", _mask(SecretStr(item)) if SECRET_OPTION.search(sub) else item))
        elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            for sub, item in value.items():
                out += _leaves(item, f"{key}.{sub}.")
        else:
            out.append((key, _mask(value)))
    return out


def show(
    config: Annotated[Path | None, typer.Option("--config", help="Config file (default: ./marketlake.toml, "
                                                "then ~/.config/marketlake/config.toml).")] = None,
    fmt: FormatOption = Format.table,
    output: OutputOption = None,
) -> None:
    """Every setting with its value and origin (default, file, environment); secrets masked."""
    from marketlake.config import resolve_config

    cfg, origin, found = resolve_config(config)
    rows = []
    for key, value in _leaves(cfg):
        source = origin.get(key)
        if source is None:  # a section given as a whole in the file (universes, tiers, ...)
            source = next((o for k, o in origin.items() if k.startswith(f"{key}.")), "default")
        if source == "file":
            source = f"file {found.resolve() if found else ''}"
        rows.append({"setting": key, "value": value if isinstance(value, str) else repr(value), "from": source})
    where = found.resolve() if found else "none found: defaults and environment only"
    emit(records_to_table(rows), fmt=fmt, output=output, limit=10_000, title=f"configuration (file: {where})")


def register(app: typer.Typer) -> None:
    config_app.command("show")(show)
    app.add_typer(config_app, name="config")


__all__ = ["register", "show"]
