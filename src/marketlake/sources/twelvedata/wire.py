"""TwelveData's raw wire schema: what the JSON looks like, strings kept as strings.

Why apart from the converter: the vendor sends every number as a string, newest first, in exchange
time, and puts errors inside HTTP 200 bodies. Keeping the raw shape here (and nothing else) lets
`convert.py` decide, in one pure place, how strings become floats and local times become UTC, and lets
tests hold captured payloads that match these types exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marketlake.sources.redact import redact

INCOMPLETE = 502
"""Code of a `WireError` we make when a batch answer lacks a symbol or is malformed: a server-side failure
worth retrying, never the vendor's 404 for that symbol (which alone means "unknown symbol")."""


@dataclass(frozen=True)
class WireError:
    """An error object: `{"code": 429, "message": "...", "status": "error"}`."""

    code: int
    message: str

    @classmethod
    def parse(cls, obj: Mapping[str, Any], *, default_code: int = 500) -> WireError:
        raw_code = obj.get("code", default_code)
        try:
            code = int(raw_code)
        except (TypeError, ValueError):
            code = default_code
        message = obj.get("message")
        return cls(code=code, message=redact(str(message)) if message is not None else "no message")

    @property
    def retryable(self) -> bool:
        """A server-side failure (5xx, or an answer we made for a missing/malformed one): ask again."""
        return self.code >= 500


@dataclass(frozen=True)
class WireMeta:
    """`meta` of a time series; unknown keys kept in `extra`."""

    symbol: str
    interval: str
    exchange_timezone: str | None = None
    exchange: str | None = None
    mic_code: str | None = None
    currency: str | None = None
    currency_base: str | None = None
    currency_quote: str | None = None
    type: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> WireMeta:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        kw = {k: (str(v) if v is not None else None) for k, v in obj.items() if k in known}
        kw.setdefault("symbol", "")
        kw.setdefault("interval", "")
        return cls(**kw, extra={k: v for k, v in obj.items() if k not in known})  # type: ignore[arg-type]


@dataclass(frozen=True)
class WireSeries:
    """One symbol's time series: `meta` and `values` as sent (list of dicts of strings, newest first)."""

    meta: WireMeta
    values: list[dict[str, Any]]


def is_error(obj: Any) -> bool:
    return isinstance(obj, Mapping) and obj.get("status") == "error"


def parse_series(obj: Mapping[str, Any]) -> WireSeries | WireError:
    """One `{meta, values, status}` object, or its error."""
    if is_error(obj):
        return WireError.parse(obj)
    meta = WireMeta.parse(obj.get("meta") or {})
    values = obj.get("values") or []
    if not isinstance(values, list):
        return WireError(code=500, message="values is not a list")
    return WireSeries(meta=meta, values=[v for v in values if isinstance(v, Mapping)])  # type: ignore[misc]


def parse_time_series(obj: Any, symbols: list[str]) -> dict[str, WireSeries | WireError]:
    """A single or batch `/time_series` body, keyed by the requested symbol.

    A single-symbol request answers `{meta, values, status}`; a batch answers an object keyed by
    symbol (no top-level status), each value a series or an error. A symbol missing from a batch
    answer is reported as an `INCOMPLETE` error (retryable; never a 404: the vendor did not say it does
    not know the symbol), so the caller never silently loses it.
    """
    if not isinstance(obj, Mapping):
        err = WireError(code=INCOMPLETE, message="response is not a JSON object")
        return {s: err for s in symbols}
    if len(symbols) == 1 and ("values" in obj or "meta" in obj or is_error(obj)):
        return {symbols[0]: parse_series(obj)}
    if is_error(obj):  # a whole-batch error (401, 429, ...)
        err = WireError.parse(obj)
        return {s: err for s in symbols}
    out: dict[str, WireSeries | WireError] = {}
    for s in symbols:
        item = obj.get(s)
        if isinstance(item, Mapping):
            out[s] = parse_series(item)
        else:
            out[s] = WireError(code=INCOMPLETE, message=f"symbol {s} missing from the batch answer")
    return out


def parse_list(obj: Any) -> list[dict[str, Any]] | WireError:
    """A reference list `{"data": [...], "status": "ok"}`."""
    if is_error(obj):
        return WireError.parse(obj)
    if isinstance(obj, Mapping) and isinstance(obj.get("data"), list):
        return [dict(d) for d in obj["data"] if isinstance(d, Mapping)]
    if isinstance(obj, list):
        return [dict(d) for d in obj if isinstance(d, Mapping)]
    return WireError(code=500, message="unexpected list payload")


__all__ = [
    "INCOMPLETE",
    "WireError",
    "WireMeta",
    "WireSeries",
    "is_error",
    "parse_list",
    "parse_series",
    "parse_time_series",
]
