"""How much memory a load may use, and how many bars one symbol group may hold under it.

A grouped load (`pipeline.grouped`) holds one group's bars, their 97 computed columns and the stored rows
it compares them with at a time; everything else (the staged input, the per-datetime sector aggregates)
is small per bar. The figures below were measured on the synthetic 1-minute tiers (peak RSS of the load
over the bars of its largest group), rounded up.
"""

from __future__ import annotations

import os
import re

from marketlake.errors import ConfigError

GIB = 1024**3
MIB = 1024**2
DEFAULT_FRACTION = 0.25  # of the machine's RAM
DEFAULT_CAP = 6 * GIB  # the target per 1-minute tier
BASE_BYTES = 600 * MIB  # the interpreter, TA-Lib, Arrow, DuckDB and the table's file index
BYTES_PER_ROW = 2_500  # one bar through read -> compute (97 columns) -> diff -> write, peak
LIGHT_BYTES_PER_ROW = 48  # one bar in the light passes (stored index, sector returns)

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": MIB, "mb": MIB, "mib": MIB,
          "g": GIB, "gb": GIB, "gib": GIB, "t": 1024 * GIB, "tb": 1024 * GIB, "tib": 1024 * GIB}


def machine_memory() -> int:
    """Physical memory of this machine in bytes (8 GiB when the platform does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 * GIB


def default_budget() -> int:
    """A quarter of the machine's RAM, at most 6 GiB: room for the OS and other processes."""
    return int(min(DEFAULT_FRACTION * machine_memory(), DEFAULT_CAP))


def parse_budget(value: str | int | float | None) -> int:
    """Bytes from `2G`, `512MB`, `1.5GiB`, `1073741824` (None: the default budget)."""
    if value is None:
        return default_budget()
    if isinstance(value, int | float) and not isinstance(value, bool):
        amount, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        if match is None or match.group(2).lower() not in _UNITS:
            raise ConfigError(f"memory budget {value!r} is not a size; write e.g. 512M, 2G or 4GiB")
        amount, unit = float(match.group(1)), match.group(2).lower()
    size = int(amount * _UNITS[unit])
    if size <= 0:
        raise ConfigError(f"memory budget must be positive, got {value!r}")
    return size


def group_rows(budget: int) -> int:
    """Bars one symbol group may hold under `budget` bytes (at least 1: a symbol is never split).

    A budget below the fixed base still loads, one symbol per group: the smallest unit there is."""
    return max(1, (int(budget) - BASE_BYTES) // BYTES_PER_ROW)


__all__ = ["BYTES_PER_ROW", "default_budget", "group_rows", "machine_memory", "parse_budget"]
