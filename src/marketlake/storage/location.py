"""Where a warehouse lives: a local directory or an object-store URI, and how to reach it.

A warehouse is a local path (or `file://...`) or a URI of an object store delta-rs speaks: `s3://bucket/prefix`
(also `s3a://`), `gs://bucket/prefix` (`gcs://`), `az://container/prefix` (`abfs://`, `abfss://`, `azure://`).
Anything else with a scheme is an error (`UnsupportedLocation`): `-w s3:/typo` or `-w ftp://host/x` must never
become a local folder named `s3:` that a command fills and reports as a success.

Credentials and endpoint come from the standard environment variables, which delta-rs and pyarrow read
themselves (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL,
AWS_ALLOW_HTTP; GOOGLE_APPLICATION_CREDENTIALS; AZURE_STORAGE_ACCOUNT_NAME, AZURE_STORAGE_ACCOUNT_KEY, ...),
or from the `[storage]` section of the config file (delta-rs storage option names, e.g. `aws_endpoint_url`),
which the CLI publishes for the duration of one command (`storage_scope`). Explicit `storage_options` win.
Values of secret-looking options are registered for redaction, so they never reach a message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow.fs as pafs

from marketlake.errors import ConfigError
from marketlake.sources.redact import register_secret

SCHEMES = {"s3": "s3", "s3a": "s3", "gs": "gs", "gcs": "gs", "az": "az", "abfs": "az", "abfss": "az",
           "azure": "az"}
"""URI scheme -> object store family."""
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(/*)(.*)$")
_SECRET_KEY = re.compile(r"(?i)(secret|key|token|password|sas|credential)")  # as config.SECRET_OPTION
_SETTINGS: dict[str, dict[str, str] | None] = {"options": None}


class UnsupportedLocation(ConfigError):
    """A warehouse URI with a scheme marketlake cannot store tables in (or a malformed one)."""


@dataclass(frozen=True)
class Location:
    """A parsed warehouse location: `uri` is canonical (`s3://bucket/prefix`, or an absolute local path)."""

    uri: str
    family: str  # local | s3 | gs | az

    @property
    def remote(self) -> bool:
        return self.family != "local"


def parse(root: str | os.PathLike[str]) -> Location:
    """The location of a warehouse given as a path or URI.

    `s3:/bucket/x` (one slash) is read as `s3://bucket/x`: that is what `pathlib.Path("s3://bucket/x")` makes
    of a URI, and a command-line option typed as a path passes it on so.

    Raises:
        UnsupportedLocation: a scheme that is not a local path nor an object store delta-rs speaks, or a URI
            without a bucket.
    """
    text = os.fspath(root)
    if text.startswith("file://"):
        return Location(os.path.abspath(text.removeprefix("file://") or "/"), "local")
    m = _URI.match(text)
    if m is None or (len(m.group(1)) == 1 and os.name == "nt"):  # C:\... on Windows is a drive letter
        return Location(os.path.abspath(text), "local")
    scheme, rest = m.group(1).lower(), m.group(3).strip("/")
    family = SCHEMES.get(scheme)
    if family is None:
        known = ", ".join(f"{s}://" for s in ("s3", "gs", "az"))
        raise UnsupportedLocation(
            f"warehouse {text!r}: unsupported URI scheme {scheme!r}. Use a local directory or an object store "
            f"URI ({known}, e.g. s3://bucket/prefix); a local folder whose name contains ':' needs a ./ prefix"
        )
    bucket = rest.split("/", 1)[0]
    if not bucket or (not m.group(2) and rest):  # `s3:bucket` is neither a URI nor a path anyone means
        raise UnsupportedLocation(f"warehouse {text!r}: no bucket; use {scheme}://bucket/prefix")
    return Location(f"{scheme}://{rest}", family)


def configure(options: Mapping[str, object] | None) -> None:
    """The `[storage]` options of the config file, for the current command (see `storage_scope`)."""
    clean = {str(k): str(v) for k, v in (options or {}).items()}
    for key, value in clean.items():
        if _SECRET_KEY.search(key):
            register_secret(value)
    _SETTINGS["options"] = clean or None


@contextmanager
def storage_scope() -> Iterator[None]:
    """Options configured inside the block are undone when it ends (one CLI command, in-process runs too)."""
    saved = _SETTINGS["options"]
    try:
        yield
    finally:
        _SETTINGS["options"] = saved


def storage_options(location: Location, explicit: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """Options for delta-rs: the explicit ones, else the configured `[storage]` ones (None: environment only)."""
    if not location.remote:
        return dict(explicit) if explicit else None
    chosen = explicit if explicit else _SETTINGS["options"]
    if not chosen:
        return None
    out = {str(k): str(v) for k, v in chosen.items()}
    for key, value in out.items():
        if _SECRET_KEY.search(key):
            register_secret(value)
    return out


def _option(options: Mapping[str, str], *names: str) -> str | None:
    lower = {k.lower(): v for k, v in options.items()}
    for n in names:
        if n in lower and lower[n] != "":
            return lower[n]
    return None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def filesystem(location: Location, options: Mapping[str, str] | None) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem reaching the warehouse and the warehouse root as a path on it.

    S3 uses pyarrow's native client (fast parallel reads) with the same credentials delta-rs gets; the
    other stores go through delta-rs' own object store (`DeltaStorageHandler`), so one set of options
    serves both. Local warehouses use the local filesystem.
    """
    if not location.remote:
        return pafs.LocalFileSystem(), location.uri
    if location.family == "s3":
        path = location.uri.split("://", 1)[1]
        opts = options or {}
        endpoint = _option(opts, "aws_endpoint_url", "aws_endpoint", "endpoint_url", "endpoint") \
            or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        allow_http = _truthy(_option(opts, "aws_allow_http", "allow_http") or os.environ.get("AWS_ALLOW_HTTP"))
        kwargs: dict[str, object] = {}
        key = _option(opts, "aws_access_key_id", "access_key_id")
        secret = _option(opts, "aws_secret_access_key", "secret_access_key")
        if key and secret:
            kwargs.update(access_key=key, secret_key=secret)
            token = _option(opts, "aws_session_token", "session_token", "aws_token", "token")
            if token:
                kwargs["session_token"] = token
        region = _option(opts, "aws_region", "region") or os.environ.get("AWS_REGION") \
            or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            kwargs["region"] = region
        if endpoint:
            scheme, _, host = endpoint.partition("://")
            if not host:
                scheme, host = ("http" if allow_http else "https"), endpoint
            kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme)
        return pafs.S3FileSystem(**kwargs), path  # type: ignore[arg-type]
    from deltalake.fs import DeltaStorageHandler

    handler = DeltaStorageHandler(location.uri, options=dict(options) if options else None)
    return pafs.PyFileSystem(handler), ""


def join(root: str, *parts: str) -> str:
    """`root/part/...` on a pyarrow filesystem (an empty root: paths relative to the warehouse)."""
    tail = "/".join(p.strip("/") for p in parts if p.strip("/"))
    if not tail:
        return root
    return f"{root}/{tail}" if root else tail


__all__ = ["SCHEMES", "Location", "UnsupportedLocation", "configure", "filesystem", "join", "parse",
           "storage_options", "storage_scope"]
