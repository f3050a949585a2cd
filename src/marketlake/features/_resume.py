"""TA-Lib's path-dependent recursions, replayed with their state exposed (compiled per-symbol loops).

Every kernel walks the segments `starts[s]:stops[s]` (one symbol each) and, per segment, either
* starts fresh (`first[s] < 0`): seeds exactly as TA-Lib's C function does from the segment's first bar, or
* continues (`first[s] >= starts[s] + 1`): from the state in `S[s, j:]` valid at bar `first[s] - 1`,
then writes its outputs for the bars it walks and leaves the state at the segment's last bar in `S[s, j:]`.

The arithmetic (operands, operation order, comparisons) is TA-Lib 0.6+/0.8's in its default compatibility
with no unstable period (the settings the engine runs under, checked by `state.fingerprint`), so a fresh
replay equals TA-Lib's output bit for bit (tests/features/test_incremental.py checks every kernel against
the library) and a continuation equals a fresh replay over the whole history bit for bit. NaN-free inputs
only: TA-Lib skips leading NaNs, which these loops do not (`state` gives such symbols no state row).

Windows whose trailing values a step needs (SMA's x[t-p+1], KAMA's x[t-p], the previous bar's H/L/C) are
read from the bars before `first[s]`: the caller passes the last `history_bars()` of them.

Not here (tests found no operation order matching this TA-Lib build bit for bit): WMA, BBANDS' deviation,
and the running sums inside MFI and CMF; they are recomputed by TA-Lib from those bars (CCI too:
bit-exact once the tail is aligned, see `state.kept_rows`).
"""

from __future__ import annotations

import ctypes.util
import math
from typing import Any

import llvmlite.binding as llvm
import numpy as np
from numba import njit, types

_JIT: dict[str, Any] = {"cache": True, "nogil": True, "boundscheck": False}
NAN = np.nan

# The TA-Lib build the engine loads picks its code per CPU (GNU ifuncs) and its x86-64-v3 variants contract
# `a * b + c` into one fused multiply-add (one rounding, not two); C's fma() rounds the same way.
llvm.load_library_permanently(ctypes.util.find_library("m") or "libm.so.6")
fma = types.ExternalFunction("fma", types.float64(types.float64, types.float64, types.float64))


@njit(**_JIT)
def ema(x, period, starts, stops, first, S, j, out):  # pragma: no cover - compiled
    """TA_EMA (seed: SMA of the first `period` values). State: prevMA."""
    k = 2.0 / (period + 1)
    for s in range(len(starts)):
        a, b, f = starts[s], stops[s], first[s]
        if f < 0:
            out[a:min(a + period - 1, b)] = NAN
            if b - a < period:
                S[s, j] = NAN
                continue
            t = 0.0
            for i in range(a, a + period):
                t += x[i]
            p = t / period
            out[a + period - 1] = p
            f = a + period
        else:
            p = S[s, j]
        for i in range(f, b):
            p = fma(x[i] - p, k, p)
            out[i] = p
        S[s, j] = p


@njit(**_JIT)
def sma(x, period, starts, stops, first, S, j, out):  # pragma: no cover - compiled
    """TA_INT_SMA's running total (+ new, output, - trailing). State: periodTotal after the trailing value
    left it."""
    for s in range(len(starts)):
        a, b, f = starts[s], stops[s], first[s]
        if f < 0:
            out[a:min(a + period - 1, b)] = NAN
            if b - a < period:
                S[s, j] = NAN
                continue
            t = 0.0
            for i in range(a, a + period - 1):
                t += x[i]
            f = a + period - 1
        else:
            t = S[s, j]
        for i in range(f, b):
            t += x[i]
            out[i] = t / period
            t -= x[i - period + 1]
        S[s, j] = t


@njit(**_JIT)
def macd(x, fast, slow, signal, starts, stops, first, S, j, o_macd, o_signal, o_hist):  # pragma: no cover
    """TA_MACD (fast EMA seeded on the last `fast` bars of the slow seed window, signal seeded with the mean
    of the first `signal` MACD values). State: prevFast, prevSlow, prevSignal."""
    fk = 2.0 / (fast + 1)
    sk = 2.0 / (slow + 1)
    gk = 2.0 / (signal + 1)
    look = (signal - 1) + (slow - 1)
    for s in range(len(starts)):
        a, b, f = starts[s], stops[s], first[s]
        if f < 0:
            m = min(a + look, b)
            o_macd[a:m] = NAN
            o_signal[a:m] = NAN
            o_hist[a:m] = NAN
            if b - a <= look:
                S[s, j] = NAN
                S[s, j + 1] = NAN
                S[s, j + 2] = NAN
                continue
            today = a
            t = 0.0
            for _ in range(slow - fast):
                t += x[today]
                today += 1
            pf = 0.0
            for _ in range(fast):
                pf += x[today]
                t += x[today]
                today += 1
            ps = t / slow
            pf = pf / fast
            while today <= a + look - (signal - 1):
                v = x[today]
                today += 1
                pf = fma(v - pf, fk, pf)
                ps = fma(v - ps, sk, ps)
            mv = pf - ps
            pg = 0.0
            pg += mv
            for _ in range(signal - 1):
                v = x[today]
                today += 1
                pf = fma(v - pf, fk, pf)
                ps = fma(v - ps, sk, ps)
                mv = pf - ps
                pg += mv
            pg = pg / signal
            while today <= a + look:
                v = x[today]
                today += 1
                pf = fma(v - pf, fk, pf)
                ps = fma(v - ps, sk, ps)
                mv = pf - ps
                pg = fma(mv - pg, gk, pg)
            o_macd[a + look] = mv
            o_signal[a + look] = pg
            o_hist[a + look] = mv - pg
            f = a + look + 1
        else:
            pf = S[s, j]
            ps = S[s, j + 1]
            pg = S[s, j + 2]
        for i in range(f, b):
            v = x[i]
            pf = fma(v - pf, fk, pf)
            ps = fma(v - ps, sk, ps)
            mv = pf - ps
            pg = fma(mv - pg, gk, pg)
            o_macd[i] = mv
            o_signal[i] = pg
            o_hist[i] = mv - pg
        S[s, j] = pf
        S[s, j + 1] = ps
        S[s, j + 2] = pg


@njit(**_JIT)
def rsi(x, period, starts, stops, first, S, j, out):  # pragma: no cover - compiled
    """TA_RSI (Wilder averages of gains and losses; the build divides by the period as a multiplication by
    its reciprocal). State: prevGain, prevLoss."""
    r = 1.0 / period
    for s in range(len(starts)):
        a, b, f = starts[s], stops[s], first[s]
        if f < 0:
            out[a:min(a + period, b)] = NAN
            if b - a <= period:
                S[s, j] = NAN
                S[s, j + 1] = NAN
                continue
            gain = 0.0
            loss = 0.0
            for i in range(a + 1, a + period + 1):
                d = x[i] - x[i - 1]
                if d < 0:
                    loss -= d
                else:
                    gain += d
            loss *= r
            gain *= r
            tv = gain + loss
            out[a + period] = 100.0 * (gain / tv) if tv != 0.0 else 0.0
            f = a + period + 1
        else:
            gain = S[s, j]
            loss = S[s, j + 1]
        for i in range(f, b):
            d = x[i] - x[i - 1]
            loss *= period - 1
            gain *= period - 1
            if d < 0:
                loss -= d
            else:
                gain += d
            loss *= r
            gain *= r
            tv = gain + loss
            out[i] = 100.0 * (gain / tv) if tv != 0.0 else 0.0
        S[s, j] = gain
        S[s, j + 1] = loss


@njit(**_JIT)
def _trange(h, l, yc):  # pragma: no cover - compiled
    """TA-Lib's TRUE_RANGE macro: max(H - L, |H - C_t-1|, |L - C_t-1|), compared in that order."""
    out = h - l
    v = abs(h - yc)
    if v > out:
        out = v
    v = abs(l - yc)
    if v > out:
        out = v
    return out


@njit(**_JIT)
def atr(h, l, c, period, starts, stops, first, S, j, o_atr, o_natr):  # pragma: no cover - compiled
    """TA_ATR and TA_NATR (the same Wilder average of TRANGE). State: prevATR.

    Not bit-exact: the build's step (not the C source's `(prev * (p - 1) + tr) / p`) is unknown; this form
    matches most steps and differs by an ulp elsewhere, and the average forgets an error by (p-1)/p a bar,
    so continued values stay within a few ulps (the 1e-12 relative the incremental contract allows)."""
    r = 1.0 / period
    for s in range(len(starts)):
        a, b, f = starts[s], stops[s], first[s]
        if f < 0:
            m = min(a + period, b)
            o_atr[a:m] = NAN
            o_natr[a:m] = NAN
            if b - a <= period:
                S[s, j] = NAN
                continue
            t = 0.0
            for i in range(a + 1, a + period + 1):
                t += _trange(h[i], l[i], c[i - 1])
            p = t / period
            i = a + period
            o_atr[i] = p
            o_natr[i] = (p / c[i]) * 100.0 if c[i] != 0.0 else 0.0
            f = a + period + 1
        else:
            p = S[s, j]
        for i in range(f, b):
            p = fma(_trange(h[i], l[i], c[i - 1]) - p, r, p)
            o_atr[i] = p
            o_natr[i] = (p / c[i]) * 100.0 if c[i] != 0.0 else 0.0
        S[s, j] = p


@njit(**_JIT)
def _dm(h, l, ph, pl):  # pragma: no cover - compiled
    """(+DM, -DM) of a bar, TA-Lib's conditions: -DM if diffM > 0 and diffP < diffM, else +DM if diffP > 0
    and diffP > diffM."""
    dp = h - ph
    dmn = pl - l
    if dmn > 0 and dp < dmn:
        return 0.0, dmn, True, False
    if dp > 0 and dp > dmn:
        return dp, 0.0, False, True
    return 0.0, 0.0, False, False


@njit(**_JIT)
def _wilder(h, l, c, i, period, pp, pm, tr):  # pragma: no cover - compiled
    """One bar of TA-Lib's Wilder smoothing of +DM, -DM and TRANGE (ADX, PLUS_DI, MINUS_DI loops)."""
    dp, dmn, is_m, is_p = _dm(h[i], l[i], h[i - 1], l[i - 1])
    pm -= pm / period
    pp -= pp / period
    if is_m:
        pm += dmn
    elif is_p:
        pp += dp
    tr = tr - (tr / period) + _trange(h[i], l[i], c[i - 1])
    return pp, pm, tr


@njit(**_JIT)
def adx(h, l, c, period, starts, stops, first, S, j, o_adx, o_pdi, o_mdi):  # pragma: no cover - compiled
    """TA_ADX, TA_PLUS_DI and TA_MINUS_DI (one Wilder smoothing of +DM, -DM and TRANGE shared by all
    three: their C loops compute the same values). State: prevPlusDM, prevMinusDM, prevTR, prevADX."""
    for s in range(len(starts)):
        a, b, f = starts[s], stops[s], first[s]
        if f < 0:
            o_pdi[a:min(a + period, b)] = NAN
            o_mdi[a:min(a + period, b)] = NAN
            o_adx[a:min(a + 2 * period - 1, b)] = NAN
            pp = 0.0
            pm = 0.0
            tr = 0.0
            px = NAN
            for i in range(a + 1, min(a + period, b)):
                dp, dmn, is_m, is_p = _dm(h[i], l[i], h[i - 1], l[i - 1])
                if is_m:
                    pm += dmn
                elif is_p:
                    pp += dp
                tr += _trange(h[i], l[i], c[i - 1])
            sum_dx = 0.0
            for i in range(a + period, min(a + 2 * period, b)):
                pp, pm, tr = _wilder(h, l, c, i, period, pp, pm, tr)
                if tr != 0.0:
                    mdi = 100.0 * (pm / tr)
                    pdi = 100.0 * (pp / tr)
                    tv = mdi + pdi
                    if tv != 0.0:
                        sum_dx += 100.0 * (abs(mdi - pdi) / tv)
                    o_mdi[i] = mdi
                    o_pdi[i] = pdi
                else:
                    o_mdi[i] = 0.0
                    o_pdi[i] = 0.0
            f = a + 2 * period
            if b - a >= f - a:
                px = sum_dx / period
                o_adx[f - 1] = px
            if b - a < period:
                pp = NAN
                pm = NAN
                tr = NAN
        else:
            pp = S[s, j]
            pm = S[s, j + 1]
            tr = S[s, j + 2]
            px = S[s, j + 3]
        for i in range(f, b):
            pp, pm, tr = _wilder(h, l, c, i, period, pp, pm, tr)
            if tr != 0.0:
                mdi = 100.0 * (pm / tr)
                pdi = 100.0 * (pp / tr)
                o_mdi[i] = mdi
                o_pdi[i] = pdi
                tv = mdi + pdi
                if tv != 0.0:
                    dx = 100.0 * (abs(mdi - pdi) / tv)
                    px = ((px * (period - 1)) + dx) / period
            else:
                o_mdi[i] = 0.0
                o_pdi[i] = 0.0
            o_adx[i] = px
        S[s, j] = pp
        S[s, j + 1] = pm
        S[s, j + 2] = tr
        S[s, j + 3] = px


@njit(**_JIT)
def kama(x, period, starts, stops, first, S, j, out):  # pragma: no cover - compiled
    """TA_KAMA (efficiency ratio over `period` bars, fast 2 / slow 30). State: prevKAMA, sumROC1.

    Not bit-exact where sumROC1 is (nearly) 0 or the ratio (nearly) 1 (flat windows): there this build
    decides differently in cases not pinned down; elsewhere it equals TA-Lib (tests)."""
    const_max = 2.0 / (30.0 + 1.0)
    const_diff = 2.0 / (2.0 + 1.0) - const_max
    for s in range(len(starts)):
        a, b, f = starts[s], stops[s], first[s]
        if f < 0:
            out[a:min(a + period, b)] = NAN
            if b - a <= period:
                S[s, j] = NAN
                S[s, j + 1] = NAN
                continue
            roc = 0.0
            for i in range(a, a + period):
                roc += abs(x[i] - x[i + 1])
            pk = x[a + period - 1]
            i = a + period
            proc = x[i] - x[a]
            sc = 1.0 if (roc <= abs(proc) or -1e-12 < roc < 1e-12) else abs(proc / roc)
            sc = fma(sc, const_diff, const_max)
            sc *= sc
            pk = fma(x[i] - pk, sc, pk)
            out[i] = pk
            f = i + 1
        else:
            pk = S[s, j]
            roc = S[s, j + 1]
        for i in range(f, b):
            v = x[i]
            trail = x[i - period]
            proc = v - trail
            roc -= abs(x[i - period - 1] - trail)
            roc += abs(v - x[i - 1])
            sc = 1.0 if (roc <= abs(proc) or -1e-12 < roc < 1e-12) else abs(proc / roc)
            sc = fma(sc, const_diff, const_max)
            sc *= sc
            pk = fma(v - pk, sc, pk)
            out[i] = pk
        S[s, j] = pk
        S[s, j + 1] = roc


@njit(**_JIT)
def obv(c, v, starts, stops, first, S, j, out):  # pragma: no cover - compiled
    """TA_OBV (starts at the first bar's volume). State: prevOBV."""
    for s in range(len(starts)):
        a, b, f = starts[s], stops[s], first[s]
        if f < 0:
            if b <= a:
                continue
            p = v[a]
            out[a] = p
            f = a + 1
        else:
            p = S[s, j]
        for i in range(f, b):
            if c[i] > c[i - 1]:
                p += v[i]
            elif c[i] < c[i - 1]:
                p -= v[i]
            out[i] = p
        S[s, j] = p


@njit(**_JIT)
def ad(h, l, c, v, starts, stops, first, S, j, out):  # pragma: no cover - compiled
    """TA_AD (accumulation/distribution line from 0). State: the line's value."""
    for s in range(len(starts)):
        a, b, f = starts[s], stops[s], first[s]
        if f < 0:
            p = 0.0
            f = a
        else:
            p = S[s, j]
        for i in range(f, b):
            hi = h[i]
            lo = l[i]
            rng = hi - lo
            cl = c[i]
            if rng > 0.0:
                p += (((cl - lo) - (hi - cl)) / rng) * v[i]
            out[i] = p
        S[s, j] = p


@njit(**_JIT)
def session_sums(pv, v, session, starts, stops, first, S, j, out):  # pragma: no cover - compiled
    """Intraday VWAP: the per-session running sums of TP*V and V exactly as pandas' groupby cumsum adds
    them (Kahan-compensated), and their quotient (NaN where it is not finite). State: the two sums and their
    compensations at the last bar; `session` numbers the (symbol, trade date) runs."""
    for s in range(len(starts)):
        a, b, f = starts[s], stops[s], first[s]
        if f < 0:
            f = a
            acc0 = 0.0
            cmp0 = 0.0
            acc1 = 0.0
            cmp1 = 0.0
            prev = -1
        else:
            acc0 = S[s, j]
            cmp0 = S[s, j + 1]
            acc1 = S[s, j + 2]
            cmp1 = S[s, j + 3]
            prev = session[f - 1]
        for i in range(f, b):
            if session[i] != prev:
                acc0 = 0.0
                cmp0 = 0.0
                acc1 = 0.0
                cmp1 = 0.0
                prev = session[i]
            y = pv[i] - cmp0
            t = acc0 + y
            cmp0 = t - acc0 - y
            acc0 = t
            y = v[i] - cmp1
            t = acc1 + y
            cmp1 = t - acc1 - y
            acc1 = t
            q = acc0 / acc1
            out[i] = q if math.isfinite(q) else NAN
        S[s, j] = acc0
        S[s, j + 1] = cmp0
        S[s, j + 2] = acc1
        S[s, j + 3] = cmp1


@njit(**_JIT)
def _fast_k(hh, ll, c, t):  # pragma: no cover - compiled
    """TA_STOCH's fast %K at bar t: 100 * ((C - lowest L) / (highest H - lowest L)), 0 if the range is 0
    (this build's operation order, checked against TA-Lib by the tests); `hh`, `ll`: the window's extremes."""
    rng = hh[t] - ll[t]
    return 100.0 * ((c[t] - ll[t]) / rng) if rng != 0.0 else 0.0


@njit(**_JIT)
def stoch(hh, ll, c, fk_p, sk_p, sd_p, starts, stops, first, S, j, o_k, o_d):  # pragma: no cover - compiled
    """TA_STOCH with SMA smoothings (slow %K = SMA(fast %K, sk_p), slow %D = SMA(slow %K, sd_p), each
    TA_INT_SMA's running total; sd_p must be 3). State: the two totals and the last two slow %K values,
    which the %D total subtracts later (the fast %K values it needs are recomputed from the window).
    `hh`, `ll`: highest high and lowest low over the last `fk_p` bars (`_segments.rolling_max/min`)."""
    look = fk_p - 1 + sk_p - 1 + sd_p - 1
    for s in range(len(starts)):
        a, b, f = starts[s], stops[s], first[s]
        if f < 0:
            o_k[a:min(a + look, b)] = NAN
            o_d[a:min(a + look, b)] = NAN
            if b - a <= look:
                for q in range(4):
                    S[s, j + q] = NAN
                continue
            t0 = a + fk_p - 1  # first fast %K
            kt = 0.0
            for i in range(t0, t0 + sk_p - 1):
                kt += _fast_k(hh, ll, c, i)
            slow = np.empty(sd_p - 1)
            dt = 0.0
            m = 0
            for i in range(t0 + sk_p - 1, t0 + sk_p - 1 + sd_p - 1):  # the slow %K values before the first %D
                kt += _fast_k(hh, ll, c, i)
                sk = kt / sk_p
                kt -= _fast_k(hh, ll, c, i - sk_p + 1)
                slow[m] = sk
                m += 1
                dt += sk
            k1 = slow[m - 1]
            k2 = slow[m - 2] if m >= 2 else NAN
            f = a + look
        else:
            kt = S[s, j]
            dt = S[s, j + 1]
            k1 = S[s, j + 2]
            k2 = S[s, j + 3]
        for i in range(f, b):
            kt += _fast_k(hh, ll, c, i)
            sk = kt / sk_p
            kt -= _fast_k(hh, ll, c, i - sk_p + 1)
            dt += sk
            o_k[i] = sk
            o_d[i] = dt / sd_p
            dt -= k2  # slow %K of bar i - 2 (sd_p == 3, checked by `state`)
            k2 = k1
            k1 = sk
        S[s, j] = kt
        S[s, j + 1] = dt
        S[s, j + 2] = k1
        S[s, j + 3] = k2


@njit(**_JIT)
def wilder_sums(h, l, c, period, starts, stops, S, j):  # pragma: no cover - compiled
    """`adx`'s state for fresh segments without its outputs: the Wilder sums of +DM, -DM and TRANGE at each
    segment's last bar (S[s, j:j + 3]); prevADX is TA-Lib's own last output (`state`)."""
    for s in range(len(starts)):
        a, b = starts[s], stops[s]
        if b - a < period:
            S[s, j] = NAN
            S[s, j + 1] = NAN
            S[s, j + 2] = NAN
            continue
        pp = 0.0
        pm = 0.0
        tr = 0.0
        for i in range(a + 1, a + period):
            dp, dmn, is_m, is_p = _dm(h[i], l[i], h[i - 1], l[i - 1])
            if is_m:
                pm += dmn
            elif is_p:
                pp += dp
            tr += _trange(h[i], l[i], c[i - 1])
        for i in range(a + period, b):
            pp, pm, tr = _wilder(h, l, c, i, period, pp, pm, tr)
        S[s, j] = pp
        S[s, j + 1] = pm
        S[s, j + 2] = tr
