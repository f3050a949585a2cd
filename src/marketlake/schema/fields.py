"""The 97-field catalogue: the single source of truth for columns, types, docs and warm-up.

Every production table holds exactly these columns in this order. The Delta schema
(`marketlake.schema.arrow`), `docs/fields.md` (`marketlake schema --format markdown`), the feature
engine and the quality monitor's warm-up rules all read this module. It imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

DType = Literal["string", "float64", "int8", "date", "timestamp"]

GROUPS: tuple[str, ...] = (
    "identity",
    "ohlcv",
    "momentum",
    "moving_averages",
    "bollinger",
    "adx",
    "volatility",
    "volume",
    "oscillators",
    "institutional",
    "returns",
    "relative_performance",
    "market_dynamics",
    "market_structure",
    "regime",
    "audit",
)


@dataclass(frozen=True)
class FieldSpec:
    """One column of the bar schema.

    Attributes:
        name: column name.
        group: one of GROUPS.
        dtype: logical type; float64 unless stated.
        definition: the contract's definition (fields.md).
        talib: the TA-Lib function the column equals, if fields.md names one.
        params: parameters passed to the kernel (always explicit: TA-Lib defaults are unusual).
        warmup: number of leading bars that are NULL on a clean series (daily tables).
        warmup_intraday: warm-up on intraday tables where it differs (vwap resets each session).
        may_be_null: True when NULL can legitimately appear after warm-up (zero ranges, missing peers).
        computed: False for inputs and metadata (identity, OHLCV inputs, audit).
    """

    name: str
    group: str
    dtype: DType
    definition: str
    talib: str | None = None
    params: Mapping[str, float | int] = field(default_factory=lambda: MappingProxyType({}))
    warmup: int = 0
    warmup_intraday: int | None = None
    may_be_null: bool = False
    computed: bool = True

    def warmup_for(self, *, intraday: bool) -> int:
        """Leading NULL bars for this field on a table of the given kind."""
        if intraday and self.warmup_intraday is not None:
            return self.warmup_intraday
        return self.warmup


def _f(
    name: str,
    group: str,
    definition: str,
    *,
    dtype: DType = "float64",
    talib: str | None = None,
    params: dict[str, float | int] | None = None,
    warmup: int = 0,
    warmup_intraday: int | None = None,
    may_be_null: bool = False,
    computed: bool = True,
) -> FieldSpec:
    return FieldSpec(
        name=name,
        group=group,
        dtype=dtype,
        definition=definition,
        talib=talib,
        params=MappingProxyType(dict(params or {})),
        warmup=warmup,
        warmup_intraday=warmup_intraday,
        may_be_null=may_be_null,
        computed=computed,
    )


_ID = "identity"
_MOM = "momentum"
_MA = "moving_averages"
_INST = "institutional"
_DYN = "market_dynamics"
_RANGE_NOTE = "; NULL where high == low"

FIELDS: tuple[FieldSpec, ...] = (
    # Identity and metadata (10)
    _f("symbol", _ID, "vendor symbol, e.g. `AAPL`, `BTC/USD`", dtype="string", computed=False),
    _f("name", _ID, "instrument name", dtype="string", computed=False, may_be_null=True),
    _f("asset_type", _ID, "`stock`, `etf` or `crypto`", dtype="string", computed=False, may_be_null=True),
    _f("exchange", _ID, "listing exchange (stocks) or venue (crypto), e.g. `NASDAQ`, `NYSE`, `Binance`",
       dtype="string", computed=False, may_be_null=True),
    _f("mic_code", _ID, "ISO 10383 market identifier code, e.g. `XNAS`, `XNYS`", dtype="string",
       computed=False, may_be_null=True),
    _f("currency", _ID, "quote currency", dtype="string", computed=False, may_be_null=True),
    _f("country", _ID, "listing country", dtype="string", computed=False, may_be_null=True),
    _f("sector", _ID, "GICS sector for stocks; a category for crypto (e.g. `Digital Assets`)", dtype="string",
       computed=False, may_be_null=True),
    _f("industry", _ID, "GICS industry (or sub-category)", dtype="string", computed=False, may_be_null=True),
    _f("exchange_timezone", _ID, "IANA time zone of the exchange (`UTC` for crypto)", dtype="string",
       computed=False, may_be_null=True),
    # Base OHLCV (16)
    _f("datetime", "ohlcv", "bar start, UTC", dtype="timestamp", computed=False),
    _f("trade_date", "ohlcv", "calendar date of the bar in the exchange time zone", dtype="date"),
    _f("open", "ohlcv", "opening price", computed=False),
    _f("high", "ohlcv", "highest price", computed=False),
    _f("low", "ohlcv", "lowest price", computed=False),
    _f("close", "ohlcv", "closing price", computed=False),
    _f("volume", "ohlcv", "traded volume (float64: crypto volume is fractional)", computed=False),
    _f("previous_close", "ohlcv", "close of the previous bar", warmup=1),
    _f("change", "ohlcv", "close - previous_close", warmup=1),
    _f("percent_change", "ohlcv", "100 * change / previous_close", warmup=1),
    _f("typical_price", "ohlcv", "TA-Lib TYPPRICE: (H+L+C)/3", talib="TYPPRICE"),
    _f("median_price", "ohlcv", "TA-Lib MEDPRICE: (H+L)/2", talib="MEDPRICE"),
    _f("weighted_close", "ohlcv", "TA-Lib WCLPRICE: (H+L+2C)/4", talib="WCLPRICE"),
    _f("true_range", "ohlcv", "TA-Lib TRANGE", talib="TRANGE", warmup=1),
    _f("dollar_volume", "ohlcv", "close * volume"),
    _f("bar_range", "ohlcv", "high - low"),
    # Momentum (9)
    _f("rsi_14", _MOM, "TA-Lib RSI(close, 14)", talib="RSI", params={"timeperiod": 14}, warmup=14),
    _f("macd", _MOM, "TA-Lib MACD(close, 12, 26, 9)[0]", talib="MACD",
       params={"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}, warmup=33),
    _f("macd_signal", _MOM, "MACD(...)[1]", talib="MACD",
       params={"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}, warmup=33),
    _f("macd_histogram", _MOM, "MACD(...)[2]", talib="MACD",
       params={"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}, warmup=33),
    _f("stoch_k", _MOM, "TA-Lib STOCH(H, L, C, fastk 14, slowk 3 SMA, slowd 3 SMA)[0]", talib="STOCH",
       params={"fastk_period": 14, "slowk_period": 3, "slowk_matype": 0, "slowd_period": 3, "slowd_matype": 0},
       warmup=17, may_be_null=True),
    _f("stoch_d", _MOM, "STOCH(...)[1]", talib="STOCH",
       params={"fastk_period": 14, "slowk_period": 3, "slowk_matype": 0, "slowd_period": 3, "slowd_matype": 0},
       warmup=17, may_be_null=True),
    _f("williams_r_14", _MOM, "TA-Lib WILLR(14)", talib="WILLR", params={"timeperiod": 14}, warmup=13,
       may_be_null=True),
    _f("roc_10", _MOM, "TA-Lib ROC(close, 10)", talib="ROC", params={"timeperiod": 10}, warmup=10),
    _f("mom_10", _MOM, "TA-Lib MOM(close, 10)", talib="MOM", params={"timeperiod": 10}, warmup=10),
    # Moving averages (10)
    _f("sma_10", _MA, "TA-Lib SMA(close, 10)", talib="SMA", params={"timeperiod": 10}, warmup=9),
    _f("sma_20", _MA, "SMA(close, 20)", talib="SMA", params={"timeperiod": 20}, warmup=19),
    _f("sma_50", _MA, "SMA(close, 50)", talib="SMA", params={"timeperiod": 50}, warmup=49),
    _f("sma_200", _MA, "SMA(close, 200)", talib="SMA", params={"timeperiod": 200}, warmup=199),
    _f("ema_12", _MA, "TA-Lib EMA(close, 12)", talib="EMA", params={"timeperiod": 12}, warmup=11),
    _f("ema_26", _MA, "EMA(close, 26)", talib="EMA", params={"timeperiod": 26}, warmup=25),
    _f("ema_50", _MA, "EMA(close, 50)", talib="EMA", params={"timeperiod": 50}, warmup=49),
    _f("ema_200", _MA, "EMA(close, 200)", talib="EMA", params={"timeperiod": 200}, warmup=199),
    _f("wma_20", _MA, "TA-Lib WMA(close, 20)", talib="WMA", params={"timeperiod": 20}, warmup=19),
    _f("kama_10", _MA, "TA-Lib KAMA(close, 10)", talib="KAMA", params={"timeperiod": 10}, warmup=10),
    # Bollinger bands (4)
    _f("bb_upper", "bollinger", "TA-Lib BBANDS(close, 20, 2, 2)[0]", talib="BBANDS",
       params={"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0}, warmup=19),
    _f("bb_lower", "bollinger", "BBANDS(...)[2]", talib="BBANDS",
       params={"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0}, warmup=19),
    _f("bb_width", "bollinger", "(bb_upper - bb_lower) / middle band", warmup=19, may_be_null=True),
    _f("bb_percent_b", "bollinger", "(close - bb_lower) / (bb_upper - bb_lower)", warmup=19, may_be_null=True),
    # ADX (3)
    _f("adx_14", "adx", "TA-Lib ADX(14)", talib="ADX", params={"timeperiod": 14}, warmup=27),
    _f("plus_di_14", "adx", "TA-Lib PLUS_DI(14)", talib="PLUS_DI", params={"timeperiod": 14}, warmup=14),
    _f("minus_di_14", "adx", "TA-Lib MINUS_DI(14)", talib="MINUS_DI", params={"timeperiod": 14}, warmup=14),
    # Volatility (3)
    _f("atr_14", "volatility", "TA-Lib ATR(14)", talib="ATR", params={"timeperiod": 14}, warmup=14),
    _f("natr_14", "volatility", "TA-Lib NATR(14)", talib="NATR", params={"timeperiod": 14}, warmup=14),
    _f("hist_volatility_20", "volatility",
       "sample stdev (ddof 1) of ln(C_t/C_t-1) over 20 bars * sqrt(bars per year of the table)",
       params={"timeperiod": 20}, warmup=20),
    # Volume (3)
    _f("obv", "volume", "TA-Lib OBV(close, volume)", talib="OBV"),
    _f("volume_sma_20", "volume", "SMA(volume, 20)", talib="SMA", params={"timeperiod": 20}, warmup=19),
    _f("relative_volume", "volume", "volume / volume_sma_20", warmup=19, may_be_null=True),
    # Oscillators (2)
    _f("cci_20", "oscillators", "TA-Lib CCI(20)", talib="CCI", params={"timeperiod": 20}, warmup=19, may_be_null=True),
    _f("ppo", "oscillators", "TA-Lib PPO(close, 12, 26, matype EMA)", talib="PPO",
       params={"fastperiod": 12, "slowperiod": 26, "matype": 1}, warmup=25),
    # Institutional (12)
    _f("mfi_14", _INST, "TA-Lib MFI(14)", talib="MFI", params={"timeperiod": 14}, warmup=14, may_be_null=True),
    _f("cmf_20", _INST, "TA-Lib CMF(20): sum over 20 bars of MFV / sum of volume; "
       "MFV = ((C-L)-(H-C))/(H-L)*V, 0 when H == L", talib="CMF", params={"timeperiod": 20}, warmup=19,
       may_be_null=True),
    _f("ad_line", _INST, "TA-Lib AD", talib="AD"),
    _f("ichimoku_tenkan", _INST, "(max H over 9 + min L over 9) / 2 (= TA-Lib MIDPRICE(9))", talib="MIDPRICE",
       params={"timeperiod": 9}, warmup=8),
    _f("ichimoku_kijun", _INST, "(max H over 26 + min L over 26) / 2 (= MIDPRICE(26))", talib="MIDPRICE",
       params={"timeperiod": 26}, warmup=25),
    _f("ichimoku_senkou_a", _INST, "the leading span as displayed at bar t: (tenkan + kijun)/2 taken at bar t-26",
       params={"displacement": 26}, warmup=51),
    _f("ichimoku_senkou_b", _INST,
       "as displayed at bar t: (max H over 52 + min L over 52)/2 taken at bar t-26",
       params={"timeperiod": 52, "displacement": 26}, warmup=77),
    _f("ichimoku_chikou", _INST, "close_t - close_t-26 (the lagging span's signal without look-ahead)",
       params={"displacement": 26}, warmup=26),
    _f("vwap", _INST, "intraday tables: sum(TP*V)/sum(V) since the first bar of the bar's trade_date session, "
       "reset each session (= TA-Lib VWAP on each session's bars); daily tables: the same sums over the last "
       "20 bars", params={"timeperiod": 20}, warmup=19, warmup_intraday=0, may_be_null=True),
    _f("vp_poc", _INST, "volume profile over the last 20 bars (24 equal-width bins over [min L, max H]): centre "
       "of the bin with most volume (ties: nearest the close, then the lower); NULL where max H = min L or the "
       "window's volume is 0", params={"timeperiod": 20, "bins": 24}, warmup=19, may_be_null=True),
    _f("vp_value_area_high", _INST, "upper edge of the highest bin of the 70% value area grown from the POC",
       params={"timeperiod": 20, "bins": 24, "value_area": 0.7}, warmup=19, may_be_null=True),
    _f("vp_value_area_low", _INST, "lower edge of the lowest bin of the 70% value area grown from the POC",
       params={"timeperiod": 20, "bins": 24, "value_area": 0.7}, warmup=19, may_be_null=True),
    # Returns (3)
    _f("return_1", "returns", "C_t / C_t-1 - 1", warmup=1),
    _f("log_return_1", "returns", "ln(C_t / C_t-1)", warmup=1),
    _f("return_20", "returns", "C_t / C_t-20 - 1", params={"timeperiod": 20}, warmup=20),
    # Relative performance (3)
    _f("rs_benchmark_20", "relative_performance",
       "return_20 - the benchmark's return_20 at the same datetime (defaults SPY for stocks, BTC/USD for "
       "crypto); NULL where the benchmark has no bar or either value is NULL", warmup=20, may_be_null=True),
    _f("rs_sector_20", "relative_performance",
       "return_20 - the median of the non-NULL return_20 of all same-sector symbols of the table at the same "
       "datetime (the symbol included); NULL where fewer than 3 such values", warmup=20, may_be_null=True),
    _f("beta_60", "relative_performance",
       "cov(return_1, benchmark return_1) / var(benchmark return_1) over the symbol's last 60 bars at which both "
       "returns exist; NULL with fewer than 60 such bars", params={"timeperiod": 60}, warmup=60,
       may_be_null=True),
    # Market dynamics (11)
    _f("gap_percent", _DYN, "100 * (open / previous_close - 1)", warmup=1),
    _f("intraday_return", _DYN, "close / open - 1"),
    _f("close_location", _DYN, "(C - L) / (H - L)" + _RANGE_NOTE, may_be_null=True),
    _f("body_ratio", _DYN, "abs(C - O) / (H - L)" + _RANGE_NOTE, may_be_null=True),
    _f("upper_shadow_ratio", _DYN, "(H - max(O, C)) / (H - L)" + _RANGE_NOTE, may_be_null=True),
    _f("lower_shadow_ratio", _DYN, "(min(O, C) - L) / (H - L)" + _RANGE_NOTE, may_be_null=True),
    _f("dist_sma_50", _DYN, "close / sma_50 - 1", warmup=49),
    _f("dist_sma_200", _DYN, "close / sma_200 - 1", warmup=199),
    _f("dist_high_252", _DYN, "close / max H over 252 bars - 1", params={"timeperiod": 252}, warmup=251),
    _f("dist_low_252", _DYN, "close / min L over 252 bars - 1", params={"timeperiod": 252}, warmup=251),
    _f("volume_zscore_20", _DYN, "(V - mean V over 20) / population stdev of V over 20", params={"timeperiod": 20},
       warmup=19, may_be_null=True),
    # Market structure (3)
    _f("donchian_high_20", "market_structure", "max H over the last 20 bars, current bar included (TA-Lib MAX(high, 20))",
       talib="MAX", params={"timeperiod": 20}, warmup=19),
    _f("donchian_low_20", "market_structure", "min L over the last 20 bars, current bar included (TA-Lib MIN(low, 20))",
       talib="MIN", params={"timeperiod": 20}, warmup=19),
    _f("pivot_point", "market_structure", "(H + L + C) / 3 of the previous bar", warmup=1),
    # Regime (3)
    _f("trend_regime", "regime", "+1 where close > sma_200 and sma_50 > sma_200; -1 where close < sma_200 and "
       "sma_50 < sma_200; else 0; NULL until sma_200 exists", dtype="int8", warmup=199),
    _f("volatility_regime", "regime", "rank = share of the last 252 values of hist_volatility_20 (t included) that "
       "are <= its value at t; rank < 1/3 -> 0, rank <= 2/3 -> 1, else 2; NULL until 252 values exist",
       dtype="int8", params={"timeperiod": 252}, warmup=271),
    _f("trend_strength_regime", "regime", "adx_14 < 20 -> 0, < 25 -> 1, else 2", dtype="int8", warmup=27),
    # Audit (2)
    _f("source", "audit", "where the bar came from: `twelvedata`, `synthetic`, `csv`, ...", dtype="string",
       computed=False),
    _f("updated_at", "audit", "UTC time at which the row was last written", dtype="timestamp", computed=False),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
FIELDS_BY_NAME: Mapping[str, FieldSpec] = MappingProxyType({f.name: f for f in FIELDS})
IDENTITY_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.group == "identity")
METADATA_COLUMNS: tuple[str, ...] = IDENTITY_COLUMNS[1:]
BAR_COLUMNS: tuple[str, ...] = ("symbol", "datetime", "open", "high", "low", "close", "volume")
KEY_COLUMNS: tuple[str, ...] = ("symbol", "datetime")

if len(FIELDS) != 97 or len(set(FIELD_NAMES)) != 97:  # pragma: no cover - guards edits
    raise RuntimeError(f"field catalogue must hold 97 unique fields, has {len(FIELDS)}")

__all__ = [
    "BAR_COLUMNS",
    "DType",
    "FIELDS",
    "FIELDS_BY_NAME",
    "FIELD_NAMES",
    "FieldSpec",
    "GROUPS",
    "IDENTITY_COLUMNS",
    "KEY_COLUMNS",
    "METADATA_COLUMNS",
]
