"""TA-Lib on every symbol of a batch: the one way the engine runs a TA-Lib function.

Two paths give the same bits:

* compiled (default): a Numba loop walks the symbols of a block and calls the C function of the very library
  the `talib` package loaded, with the arguments its binding passes (leading NaNs skipped, NaN over the
  lookback). The binding costs ~100k Python calls per 2M daily bars, each dropping and re-taking the GIL
  several times, so two threads mostly waited on each other; here it is one call per block and function.
* binding: `talib`'s Cython functions per symbol slice, unwrapped from the pandas/polars dispatch that
  ta-lib >= 0.6 puts in front of them (as costly as the C work itself). Used when the C library cannot be
  located (an unusual install) or when `MARKETLAKE_TALIB=binding`.

Tests run both paths on the same bars and require identical output.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

import numpy as np
import talib as _public
from numba import njit, types

from marketlake.errors import MarketlakeError
from marketlake.features._segments import Segments

binding = SimpleNamespace(**{  # also what element-wise helpers (TYPPRICE & co.) call, on whole arrays
    name: getattr(getattr(_public, name), "__wrapped__", getattr(_public, name))
    for name in _public.get_functions()
})


class TALibError(MarketlakeError):
    """TA-Lib refused a call (a parameter out of its range); the message names the function and its code."""


@dataclass(frozen=True)
class Function:
    """How the compiled path calls one TA-Lib function: its id in `_call`, outputs, integer and double
    parameters (each in C order), and the C order of all of them where doubles come between integers."""

    fid: int
    n_out: int
    ints: tuple[str, ...] = ()
    floats: tuple[str, ...] = ()
    c_order: tuple[str, ...] = ()

    def c_args(self, params: Mapping[str, float | int]) -> list[ctypes.c_int | ctypes.c_double]:
        """The parameters as C arguments of `TA_<name>_Lookback`."""
        return [ctypes.c_double(float(params[k])) if k in self.floats else ctypes.c_int(int(params[k]))
                for k in (self.c_order or (*self.ints, *self.floats))]


_PERIOD = ("timeperiod",)
FUNCTIONS: Mapping[str, Function] = {
    "SMA": Function(0, 1, _PERIOD), "EMA": Function(1, 1, _PERIOD), "WMA": Function(2, 1, _PERIOD),
    "KAMA": Function(3, 1, _PERIOD), "ROC": Function(4, 1, _PERIOD), "MOM": Function(5, 1, _PERIOD),
    "RSI": Function(6, 1, _PERIOD), "MAX": Function(7, 1, _PERIOD), "MIN": Function(8, 1, _PERIOD),
    "WILLR": Function(9, 1, _PERIOD), "CCI": Function(10, 1, _PERIOD), "ADX": Function(11, 1, _PERIOD),
    "PLUS_DI": Function(12, 1, _PERIOD), "MINUS_DI": Function(13, 1, _PERIOD), "ATR": Function(14, 1, _PERIOD),
    "NATR": Function(15, 1, _PERIOD), "MIDPRICE": Function(16, 1, _PERIOD), "MFI": Function(17, 1, _PERIOD),
    "CMF": Function(18, 1, _PERIOD), "AD": Function(19, 1), "OBV": Function(20, 1),
    "MACD": Function(21, 3, ("fastperiod", "slowperiod", "signalperiod")),
    "STOCH": Function(22, 2, ("fastk_period", "slowk_period", "slowk_matype", "slowd_period", "slowd_matype")),
    "BBANDS": Function(23, 3, ("timeperiod", "matype"), ("nbdevup", "nbdevdn"),
                       ("timeperiod", "nbdevup", "nbdevdn", "matype")),
    "PPO": Function(24, 1, ("fastperiod", "slowperiod", "matype")),
}


def _library_candidates() -> list[str]:
    """Files that may hold TA-Lib's C symbols, the library the binding loaded first."""
    found: list[str] = []
    try:  # Linux: exactly the file the binding loaded
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rsplit(maxsplit=1)[-1] if "/" in line else ""
                name = os.path.basename(path)
                if name.startswith(("libta-lib", "libta_lib")) and path not in found:
                    found.append(path)
    except OSError:
        pass
    package = os.path.dirname(_public.__file__)
    for pattern in ("../ta_lib.libs/*ta*lib*", ".dylibs/*ta*lib*", "../ta_lib.libs/*.dll"):  # wheel layouts
        found += sorted(glob.glob(os.path.join(package, pattern)))
    found += [p for p in (ctypes.util.find_library("ta-lib"), ctypes.util.find_library("ta_lib")) if p]
    found += glob.glob(os.path.join(package, "_ta_lib*"))  # a binding linked statically
    return found


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    """TA-Lib's C library with its symbols made visible to the JIT; None if none is usable."""
    if os.environ.get("MARKETLAKE_TALIB", "").lower() == "binding":
        return None
    import llvmlite.binding as llvm

    for path in _library_candidates():
        try:
            lib = ctypes.CDLL(path)
            lib.TA_SMA  # noqa: B018 - probe the export
            llvm.load_library_permanently(path)
        except (OSError, AttributeError, RuntimeError):
            continue
        return lib if _self_test(lib) else None
    return None


def _self_test(lib: ctypes.CDLL) -> bool:
    """Compile (or load from cache) and check one call against the binding before trusting the path."""
    x = np.array([np.nan, 1.0, 2.0, 4.0, 8.0])
    seg = Segments.from_lengths(np.array([2, 3]))
    got = np.empty(5)
    try:
        rc = _apply(0, int(lib.TA_SMA_Lookback(2)), x, x, x, x, np.array([2], np.int32), np.zeros(1),
                    seg.starts, seg.stops, got, got, got)
    except Exception as exc:  # noqa: BLE001 - any failure here means: use the binding
        warnings.warn(f"TA-Lib's compiled path is unavailable ({exc}); using the slower binding", stacklevel=3)
        return False
    want = _by_binding("SMA", (x,), seg, FUNCTIONS["SMA"], {"timeperiod": 2})[0]
    return rc == 0 and np.array_equal(got, want, equal_nan=True)


def compiled_available() -> bool:
    """Whether the compiled path is used (the C library was located)."""
    return _library() is not None


def per_symbol(
    name: str, inputs: tuple[np.ndarray, ...], seg: Segments, params: Mapping[str, float | int],
    compiled: bool | None = None,
) -> list[np.ndarray]:
    """TA-Lib function `name` on every segment's slice of `inputs`; NaN where it gives nothing.

    `params` must hold every parameter of the function (extra keys are ignored): TA-Lib's defaults are not
    the usual ones, so nothing is left to them.
    """
    fn = FUNCTIONS[name]
    missing = [k for k in (*fn.ints, *fn.floats) if k not in params]
    if missing:
        raise TALibError(f"TA-Lib {name} needs parameter(s) {missing}; pass every parameter explicitly")
    xs = tuple(np.ascontiguousarray(x, dtype=np.float64) for x in inputs)
    lib = _library() if compiled is not False else None
    if lib is None:
        return _by_binding(name, xs, seg, fn, params)
    outs = [np.empty(seg.n) for _ in range(fn.n_out)]
    x0, x1, x2, x3 = (*xs, *(xs[0],) * (4 - len(xs)))
    o0, o1, o2 = (*outs, *(outs[0],) * (3 - len(outs)))
    lookback, ints, floats = _prepared(name, tuple((k, params[k]) for k in (*fn.ints, *fn.floats)))
    rc = _apply(fn.fid, lookback, x0, x1, x2, x3, ints, floats, seg.starts, seg.stops, o0, o1, o2)
    if rc != 0:
        raise TALibError(f"TA-Lib {name}({dict(params)}) failed with TA_RetCode {rc}")
    return outs


@lru_cache(maxsize=256)
def _prepared(name: str, params: tuple[tuple[str, float | int], ...]) -> tuple[int, np.ndarray, np.ndarray]:
    """(lookback, integer parameters, double parameters) of one call; the same for every block of a batch,
    so asked of TA-Lib once (a ctypes call costs more than a short symbol's arithmetic)."""
    fn, given = FUNCTIONS[name], dict(params)
    ints = np.array([int(given[k]) for k in fn.ints] or [0], dtype=np.int32)
    floats = np.array([float(given[k]) for k in fn.floats] or [0.0], dtype=np.float64)
    lib = _library()
    assert lib is not None
    return int(getattr(lib, f"TA_{name}_Lookback")(*fn.c_args(given))), ints, floats


def _by_binding(
    name: str, xs: tuple[np.ndarray, ...], seg: Segments, fn: Function, params: Mapping[str, float | int]
) -> list[np.ndarray]:
    call = getattr(binding, name)
    kwargs = {k: params[k] for k in (*fn.ints, *fn.floats)}
    outs = [np.full(seg.n, np.nan) for _ in range(fn.n_out)]
    for a, b in zip(seg.starts.tolist(), seg.stops.tolist()):
        try:
            res = call(*(x[a:b] for x in xs), **kwargs)
        except Exception as exc:  # the binding raises a bare Exception naming the TA_RetCode
            raise TALibError(f"TA-Lib {name}({kwargs}) failed: {exc}") from None
        for o, r in zip(outs, res if fn.n_out > 1 else (res,)):
            o[a:b] = r
    return outs


# --- the compiled path ------------------------------------------------------------------------------------------
# C signatures from ta_func.h: TA_RetCode TA_X(int startIdx, int endIdx, inputs..., options..., int *outBegIdx,
# int *outNBElement, outputs...); TA_MAType and TA_RetCode are C enums (int).
_I, _D = types.int32, types.float64
_PD, _PI = types.CPointer(types.float64), types.CPointer(types.int32)


def _ta(name: str, *args: types.Type) -> types.ExternalFunction:
    return types.ExternalFunction("TA_" + name, _I(_I, _I, *args))


_R_P = (_PD, _I, _PI, _PI, _PD)
_HLC_P = (_PD, _PD, _PD, _I, _PI, _PI, _PD)
_HLCV_P = (_PD, _PD, _PD, _PD, _I, _PI, _PI, _PD)
SMA, EMA, WMA, KAMA, ROC, MOM, RSI, MAX, MIN = (
    _ta(n, *_R_P) for n in ("SMA", "EMA", "WMA", "KAMA", "ROC", "MOM", "RSI", "MAX", "MIN"))
WILLR, CCI, ADX, PLUS_DI, MINUS_DI, ATR, NATR = (
    _ta(n, *_HLC_P) for n in ("WILLR", "CCI", "ADX", "PLUS_DI", "MINUS_DI", "ATR", "NATR"))
MIDPRICE = _ta("MIDPRICE", _PD, _PD, _I, _PI, _PI, _PD)
MFI, CMF = _ta("MFI", *_HLCV_P), _ta("CMF", *_HLCV_P)
AD = _ta("AD", _PD, _PD, _PD, _PD, _PI, _PI, _PD)
OBV = _ta("OBV", _PD, _PD, _PI, _PI, _PD)
MACD = _ta("MACD", _PD, _I, _I, _I, _PI, _PI, _PD, _PD, _PD)
STOCH = _ta("STOCH", _PD, _PD, _PD, _I, _I, _I, _I, _I, _PI, _PI, _PD, _PD)
BBANDS = _ta("BBANDS", _PD, _I, _D, _D, _I, _PI, _PI, _PD, _PD, _PD)
PPO = _ta("PPO", _PD, _I, _I, _I, _PI, _PI, _PD)

_JIT: dict[str, Any] = {"cache": True, "nogil": True, "boundscheck": False}


@njit(**_JIT)
def _call(fid, end, x0, x1, x2, x3, p, f, beg, nb, o0, o1, o2):  # pragma: no cover - compiled
    if fid == 0:
        return SMA(0, end, x0, p[0], beg, nb, o0)
    if fid == 1:
        return EMA(0, end, x0, p[0], beg, nb, o0)
    if fid == 2:
        return WMA(0, end, x0, p[0], beg, nb, o0)
    if fid == 3:
        return KAMA(0, end, x0, p[0], beg, nb, o0)
    if fid == 4:
        return ROC(0, end, x0, p[0], beg, nb, o0)
    if fid == 5:
        return MOM(0, end, x0, p[0], beg, nb, o0)
    if fid == 6:
        return RSI(0, end, x0, p[0], beg, nb, o0)
    if fid == 7:
        return MAX(0, end, x0, p[0], beg, nb, o0)
    if fid == 8:
        return MIN(0, end, x0, p[0], beg, nb, o0)
    if fid == 9:
        return WILLR(0, end, x0, x1, x2, p[0], beg, nb, o0)
    if fid == 10:
        return CCI(0, end, x0, x1, x2, p[0], beg, nb, o0)
    if fid == 11:
        return ADX(0, end, x0, x1, x2, p[0], beg, nb, o0)
    if fid == 12:
        return PLUS_DI(0, end, x0, x1, x2, p[0], beg, nb, o0)
    if fid == 13:
        return MINUS_DI(0, end, x0, x1, x2, p[0], beg, nb, o0)
    if fid == 14:
        return ATR(0, end, x0, x1, x2, p[0], beg, nb, o0)
    if fid == 15:
        return NATR(0, end, x0, x1, x2, p[0], beg, nb, o0)
    if fid == 16:
        return MIDPRICE(0, end, x0, x1, p[0], beg, nb, o0)
    if fid == 17:
        return MFI(0, end, x0, x1, x2, x3, p[0], beg, nb, o0)
    if fid == 18:
        return CMF(0, end, x0, x1, x2, x3, p[0], beg, nb, o0)
    if fid == 19:
        return AD(0, end, x0, x1, x2, x3, beg, nb, o0)
    if fid == 20:
        return OBV(0, end, x0, x1, beg, nb, o0)
    if fid == 21:
        return MACD(0, end, x0, p[0], p[1], p[2], beg, nb, o0, o1, o2)
    if fid == 22:
        return STOCH(0, end, x0, x1, x2, p[0], p[1], p[2], p[3], p[4], beg, nb, o0, o1)
    if fid == 23:
        return BBANDS(0, end, x0, p[0], f[0], f[1], p[1], beg, nb, o0, o1, o2)
    return PPO(0, end, x0, p[0], p[1], p[2], beg, nb, o0)


@njit(**_JIT)
def _first_complete(x0, x1, x2, x3, a, b):  # pragma: no cover - compiled
    """The binding's check_begidx: offset of the first bar where no input is NaN (n - 1 if none)."""
    for i in range(a, b):
        if x0[i] == x0[i] and x1[i] == x1[i] and x2[i] == x2[i] and x3[i] == x3[i]:
            return i - a
    return b - a - 1


@njit(**_JIT)
def _apply(fid, base, x0, x1, x2, x3, p, f, starts, stops, o0, o1, o2):  # pragma: no cover - compiled
    """Per segment, what the binding does: skip leading NaNs, NaN over the lookback, C call for the rest.

    `base` is the function's lookback (TA_<name>_Lookback). Unused inputs/outputs are passed as aliases of
    the first ones. Returns 0 or the first TA_RetCode.
    """
    beg = np.zeros(1, np.int32)
    nb = np.zeros(1, np.int32)
    for s in range(len(starts)):
        a, b = starts[s], stops[s]
        if b <= a:
            continue
        first = _first_complete(x0, x1, x2, x3, a, b)
        lookback = first + base
        head = a + min(lookback, b - a)
        o0[a:head] = np.nan
        o1[a:head] = np.nan
        o2[a:head] = np.nan
        if head >= b:  # the binding's call would return no element
            continue
        i, j = a + first, a + lookback
        rc = _call(fid, b - i - 1, x0[i:].ctypes, x1[i:].ctypes, x2[i:].ctypes, x3[i:].ctypes, p, f,
                   beg.ctypes, nb.ctypes, o0[j:].ctypes, o1[j:].ctypes, o2[j:].ctypes)
        if rc != 0:
            return rc
        tail = j + nb[0]
        o0[tail:b] = np.nan
        o1[tail:b] = np.nan
        o2[tail:b] = np.nan
    return 0


__all__ = ["FUNCTIONS", "TALibError", "binding", "compiled_available", "per_symbol"]
