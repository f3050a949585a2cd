"""Feature state: what the path-dependent columns need to continue from a symbol's last bar.

A full compute can hand back, per symbol, the recursions' values at its last bar (`compute_table(...,
state_out=True)`); an update then passes only the last `history_bars(table)` bars before `since` plus the
new ones, with that state (`compute_table(..., since=T, state=...)`). The recursive columns of the new rows
continue from the state (`_resume`); the windowed ones are recomputed from those bars, which hold every
window. The state rows are typed as the support table `feature_state` (`SUPPORT_SCHEMAS`).

`Resume` is the per-block view the symbol stage hands to the producers (`registry.Context.resume`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import talib

from marketlake.features import _resume
from marketlake.features._batch import FeatureInputError, Rows
from marketlake.features._long import LONG_COLUMNS, LONG_FIELDS, long_history_bars
from marketlake.features._segments import Segments
from marketlake.schema.fields import FIELDS, FIELDS_BY_NAME
from marketlake.schema.support import FEATURE_STATE_COLUMNS, SUPPORT_SCHEMAS
from marketlake.schema.tables import TableSpec

if TYPE_CHECKING:
    from marketlake.features.registry import Context

STATE_VERSION = 1  # bump when a kernel or the meaning of a state column changes
STATE_COLUMNS: tuple[str, ...] = FEATURE_STATE_COLUMNS
_COL = {name: i for i, name in enumerate(STATE_COLUMNS)}

# the catalogue fields continued from state (all others are recomputed from the bars before `since`)
CONTINUED_FIELDS: tuple[str, ...] = (
    "ema_12", "ema_26", "ema_50", "ema_200", "sma_10", "sma_20", "sma_50", "sma_200", "volume_sma_20",
    "macd", "macd_signal", "macd_histogram", "ppo", "rsi_14", "atr_14", "natr_14", "adx_14", "plus_di_14",
    "minus_di_14", "kama_10", "obv", "ad_line", "vwap", "stoch_k", "stoch_d",
)


def _align() -> int:
    """TA_CCI sums its circular buffer from slot 0, so its last bits depend on a bar's index modulo the
    period: a tail starting at an index that is a multiple of it gives the full compute's bits."""
    return int(FIELDS_BY_NAME["cci_20"].params["timeperiod"])


def history_bars(table: TableSpec | None = None) -> int:
    """Bars before `since` an update must pass per continued symbol: the longest warm-up in the catalogue
    (volatility_regime's 252 values of a 20-bar volatility: 271 bars before the new one), plus up to 19
    the engine drops to align the tail for CCI (`_align`)."""
    intraday = bool(table.intraday) if table is not None else False
    return max(f.warmup_for(intraday=intraday) for f in FIELDS) + _align() - 1


def short_history_bars(table: TableSpec | None = None) -> int:
    """Bars before `since` an update passes per continued symbol when the long-window fields come from a
    narrow history instead (`compute_table(long_rows=...)`, `_long.LONG_FIELDS`): the longest warm-up of the
    other fields, EMAs aside (continued from the state alone), plus the CCI alignment (`_align`)."""
    intraday = bool(table.intraday) if table is not None else False
    pure = {f"ema_{p}" for p in (12, 26, 50, 200)}
    return max(f.warmup_for(intraday=intraday) for f in FIELDS if f.name not in LONG_FIELDS and f.name not in pure) \
        + _align() - 1


def aligned_tail_bars(n_bars: np.ndarray, available: np.ndarray, table: TableSpec | None = None) -> np.ndarray:
    """Per continued symbol, how many of its last stored bars to pass (of `available`) when its state
    counted `n_bars`: the last `short_history_bars()` at most, trimmed so that `n_bars - count` is a
    multiple of the CCI period (`_align`). The engine then keeps the tail as given; otherwise `plan` drops
    the leading rows and the batch is sorted and matched again (~40 ms for 2,650 daily symbols). A symbol
    whose available bars are its whole history (`n_bars == available`) passes them all."""
    n_bars = np.asarray(n_bars, np.int64)
    available = np.asarray(available, np.int64)
    count = np.minimum(available, short_history_bars(table))
    aligned = np.maximum(count - (-(n_bars - count) % _align()), 0)  # 0: too few to continue, `plan` refuses
    return np.where(n_bars == available, available, aligned)


def continued_history_bars(table: TableSpec | None = None) -> int:
    """Bars before `since` an update reads per continued symbol when it passes `long_rows`: the short tail
    of every column and the long windows' narrow columns (fewer than `history_bars`: the volatility tercile
    reads 252 stored values of hist_volatility_20 instead of the 271 bars that make them). A symbol with
    fewer is passed whole. At least the 200 bars of the longest state seed (EMA/SMA 200)."""
    return max(short_history_bars(table), long_history_bars(), 200)


def fingerprint() -> str:
    """Identifies the engine that wrote a state row: state version, TA-Lib's C build and settings, the state
    columns and the continued fields' parameters. A state row with another fingerprint is refused."""
    settings = [talib.__version__, str(getattr(talib, "__ta_version__", "")),
                *(f"{n}:{talib.get_unstable_period(n)}" for n in ("EMA", "RSI", "ATR", "NATR", "ADX", "PLUS_DI",
                                                                   "MINUS_DI", "KAMA"))]
    if hasattr(talib, "get_compatibility"):
        settings.append(f"compat:{talib.get_compatibility()}")
    params = [f"{n}={sorted(FIELDS_BY_NAME[n].params.items())}" for n in (*CONTINUED_FIELDS, "cci_20")]
    text = "|".join([str(STATE_VERSION), *settings, *STATE_COLUMNS, *params])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Plan:
    """Per segment of a sorted batch: where the continuation starts and from which state."""

    first: np.ndarray  # int64 row of the first new bar (continued) or -1 (computed from the segment's first bar)
    S: np.ndarray  # (segments, state columns) float64, the state at first - 1; overwritten with the new state
    n_before: np.ndarray  # int64 bars the symbol had before the segment's first row (0 when fresh)
    drop: np.ndarray  # int64 leading rows of the segment to drop so that n_before is a multiple of `_align()`


def fresh_plan(n_segments: int) -> Plan:
    """Every symbol from its first bar (a full compute asked for its state)."""
    return Plan(np.full(n_segments, -1, np.int64), np.full((n_segments, len(STATE_COLUMNS)), np.nan),
                np.zeros(n_segments, np.int64), np.zeros(n_segments, np.int64))


def plan(rows: Rows, cut_ns: int, state: pa.Table, spec: TableSpec, *, short: bool = False) -> Plan:
    """Match each symbol of the sorted bars with its state row and check they fit together.

    A symbol without a state row is taken as its full history. With one, the state's datetime must be the
    symbol's last bar before `since`; if the state counts exactly the bars given before `since`, they are
    its whole history (recomputed, exact); otherwise at least `history_bars` of them must be given
    (`short_history_bars` when `short`: the long-window fields are computed apart, `_long`)."""
    out = fresh_plan(len(rows.symbols))
    missing = [c for c in ("table", "symbol", "datetime", "n_bars", "engine", *STATE_COLUMNS)
               if c not in state.column_names]
    if missing:
        raise FeatureInputError(f"the feature state lacks column(s) {missing}; pass a `feature_state` table")
    frame = state.select(["table", "symbol", "datetime", "n_bars", "engine", *STATE_COLUMNS]).to_pandas()
    frame = frame[frame["table"] == spec.name]
    if frame["symbol"].duplicated().any():
        dup = frame.loc[frame["symbol"].duplicated(), "symbol"].iloc[0]
        raise FeatureInputError(f"the feature state holds two rows for {dup!r} in {spec.name}; keep one per symbol")
    engine = fingerprint()
    values = frame[list(STATE_COLUMNS)].to_numpy(np.float64)
    state_dt = pd.DatetimeIndex(frame["datetime"]).as_unit("ns").asi8 if len(frame) else np.empty(0, np.int64)
    n_bars = frame["n_bars"].to_numpy(np.int64)
    need = short_history_bars(spec) if short else history_bars(spec)
    base = need - (_align() - 1)  # what the windows need once the tail is aligned
    starts, stops = rows.seg.starts, rows.seg.stops
    # vectorised over the segments (a Python loop cost ~0.15 s per 2,650 symbols); the first segment that
    # does not fit is checked again one by one below, to raise its own message
    at_state = pd.Index(frame["symbol"]).get_indexer(pd.Index(rows.symbols, dtype=object)) if len(frame) \
        else np.full(len(rows.symbols), -1, np.intp)
    segs = np.flatnonzero(at_state >= 0)
    if not len(segs):
        return out
    i = at_state[segs]
    before = np.concatenate([[0], np.cumsum(rows.dt_ns < cut_ns)])  # a segment's bars before `since` lead it
    a = starts[segs].astype(np.int64)
    n_old = before[stops[segs]] - before[a]
    last_dt = rows.dt_ns[np.maximum(a + n_old - 1, 0)] if rows.seg.n else np.zeros(len(segs), np.int64)
    nb = n_bars[i]
    drop = -(nb - n_old) % _align()
    bad = (frame["engine"].to_numpy(object)[i] != engine) | (n_old == 0) | (last_dt != state_dt[i])
    whole = ~bad & (nb == n_old)  # the bars are its whole history: computed from the first bar, as without state
    bad |= ~whole & ((nb < n_old) | (n_old - drop < base))
    if bad.any():
        _refuse(rows, int(segs[int(np.argmax(bad))]), cut_ns, frame, index_of=int(i[int(np.argmax(bad))]),
                state_dt=state_dt, n_bars=n_bars, engine=engine, need=need, base=base)
    go = ~whole
    s_go, i_go = segs[go], i[go]
    out.first[s_go] = a[go] + n_old[go]
    out.S[s_go] = values[i_go]
    out.n_before[s_go] = nb[go] - n_old[go]
    out.drop[s_go] = drop[go]
    return out


def _refuse(rows: Rows, s: int, cut_ns: int, frame: pd.DataFrame, *, index_of: int, state_dt: np.ndarray,
            n_bars: np.ndarray, engine: str, need: int, base: int) -> NoReturn:
    """Raise why segment `s` (state row `index_of`) does not fit its state: the checks of `plan`, in order."""
    sym, i = str(rows.symbols[s]), index_of
    if frame["engine"].iloc[i] != engine:
        raise FeatureInputError(
            f"the feature state of {sym!r} was written by another feature engine ({frame['engine'].iloc[i]}, "
            f"this one is {engine}); recompute the symbol from its first bar")
    a, b = int(rows.seg.starts[s]), int(rows.seg.stops[s])
    n_old = int(np.searchsorted(rows.dt_ns[a:b], cut_ns))
    at = pd.Timestamp(int(state_dt[i]), tz="UTC")
    if n_old == 0 or int(rows.dt_ns[a + n_old - 1]) != int(state_dt[i]):
        last = pd.Timestamp(int(rows.dt_ns[a + n_old - 1]), tz="UTC") if n_old else None
        raise FeatureInputError(
            f"the feature state of {sym!r} is at {at} but its last bar before `since` is {last}; pass the "
            f"bars up to the state's bar, or recompute the symbol from its first bar")
    if int(n_bars[i]) < n_old:
        raise FeatureInputError(
            f"the bars of {sym!r} before `since` ({n_old}) outnumber those its feature state has seen "
            f"({int(n_bars[i])}); its history changed: recompute it from its first bar")
    raise FeatureInputError(
        f"{sym!r}: {n_old} bars before `since` given, the continuation needs the last {need} "
        f"(history_bars()) or the whole history")


def kept_rows(rows: Rows, p: Plan) -> np.ndarray:
    """Input rows (ascending) left once each segment's `p.drop` leading rows are dropped."""
    keep = np.ones(rows.seg.n, bool)
    for s in np.flatnonzero(p.drop).tolist():
        a = int(rows.seg.starts[s])
        keep[a:a + int(p.drop[s])] = False
    picked = np.flatnonzero(keep)
    return picked if rows.order is None else np.sort(rows.order[picked])


def to_table(rows: Rows, p: Plan, spec: TableSpec) -> pa.Table:
    """The new state (at each symbol's last bar) as `feature_state` rows; a symbol with a NaN in its bars
    gets none (TA-Lib skips leading NaNs, the continuation does not: such a symbol is recomputed)."""
    starts, stops = rows.seg.starts, rows.seg.stops
    keep = stops > starts
    bad = np.zeros(len(starts), bool)
    for x in rows.ohlcv.values():
        nan_rows = np.isnan(x)
        if nan_rows.any():
            bad |= np.add.reduceat(nan_rows, np.minimum(starts, max(len(x) - 1, 0))) > 0 if len(x) else False
    keep &= ~bad & np.isfinite(p.S[:, [_COL["obv"], _COL["ad"]]]).all(axis=1)
    idx = np.flatnonzero(keep)
    last = stops[idx] - 1
    schema = SUPPORT_SCHEMAS["feature_state"]
    cols: dict[str, pa.Array] = {
        "table": pa.array([spec.name] * len(idx), pa.string()),
        "symbol": pa.array([str(s) for s in rows.symbols[idx]], pa.string()),
        "datetime": pa.array(rows.dt_ns[last] // 1000, pa.timestamp("us", tz="UTC")),
        "n_bars": pa.array(p.n_before[idx] + (stops[idx] - starts[idx]), pa.int64()),
        "engine": pa.array([fingerprint()] * len(idx), pa.string()),
    }
    for name, j in _COL.items():
        cols[name] = pa.array(p.S[idx, j], pa.float64())
    return pa.Table.from_arrays([cols[f.name] for f in schema], schema=schema)


@dataclass
class Resume:
    """One block's view of a `Plan` (row indices local to the block), used by the producers.

    `talib` patches a TA-Lib result: the continued segments' new rows get the kernel's values; for every
    segment the state at its last bar is left in `S` (a view of the plan's matrix)."""

    seg: Segments
    first: np.ndarray  # local row or -1
    S: np.ndarray
    _done: dict[str, list[np.ndarray]] = field(default_factory=dict)
    _ctx: Context | None = None

    @classmethod
    def of(cls, p: Plan, seg: Segments, a: int, b: int, r0: int) -> Resume:
        first = p.first[a:b].copy()
        first[first >= 0] -= r0
        return cls(seg, first, p.S[a:b])

    @property
    def continued(self) -> np.ndarray:
        return self.first >= 0

    def _run(self, key: str, make: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
        if key not in self._done:
            self._done[key] = make()
        return self._done[key]

    def _patch(self, res: list[np.ndarray], outs: list[np.ndarray]) -> None:
        at = self._new_rows()
        for r, o in zip(res, outs):
            r[at] = o[at]

    def _new_rows(self) -> np.ndarray:
        """Rows from each continued segment's first new row to its end (one index array for every patch:
        a slice per segment and field cost ~0.2 s per 2,650 continued symbols)."""
        if "_new_rows" not in self._done:
            f = self.first
            lengths = np.where(f >= 0, self.seg.stops - f, 0)
            offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            self._done["_new_rows"] = [np.repeat(f, lengths) + offsets]
        return self._done["_new_rows"][0]

    def talib(self, field_name: str, cols: dict[str, np.ndarray], res: list[np.ndarray], ctx: Context) -> None:
        """Continue `field_name`'s recursion where the plan says so (`res`: TA-Lib's outputs, patched)."""
        self._ctx = ctx
        kernel = _KERNELS.get(field_name)
        from_output = _FROM_OUTPUT.get(field_name)
        if from_output is not None and not self.continued.any():  # the last output is the state: no replay
            if from_output == "adx":
                _resume.wilder_sums(cols["high"], cols["low"], cols["close"], _p("adx_14"), self.seg.starts,
                                    self.seg.stops, self.S, _COL["dm_plus"])
            if from_output:
                _last_output(self, res, _COL[from_output])
        elif kernel is not None:
            self._patch(res, kernel(self, cols))
        keep = _EXACT_OUTPUT.get(field_name)
        if keep is not None:
            keep(self, cols, res)

    def flag(self, name: str, not_yet: np.ndarray) -> np.ndarray:
        """A "nothing happened since the first bar" mask (`_kernels.not_yet`) continued across the state:
        if it happened before, it is False on the new rows. The state keeps 1.0 once it happened."""
        j = _COL[name]
        for s in range(len(self.first)):
            a, b, f = int(self.seg.starts[s]), int(self.seg.stops[s]), int(self.first[s])
            if b <= a:
                continue
            if f < 0:
                self.S[s, j] = 0.0 if not_yet[b - 1] else 1.0
            elif self.S[s, j] == 1.0:
                not_yet[f:b] = False
            elif b > f:  # nothing before the tail: the tail's own mask is the whole history's
                self.S[s, j] = 0.0 if not_yet[b - 1] else 1.0
        return not_yet

    def vwap(self, pv: np.ndarray, volume: np.ndarray, session: np.ndarray, res: np.ndarray) -> np.ndarray:
        """Intraday VWAP's session sums continued across the state (`res`: the engine's values, patched)."""
        out = np.empty(len(pv))
        _resume.session_sums(pv, volume, session, self.seg.starts, self.seg.stops, self.first, self.S,
                             _COL["vwap_pv"], out)
        self._patch([res], [out])
        return res


def _ema(period: int, name: str) -> Callable[[Resume, dict[str, np.ndarray]], list[np.ndarray]]:
    def run(r: Resume, cols: dict[str, np.ndarray]) -> list[np.ndarray]:
        out = np.empty(len(cols["close"]))
        _resume.ema(cols["close"], period, r.seg.starts, r.seg.stops, r.first, r.S, _COL[name], out)
        return [out]
    return run


def _sma(period: int, source: str, name: str) -> Callable[[Resume, dict[str, np.ndarray]], list[np.ndarray]]:
    def run(r: Resume, cols: dict[str, np.ndarray]) -> list[np.ndarray]:
        out = np.empty(len(cols[source]))
        _resume.sma(cols[source], period, r.seg.starts, r.seg.stops, r.first, r.S, _COL[name], out)
        return [out]
    return run


def _p(name: str, key: str = "timeperiod") -> int:
    return int(FIELDS_BY_NAME[name].params[key])


def _macd(r: Resume, cols: dict[str, np.ndarray]) -> list[np.ndarray]:
    def make() -> list[np.ndarray]:
        outs = [np.empty(len(cols["close"])) for _ in range(3)]
        _resume.macd(cols["close"], _p("macd", "fastperiod"), _p("macd", "slowperiod"), _p("macd", "signalperiod"),
                     r.seg.starts, r.seg.stops, r.first, r.S, _COL["macd_fast"], *outs)
        return outs
    return r._run("macd", make)


def _rsi(r: Resume, cols: dict[str, np.ndarray]) -> list[np.ndarray]:
    out = np.empty(len(cols["close"]))
    _resume.rsi(cols["close"], _p("rsi_14"), r.seg.starts, r.seg.stops, r.first, r.S, _COL["rsi_gain"], out)
    return [out]


def _atr(which: int) -> Callable[[Resume, dict[str, np.ndarray]], list[np.ndarray]]:
    def run(r: Resume, cols: dict[str, np.ndarray]) -> list[np.ndarray]:
        def make() -> list[np.ndarray]:
            outs = [np.empty(len(cols["close"])) for _ in range(2)]
            _resume.atr(cols["high"], cols["low"], cols["close"], _p("atr_14"), r.seg.starts, r.seg.stops,
                        r.first, r.S, _COL["atr"], *outs)
            return outs
        return [r._run("atr", make)[which]]
    return run


def _exact_output(name: str) -> Callable[[Resume, dict[str, np.ndarray], list[np.ndarray]], None]:
    """Fresh segments: TA-Lib's output at the last bar is the recursion's value exactly (ATR's prevATR,
    KAMA's prevKAMA); keep that as the state instead of the replay's (which may differ in a last bit)."""
    def keep(r: Resume, cols: dict[str, np.ndarray], res: list[np.ndarray]) -> None:
        _last_output(r, res, _COL[name])
    return keep


def _last_output(r: Resume, res: list[np.ndarray], j: int) -> None:
    fresh = ~r.continued & (r.seg.stops > r.seg.starts)
    r.S[fresh, j] = res[0][r.seg.stops[fresh] - 1]


def _adx(which: int) -> Callable[[Resume, dict[str, np.ndarray]], list[np.ndarray]]:
    def run(r: Resume, cols: dict[str, np.ndarray]) -> list[np.ndarray]:
        def make() -> list[np.ndarray]:
            outs = [np.empty(len(cols["close"])) for _ in range(3)]
            _resume.adx(cols["high"], cols["low"], cols["close"], _p("adx_14"), r.seg.starts, r.seg.stops,
                        r.first, r.S, _COL["dm_plus"], *outs)
            return outs
        return [r._run("adx", make)[which]]
    return run


def _kama(r: Resume, cols: dict[str, np.ndarray]) -> list[np.ndarray]:
    out = np.empty(len(cols["close"]))
    _resume.kama(cols["close"], _p("kama_10"), r.seg.starts, r.seg.stops, r.first, r.S, _COL["kama"], out)
    return [out]


def _obv(r: Resume, cols: dict[str, np.ndarray]) -> list[np.ndarray]:
    out = np.empty(len(cols["close"]))
    _resume.obv(cols["close"], cols["volume"], r.seg.starts, r.seg.stops, r.first, r.S, _COL["obv"], out)
    return [out]


def _ad(r: Resume, cols: dict[str, np.ndarray]) -> list[np.ndarray]:
    out = np.empty(len(cols["close"]))
    _resume.ad(cols["high"], cols["low"], cols["close"], cols["volume"], r.seg.starts, r.seg.stops, r.first, r.S,
               _COL["ad"], out)
    return [out]


def _stoch(r: Resume, cols: dict[str, np.ndarray]) -> list[np.ndarray]:
    p = FIELDS_BY_NAME["stoch_k"].params
    outs = [np.empty(len(cols["close"])) for _ in range(2)]
    fk = int(p["fastk_period"])
    assert r._ctx is not None
    hh, ll = r._ctx.extremes(fk)  # shared with the flat-range masks: no second pass
    _resume.stoch(hh, ll, cols["close"], fk, int(p["slowk_period"]),
                  int(p["slowd_period"]), r.seg.starts, r.seg.stops, r.first, r.S, _COL["stoch_k_total"], *outs)
    return outs


def _ppo(r: Resume, cols: dict[str, np.ndarray]) -> list[np.ndarray]:
    """TA_PPO with EMA averages = ((EMA fast - EMA slow) / EMA slow) * 100 of the standalone EMAs (0 where
    the slow one is 0), read from the already continued ema columns."""
    fast = cols[f"ema_{_p('ppo', 'fastperiod')}"]
    slow = cols[f"ema_{_p('ppo', 'slowperiod')}"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(slow != 0.0, ((fast - slow) / slow) * 100.0, 0.0)
    return [out]


_KERNELS: dict[str, Callable[[Resume, dict[str, np.ndarray]], list[np.ndarray]]] = {
    **{f"ema_{p}": _ema(p, f"ema_{p}") for p in (12, 26, 50, 200)},
    **{f"sma_{p}": _sma(p, "close", f"sma_{p}_total") for p in (10, 20, 50, 200)},
    "volume_sma_20": _sma(20, "volume", "volume_sma_20_total"),
    "macd": _macd,
    "rsi_14": _rsi,
    "atr_14": _atr(0),
    "natr_14": _atr(1),
    "adx_14": _adx(0),
    "plus_di_14": _adx(1),
    "minus_di_14": _adx(2),
    "kama_10": _kama,
    "obv": _obv,
    "ad_line": _ad,
    "ppo": _ppo,
    "stoch_k": _stoch,
}


_EXACT_OUTPUT = {"atr_14": _exact_output("atr"), "kama_10": _exact_output("kama")}
# recursions whose TA-Lib output at a symbol's last bar is the whole state: a block of fresh symbols only
# (a full compute asked for its state) takes it from there instead of replaying the history
# ("": nothing to keep, the field shares a state set by another one; ADX: + the Wilder sums, `wilder_sums`)
_FROM_OUTPUT = {**{f"ema_{p}": f"ema_{p}" for p in (12, 26, 50, 200)}, "obv": "obv", "ad_line": "ad",
                "atr_14": "atr", "natr_14": "", "adx_14": "adx", "plus_di_14": "", "minus_di_14": ""}


def _check_params() -> None:
    """The kernels above hard-wire the catalogue's periods where a state column is named by one."""
    for p in (12, 26, 50, 200):
        assert _p(f"ema_{p}") == p
    for p in (10, 20, 50, 200):
        assert _p(f"sma_{p}") == p
    assert _p("volume_sma_20") == 20
    assert FIELDS_BY_NAME["ppo"].params.get("matype") == 1  # EMA
    stoch = FIELDS_BY_NAME["stoch_k"].params
    assert stoch["slowk_matype"] == 0 and stoch["slowd_matype"] == 0 and stoch["slowd_period"] == 3  # SMA, 2 kept


_check_params()

__all__ = ["CONTINUED_FIELDS", "LONG_COLUMNS", "LONG_FIELDS", "STATE_COLUMNS", "Plan", "Resume",
           "aligned_tail_bars", "continued_history_bars", "fingerprint", "fresh_plan", "history_bars", "kept_rows", "long_history_bars",
           "plan", "short_history_bars", "to_table"]
