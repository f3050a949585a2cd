"""Options every command takes, added in one place: `--quiet`, `--verbose`, `--config`, and the warehouse.

`with_common_options(fn)` returns a command that accepts `-q/--quiet`, `-v/--verbose` and `--config PATH`
(unless it declares them itself) and publishes them, for the duration of the call, as the current
`Invocation` that progress and output helpers read. The CLI applies it to every registered command, so a
new command gets the same vocabulary without repeating it.

A command's `warehouse` parameter left unset resolves like every other setting: `-w` > the
MARKETLAKE_WAREHOUSE environment variable > `warehouse` in the config file > `./warehouse`.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from marketlake.cli.progress import Reporter


@dataclass(frozen=True)
class Invocation:
    """What the user asked for on this command line, beyond the command's own arguments."""

    quiet: bool = False
    verbose: bool = False
    config: Path | None = None

    def reporter(self) -> Reporter:
        from marketlake.cli.common import console

        return Reporter(console(stderr=True), quiet=self.quiet, verbose=self.verbose)


_CURRENT: ContextVar[Invocation | None] = ContextVar("marketlake_cli_invocation", default=None)


def current() -> Invocation:
    """The options of the command being run (defaults outside a command)."""
    return _CURRENT.get() or Invocation()


@contextmanager
def invocation(value: Invocation) -> Iterator[Invocation]:
    token = _CURRENT.set(value)
    try:
        yield value
    finally:
        _CURRENT.reset(token)


class _UtcFormatter(logging.Formatter):
    """Timestamps like the progress lines: `2026-12-01T09:40:12Z`."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


def configure_logging(*, quiet: bool, verbose: bool) -> None:
    """Library messages (vendor retries, lock waits) on stderr, timestamped: what a long wait is doing.

    INFO by default, so a run retrying an unreachable vendor says so instead of staying silent; WARNING
    with --quiet, DEBUG with --verbose. Records pass through the secret redaction the CLI installs.
    """
    logger = logging.getLogger("marketlake")
    handler = next((h for h in logger.handlers if getattr(h, "_marketlake_cli", False)), None)
    if handler is None:
        handler = logging.StreamHandler()  # stderr, looked up at each record (pytest's capture swaps it)
        handler._marketlake_cli = True  # type: ignore[attr-defined]
        handler.setFormatter(_UtcFormatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)


@contextmanager
def logging_scope() -> Iterator[None]:
    """The `marketlake` logger as it was before the command: an in-process run (tests, notebooks) must
    not leave the CLI's handler, level or propagation behind for the host program."""
    logger = logging.getLogger("marketlake")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    try:
        yield
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


def resolve_warehouse(value: str | Path | None, config: Path | None = None) -> str:
    """-w, else MARKETLAKE_WAREHOUSE, else the config file's `warehouse`, else ./warehouse."""
    if value is not None and str(value) != "":
        return str(value)
    from marketlake.config import load_config

    return load_config(config).warehouse if config else load_config().warehouse


def warehouse_value(value: str | Path) -> Path | str:
    """A local warehouse as a Path, an object-store one as its canonical URI string.

    Typer hands `-w s3://bucket/x` over as `Path("s3:/bucket/x")` (pathlib folds the double slash): the
    URI is restored here, so messages and hints print it as typed. An unsupported scheme fails here,
    before the command does anything (`storage.location.UnsupportedLocation`).
    """
    from marketlake.storage.location import parse

    where = parse(value)
    return where.uri if where.remote else Path(value)


def _store_error(where: str, exc: OSError) -> Exception:
    """An object store that cannot be reached or refuses us, as one actionable StorageError."""
    from marketlake.errors import StorageError

    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    return StorageError(
        f"object store of warehouse {where} failed: {text}. Check the endpoint and credentials: AWS_ENDPOINT_URL, "
        f"AWS_REGION, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (AWS_ALLOW_HTTP=true for a plain-HTTP server) "
        f"or the [storage] section of the config file, and that the bucket exists"
    )


_QUIET = inspect.Parameter(
    "quiet", inspect.Parameter.KEYWORD_ONLY, default=False,
    annotation=Annotated[bool, typer.Option("--quiet", "-q", help="Print results only: no progress or notes.")],
)
_VERBOSE = inspect.Parameter(
    "verbose", inspect.Parameter.KEYWORD_ONLY, default=False,
    annotation=Annotated[bool, typer.Option("--verbose", "-v", help="Also print detail messages.")],
)
_CONFIG = inspect.Parameter(
    "config", inspect.Parameter.KEYWORD_ONLY, default=None,
    annotation=Annotated[Path | None, typer.Option("--config", help="Config file (default: ./marketlake.toml).")],
)


def _flags(param: inspect.Parameter) -> set[str]:
    """The command-line flags a parameter declares (`--config`, `-q`, ...), from its Annotated option."""
    flags: set[str] = set()
    for meta in getattr(param.annotation, "__metadata__", ()):
        decls = [getattr(meta, "default", None), *(getattr(meta, "param_decls", ()) or ())]
        flags.update(d for d in decls if isinstance(d, str) and d.startswith("-"))  # Annotated: first = a flag
    return flags


def with_common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` plus `--quiet/--verbose/--config` (see the module docstring); idempotent."""
    if getattr(fn, "__marketlake_common__", False):
        return fn
    sig = inspect.signature(fn, eval_str=True)  # real Annotated[...] objects, not `from __future__` strings
    owner = {}  # our option -> the command's own parameter that already declares its flag
    for param in sig.parameters.values():
        declared = _flags(param) | {f"--{param.name}"}
        for ours in (_QUIET, _VERBOSE, _CONFIG):
            if f"--{ours.name}" in declared:
                owner[ours.name] = param.name
    added = [p for p in (_QUIET, _VERBOSE, _CONFIG) if p.name not in owner]
    from marketlake.cli.common import WarehouseOption

    # only the shared option resolves from the config: a command may give `warehouse` another meaning
    # (None = "the one the manifest names")
    resolves_warehouse = "warehouse" in sig.parameters and sig.parameters["warehouse"].annotation is WarehouseOption

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> Any:
        extra = {p.name: kwargs.pop(p.name, p.default) for p in added}
        quiet = bool(kwargs.get(owner.get("quiet", ""), extra.get("quiet", False)))
        verbose = bool(kwargs.get(owner.get("verbose", ""), extra.get("verbose", False)))
        config = kwargs.get(owner.get("config", ""), extra.get("config"))
        from marketlake.cli.common import configure_storage
        from marketlake.storage.location import storage_scope
        from marketlake.storage.lock import settings_scope

        with settings_scope(), logging_scope(), storage_scope():  # lock wait, logging, storage options end with it
            if config is not None:  # the lock wait of the file named on this command line
                from marketlake.cli.common import configure_lock

                configure_lock(config)
            configure_storage(config)
            if resolves_warehouse:
                given = kwargs.get("warehouse")
                kwargs["warehouse"] = warehouse_value(given if given is not None else resolve_warehouse(None, config))
            configure_logging(quiet=quiet, verbose=verbose)
            with invocation(Invocation(quiet=quiet, verbose=verbose, config=config)):
                try:
                    return fn(*args, **kwargs)
                except OSError as exc:  # pyarrow's and delta-rs' object-store failures (network, credentials)
                    where = kwargs.get("warehouse")
                    if not isinstance(where, str) or "://" not in where:
                        raise
                    raise _store_error(where, exc) from None

    params = list(sig.parameters.values())
    keyword_at = next((i for i, p in enumerate(params) if p.kind == inspect.Parameter.VAR_KEYWORD), len(params))
    params[keyword_at:keyword_at] = added
    command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    # Typer reads annotations through typing.get_type_hints: give it the evaluated ones
    command.__annotations__ = {p.name: p.annotation for p in params if p.annotation is not inspect.Parameter.empty}
    if sig.return_annotation is not inspect.Signature.empty:
        command.__annotations__["return"] = sig.return_annotation
    del command.__wrapped__  # type: ignore[attr-defined]  # so inspect.signature reads __signature__ only
    command.__marketlake_common__ = True  # type: ignore[attr-defined]
    return command


def apply_to_app(app: typer.Typer) -> None:
    """Wrap every command of `app` and of its sub-apps (after they registered)."""
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = with_common_options(info.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            apply_to_app(group.typer_instance)


__all__ = ["Invocation", "apply_to_app", "current", "invocation", "resolve_warehouse", "warehouse_value",
           "with_common_options"]
