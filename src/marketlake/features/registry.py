"""Which kernel fills which column: one `Producer` per kernel call, parameters read from the catalogue.

The list of columns lives in `marketlake.schema.fields.FIELDS` only; this module maps each computed field to
the kernel that produces it (a test checks the mapping covers every computed field exactly once).
Producers run in list order, so a producer may read columns made by earlier ones. Stage "symbol" needs only
the symbol's own bars (the unit the thread pool, or later a distributed executor, fans out); stage "cross"
needs other symbols (benchmark, sector peers) and runs once the symbol stage is complete. Cross producers
declare the symbol-stage columns they read (`reads`), are given only those, and run side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from marketlake.features import (
    _talib,
    cross_section,
    dynamics,
    overlap,
    price,
    regimes,
    undefined,
    volatility,
    volume,
)
from marketlake.features._segments import (
    Segments,
    count_in_window,
    rolling_max,
    rolling_min,
    rolling_sum,
    shift,
)
from marketlake.features.volume_profile import volume_profile
from marketlake.schema.fields import FIELDS_BY_NAME
from marketlake.schema.tables import TableSpec

if TYPE_CHECKING:
    from marketlake.features.state import Resume


@dataclass
class Context:
    """The arrays a producer may read: OHLCV, segment layout, computed columns, table facts."""

    cols: dict[str, np.ndarray]
    seg: Segments
    table: TableSpec
    session_id: np.ndarray | None = None  # (symbol, trade_date) runs, intraday tables only
    layout: cross_section.Layout | None = None  # benchmark rows and sector buckets, cross stage only
    workers: int = 1  # threads a cross-stage producer may use
    resume: Resume | None = None  # incremental update: continue the recursions from state (`features.state`)
    _shared: dict[tuple[object, ...], np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def talib(self, field: str, *inputs: str, function: str | None = None) -> list[np.ndarray]:
        """The TA-Lib function the catalogue names for `field` (or `function`), with the field's parameters,
        on every symbol's slice of `inputs`; one array per TA-Lib output."""
        name = function or FIELDS_BY_NAME[field].talib
        if name is None:  # pragma: no cover - registry bug guard
            raise RuntimeError(f"the catalogue names no TA-Lib function for {field!r}")
        res = _talib.per_symbol(name, tuple(self.cols[i] for i in inputs), self.seg, params(field))
        if self.resume is not None:
            self.resume.talib(field, self.cols, res, self)
        return res

    def extremes(self, window: int) -> tuple[np.ndarray, np.ndarray]:
        """(highest high, lowest low) over the last `window` bars, shared (WILLR's and fast %K's flat-range
        masks, the STOCH state)."""
        return (self.shared(("rolling_max", "high", window), lambda: rolling_max(self.cols["high"], window, self.seg)),
                self.shared(("rolling_min", "low", window), lambda: rolling_min(self.cols["low"], window, self.seg)))

    def flag(self, name: str, not_yet: np.ndarray) -> np.ndarray:
        """A "not since the symbol's first bar" mask, continued across the state on an incremental update."""
        return not_yet if self.resume is None else self.resume.flag(name, not_yet)

    def shared(self, key: tuple[object, ...], make: Callable[[], np.ndarray]) -> np.ndarray:
        """An intermediate several producers need (the 20-bar volume sum feeds four fields), made once per
        context; callers must not write into it."""
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    def rolling_sum(self, name: str, window: int) -> np.ndarray:
        """rolling_sum of column `name` over `window` bars, shared by every producer asking for it."""
        return self.shared(("rolling_sum", name, window), lambda: rolling_sum(self.cols[name], window, self.seg))


def params(field: str) -> dict[str, float | int]:
    return dict(FIELDS_BY_NAME[field].params)


@dataclass(frozen=True)
class Producer:
    outputs: tuple[str, ...]
    run: Callable[[Context], tuple[np.ndarray, ...] | list[np.ndarray]]
    stage: Literal["symbol", "cross"] = "symbol"
    reads: tuple[str, ...] = ()  # cross stage: the symbol-stage columns it reads (it is given only those)


def _p(*outputs: str, stage: Literal["symbol", "cross"] = "symbol", reads: tuple[str, ...] = ()):
    """Decorator building a Producer."""

    def wrap(fn: Callable[[Context], tuple[np.ndarray, ...] | list[np.ndarray]]) -> Producer:
        return Producer(outputs=outputs, run=fn, stage=stage, reads=reads)

    return wrap


def _ta(out: str, *inputs: str, undefined_where: Callable[[Context], np.ndarray] | None = None) -> Producer:
    """A one-column producer of the catalogue's TA-Lib function; `undefined_where` marks bars where TA-Lib
    prints 0 for a 0/0."""

    def run(c: Context) -> list[np.ndarray]:
        res = c.talib(out, *inputs)
        if undefined_where is not None:
            res[0][undefined_where(c)] = np.nan
        return res

    return Producer((out,), run)


def _p_int(field: str, key: str = "timeperiod") -> int:
    return int(params(field)[key])


def _no_tr(c: Context) -> np.ndarray:
    return c.shared(("no_true_range",),
                    lambda: c.flag("range_seen", undefined.no_true_range(c["true_range"], c.seg)))


def _flat_range(c: Context, window: int) -> np.ndarray:
    """Bars whose `window`-bar range is flat (WILLR and fast %K share their 14-bar one): max H == min L
    over the window (`undefined.flat_range`, from the shared extremes)."""
    def make() -> np.ndarray:
        hh, ll = c.extremes(window)
        return hh == ll
    return c.shared(("flat_range", window), make)


_HLC = ("high", "low", "close")
_HLCV = ("high", "low", "close", "volume")


@_p("previous_close", "change", "percent_change", "typical_price", "median_price", "weighted_close",
    "true_range", "dollar_volume", "bar_range")
def _base(c: Context):
    h, l, cl, v, s = c["high"], c["low"], c["close"], c["volume"], c.seg
    return (price.previous_close(cl, seg=s), price.change(cl, seg=s), price.percent_change(cl, seg=s),
            price.typical_price(h, l, cl), price.median_price(h, l), price.weighted_close(h, l, cl),
            price.true_range(h, l, cl, seg=s), price.dollar_volume(cl, v), price.bar_range(h, l))


@_p("macd", "macd_signal", "macd_histogram")
def _macd(c: Context):
    return c.talib("macd", "close")


@_p("stoch_k", "stoch_d")
def _stoch(c: Context):
    k, d = c.talib("stoch_k", *_HLC)
    p = params("stoch_k")
    fk, sk, sd = int(p["fastk_period"]), int(p["slowk_period"]), int(p["slowd_period"])
    flat = _flat_range(c, fk)  # fast %K is 0/0 there
    k[count_in_window(flat, sk, c.seg) > 0] = np.nan
    d[count_in_window(flat, sk + sd - 1, c.seg) > 0] = np.nan
    return k, d


@_p("bb_upper", "bb_lower", "bb_width", "bb_percent_b")
def _bbands(c: Context):
    up, mid, lo = c.talib("bb_upper", "close")
    return up, lo, overlap.bollinger_width(up, mid, lo), overlap.bollinger_percent_b(c["close"], up, lo)


@_p("return_1", "log_return_1", "return_20")
def _returns(c: Context):
    cl, s = c["close"], c.seg
    return (price.simple_return(cl, timeperiod=1, seg=s), price.log_return(cl, seg=s),
            price.simple_return(cl, timeperiod=int(params("return_20")["timeperiod"]), seg=s))


@_p("hist_volatility_20")
def _hv(c: Context):
    p = params("hist_volatility_20")
    return (volatility.hist_volatility(c["log_return_1"], timeperiod=int(p["timeperiod"]),
                                       bars_per_year=c.table.bars_per_year, seg=c.seg),)


@_p("relative_volume")
def _relvol(c: Context):
    return (volume.relative_volume(c["volume"], c["volume_sma_20"]),)


@_p("ichimoku_senkou_a", "ichimoku_senkou_b", "ichimoku_chikou")
def _ichimoku(c: Context):
    pa_, pb = params("ichimoku_senkou_a"), params("ichimoku_senkou_b")
    mid52 = c.talib("ichimoku_senkou_b", "high", "low", function="MIDPRICE")[0]
    return (overlap.senkou_a(c["ichimoku_tenkan"], c["ichimoku_kijun"], displacement=int(pa_["displacement"]),
                             seg=c.seg),
            overlap.senkou_b(mid52, displacement=int(pb["displacement"]), seg=c.seg),
            overlap.chikou(c["close"], displacement=int(params("ichimoku_chikou")["displacement"]), seg=c.seg))


@_p("vwap")
def _vwap(c: Context):
    if c.table.intraday:
        assert c.session_id is not None
        out = volume.vwap_session(c["typical_price"], c["volume"], c.session_id)
        if c.resume is not None:
            c.resume.vwap(c["typical_price"] * c["volume"], c["volume"], c.session_id, out)
        return (out,)
    n = _p_int("vwap")
    return (volume.vwap_rolling(c["typical_price"], c["volume"], timeperiod=n, seg=c.seg,
                                volume_sum=c.rolling_sum("volume", n)),)


@_p("vp_poc", "vp_value_area_high", "vp_value_area_low")
def _vp(c: Context):
    p = params("vp_value_area_high")
    return volume_profile(c["high"], c["low"], c["close"], c["volume"], c["typical_price"],
                          timeperiod=int(p["timeperiod"]), bins=int(p["bins"]), value_area=float(p["value_area"]),
                          seg=c.seg, volume_sum=c.rolling_sum("volume", int(p["timeperiod"])))


@_p("gap_percent", "intraday_return", "close_location", "body_ratio", "upper_shadow_ratio", "lower_shadow_ratio",
    "dist_sma_50", "dist_sma_200", "dist_high_252", "dist_low_252", "volume_zscore_20")
def _dynamics(c: Context):
    o, h, l, cl = c["open"], c["high"], c["low"], c["close"]
    n252 = int(params("dist_high_252")["timeperiod"])
    nz = _p_int("volume_zscore_20")
    hi252 = rolling_max(h, n252, c.seg)
    lo252 = rolling_min(l, _p_int("dist_low_252"), c.seg)
    return (price.gap_percent(o, cl, seg=c.seg), price.intraday_return(o, cl), dynamics.close_location(h, l, cl),
            dynamics.body_ratio(o, h, l, cl), dynamics.upper_shadow_ratio(o, h, l, cl),
            dynamics.lower_shadow_ratio(o, h, l, cl), dynamics.distance(cl, c["sma_50"]),
            dynamics.distance(cl, c["sma_200"]), dynamics.distance(cl, hi252), dynamics.distance(cl, lo252),
            volume.volume_zscore(c["volume"], timeperiod=nz, seg=c.seg, volume_sum=c.rolling_sum("volume", nz)))


@_p("pivot_point")
def _pivot(c: Context):
    return (price.pivot_point(c["high"], c["low"], c["close"], seg=c.seg),)


@_p("trend_regime", "volatility_regime", "trend_strength_regime")
def _regimes(c: Context):
    return (regimes.trend_regime(c["close"], c["sma_50"], c["sma_200"]),
            regimes.volatility_regime(c["hist_volatility_20"],
                                      timeperiod=int(params("volatility_regime")["timeperiod"]), seg=c.seg),
            regimes.trend_strength_regime(c["adx_14"]))


@_p("rs_benchmark_20", "beta_60", stage="cross", reads=("return_20", "return_1"))
def _benchmark(c: Context):
    assert c.layout is not None
    r20, r1 = c["return_20"], c["return_1"]
    b20 = cross_section.benchmark_values(r20, c.layout)
    b1 = cross_section.benchmark_values(r1, c.layout)
    return (cross_section.relative_strength(r20, b20),
            cross_section.beta(r1, b1, timeperiod=int(params("beta_60")["timeperiod"]), seg=c.seg))


@_p("rs_sector_20", stage="cross", reads=("return_20",))
def _sector(c: Context):
    assert c.layout is not None
    return (cross_section.sector_relative_strength(c["return_20"], c.layout, workers=c.workers),)


PRODUCERS: tuple[Producer, ...] = (
    _base,
    _ta("rsi_14", "close", undefined_where=lambda c: c.flag("close_moved", undefined.rsi(c["close"], c.seg))),
    _macd,
    _stoch,
    _ta("williams_r_14", *_HLC,
        undefined_where=lambda c: _flat_range(c, _p_int("williams_r_14"))),
    _ta("roc_10", "close",
        undefined_where=lambda c: undefined.zero(shift(c["close"], _p_int("roc_10"), c.seg))),
    _ta("mom_10", "close"),
    _ta("sma_10", "close"),
    _ta("sma_20", "close"),
    _ta("sma_50", "close"),
    _ta("sma_200", "close"),
    _ta("ema_12", "close"),
    _ta("ema_26", "close"),
    _ta("ema_50", "close"),
    _ta("ema_200", "close"),
    _ta("wma_20", "close"),
    _ta("kama_10", "close"),
    _bbands,
    _ta("adx_14", *_HLC, undefined_where=_no_tr),
    _ta("plus_di_14", *_HLC, undefined_where=_no_tr),
    _ta("minus_di_14", *_HLC, undefined_where=_no_tr),
    _ta("atr_14", *_HLC),
    _ta("natr_14", *_HLC, undefined_where=lambda c: undefined.zero(c["close"])),
    _returns,
    _hv,
    _ta("obv", "close", "volume"),
    _ta("volume_sma_20", "volume"),
    _relvol,
    _ta("cci_20", *_HLC,
        undefined_where=lambda c: undefined.flat_typical(c["typical_price"], _p_int("cci_20"), c.seg)),
    _ta("ppo", "close", undefined_where=lambda c: undefined.zero(c["ema_26"])),
    _ta("mfi_14", *_HLCV,
        undefined_where=lambda c: undefined.no_money_flow(c["typical_price"], c["volume"], _p_int("mfi_14"), c.seg)),
    _ta("cmf_20", *_HLCV,
        undefined_where=lambda c: undefined.no_volume(c.rolling_sum("volume", _p_int("cmf_20")))),
    _ta("ad_line", *_HLCV),
    _ta("ichimoku_tenkan", "high", "low"),
    _ta("ichimoku_kijun", "high", "low"),
    _ichimoku,
    _vwap,
    _vp,
    _dynamics,
    _ta("donchian_high_20", "high"),
    _ta("donchian_low_20", "low"),
    _pivot,
    _regimes,
    _benchmark,
    _sector,
)

PRODUCED: Mapping[str, Producer] = {name: p for p in PRODUCERS for name in p.outputs}
CROSS_INPUTS: tuple[str, ...] = tuple(dict.fromkeys(r for p in PRODUCERS if p.stage == "cross" for r in p.reads))

__all__ = ["CROSS_INPUTS", "Context", "PRODUCED", "PRODUCERS", "Producer", "params"]
