"""`kind:params` options (labels, splits, transforms) parsed into small frozen specs.

One grammar for the command line and Python: `fwd_return:5` (a bare value is the kind's main parameter),
`triple_barrier:h=10,mult=2,vol=20`, `walk_forward:folds=5,embargo=5,mode=rolling`. Specs turn back into
the same canonical text (`str(spec)`), which is what a manifest records, so a rebuild parses exactly the
configuration the first build used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from marketlake.errors import ConfigError

LABEL_KINDS: dict[str, dict[str, Any]] = {
    # kind -> defaults (the first key is the main parameter a bare value sets)
    "fwd_return": {"h": None},
    "fwd_log_return": {"h": None},
    "excess_return": {"h": None, "benchmark": None},  # None: the table's benchmark; "mean": the cross-section
    "sign": {"h": None},
    "threshold": {"h": None, "up": 0.0, "down": 0.0},
    "triple_barrier": {"h": None, "mult": 2.0, "vol": 20},
}
SPLIT_KINDS: dict[str, dict[str, Any]] = {
    "walk_forward": {"folds": 5, "embargo": 0, "mode": "expanding", "window": None},
    "kfold": {"folds": 5, "embargo": 0},
}
TRANSFORM_KINDS: dict[str, dict[str, Any]] = {
    "rank": {},
    "zscore": {},
    "winsorize": {"p": 0.01},
}


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_option(text: str, kinds: dict[str, dict[str, Any]], what: str) -> tuple[str, dict[str, Any]]:
    """`kind[:main|k=v,...]` -> (kind, params with defaults filled); unknown kinds or keys are errors."""
    kind, _, rest = text.strip().partition(":")
    kind = kind.strip()
    if kind not in kinds:
        raise ConfigError(f"unknown {what} kind {kind!r} in {text!r}; known: {', '.join(kinds)}")
    defaults = kinds[kind]
    params: dict[str, Any] = dict(defaults)
    extra = {"name"} if what == "label" else set()
    for i, item in enumerate(p for p in rest.split(",") if p.strip()):
        key, eq, val = item.partition("=")
        if not eq:
            if i or not defaults:
                raise ConfigError(f"{what} {text!r}: {item!r} must be key=value (keys: {', '.join(defaults)})")
            key, val = next(iter(defaults)), item
        key = key.strip()
        if key not in defaults and key not in extra:
            raise ConfigError(f"{what} {text!r}: unknown parameter {key!r} (known: {', '.join([*defaults, *extra])})")
        params[key] = _value(val.strip())
    missing = [k for k, v in params.items() if v is None and k in ("h",)]
    if missing:
        raise ConfigError(f"{what} {text!r}: give the horizon, e.g. {kind}:5 or {kind}:h=5")
    return kind, params


def _canonical(kind: str, params: dict[str, Any]) -> str:
    body = ",".join(f"{k}={params[k]}" for k in sorted(params) if params[k] is not None)
    return f"{kind}:{body}" if body else kind


@dataclass(frozen=True)
class LabelSpec:
    """One label: kind, horizon in bars, its parameters and its column name."""

    kind: str
    h: int
    params: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    name: str = ""

    @staticmethod
    def parse(text: str) -> LabelSpec:
        kind, params = parse_option(text, LABEL_KINDS, "label")
        h = params.pop("h")
        if not isinstance(h, int) or h < 1:
            raise ConfigError(f"label {text!r}: the horizon must be a whole number of bars >= 1, got {h!r}")
        name = str(params.pop("name", None) or f"{kind}_{h}")
        if kind == "triple_barrier" and (not isinstance(params["vol"], int) or params["vol"] < 2):
            raise ConfigError(f"label {text!r}: vol= is a window of >= 2 bars")
        if kind in ("threshold", "triple_barrier"):
            for key in ("up", "down", "mult"):
                if key in params and (not isinstance(params[key], int | float) or params[key] < 0):
                    raise ConfigError(f"label {text!r}: {key}= must be a number >= 0")
        return LabelSpec(kind, h, MappingProxyType(params), name)

    def __str__(self) -> str:
        return _canonical(self.kind, {"h": self.h, **self.params, "name": self.name})


@dataclass(frozen=True)
class SplitSpec:
    """Walk-forward (expanding or rolling) or purged k-fold, with an embargo in bars."""

    kind: str
    folds: int
    embargo: int
    mode: str = "expanding"
    window: int | None = None

    @staticmethod
    def parse(text: str) -> SplitSpec:
        kind, params = parse_option(text, SPLIT_KINDS, "split")
        folds, embargo = params["folds"], params["embargo"]
        if not isinstance(folds, int) or folds < 1 or (kind == "kfold" and folds < 2):
            raise ConfigError(f"split {text!r}: folds= must be a whole number >= {2 if kind == 'kfold' else 1}")
        if not isinstance(embargo, int) or embargo < 0:
            raise ConfigError(f"split {text!r}: embargo= is a number of bars >= 0")
        mode = params.get("mode", "expanding")
        if mode not in ("expanding", "rolling"):
            raise ConfigError(f"split {text!r}: mode= is expanding or rolling, not {mode!r}")
        window = params.get("window")
        if window is not None and (not isinstance(window, int) or window < 1):
            raise ConfigError(f"split {text!r}: window= is a number of datetimes >= 1")
        return SplitSpec(kind, folds, embargo, mode, window)

    def __str__(self) -> str:
        params: dict[str, Any] = {"folds": self.folds, "embargo": self.embargo}
        if self.kind == "walk_forward":
            params.update(mode=self.mode, window=self.window)
        return _canonical(self.kind, params)


@dataclass(frozen=True)
class TransformSpec:
    """A cross-sectional transform applied to every feature, within each datetime."""

    kind: str
    params: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @staticmethod
    def parse(text: str) -> TransformSpec:
        kind, params = parse_option(text, TRANSFORM_KINDS, "transform")
        if kind == "winsorize" and not (isinstance(params["p"], int | float) and 0 <= params["p"] < 0.5):
            raise ConfigError(f"transform {text!r}: p= is a tail fraction in [0, 0.5)")
        return TransformSpec(kind, MappingProxyType(params))

    def __str__(self) -> str:
        return _canonical(self.kind, dict(self.params))


MISSING_POLICIES = ("keep", "drop", "impute")


def check_missing(policy: str) -> str:
    if policy not in MISSING_POLICIES:
        raise ConfigError(f"missing-feature policy {policy!r}: use one of {', '.join(MISSING_POLICIES)}")
    return policy


__all__ = ["LABEL_KINDS", "MISSING_POLICIES", "SPLIT_KINDS", "TRANSFORM_KINDS", "LabelSpec", "SplitSpec",
           "TransformSpec", "check_missing", "parse_option"]
