"""SyntheticSource: an offline, deterministic market for demos, tests and benchmarks.

Bars sit exactly on the grid of :mod:`marketlake.validate.grid` (real XNYS sessions for stocks with
holidays, early closes and DST; the UTC grid for crypto) and always pass validation. Only complete
bars are produced (bar start + length <= now), so a demo never stores a bar that will still change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from marketlake.errors import ConfigError
from marketlake.frames import concat_rows
from marketlake.schema import TableSpec
from marketlake.sources.base import RawBatch, empty_raw_bars
from marketlake.sources.registry import register
from marketlake.sources.synthetic.market import EPOCH, HORIZON, daily_path, day_index, intraday_bars
from marketlake.sources.synthetic.universe import crypto_universe, stock_universe
from marketlake.validate.grid import exchange_zone, grid_between, session_bars, step_ns

_DAY_NS = 86_400 * 1_000_000_000
_ROWS_PER_BATCH = 250_000


def to_utc(value: datetime | date | str | pd.Timestamp | None) -> pd.Timestamp | None:
    """A UTC timestamp from a datetime, date or ISO string; naive values are taken as UTC."""
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@register("synthetic")
class SyntheticSource:
    """A synthetic market of `stocks` stocks/ETFs (SPY first) and `crypto` pairs (BTC/USD first).

    Args:
        stocks: number of stock symbols in the universe.
        crypto: number of crypto pairs.
        seed: the same seed gives the same market, bar for bar.
        start, end: default window of `fetch` (ISO strings, dates or datetimes; naive = UTC).
        years, days: default window length back from `end` when `start` is not given.
        symbols: restrict the universe to these symbols.
        now: the clock (UTC) deciding which bars are complete; the real clock when None.
    """

    name: ClassVar[str] = "synthetic"

    def __init__(
        self,
        *,
        stocks: int = 20,
        crypto: int = 5,
        seed: int = 42,
        start: datetime | date | str | None = None,
        end: datetime | date | str | None = None,
        years: float | None = None,
        days: float | None = None,
        symbols: Sequence[str] | None = None,
        now: datetime | None = None,
    ) -> None:
        if stocks < 0 or crypto < 0:
            raise ConfigError("synthetic: stocks and crypto must be >= 0")
        self.seed = int(seed)
        self.start, self.end = to_utc(start), to_utc(end)
        self.years, self.days = years, days
        self.now = to_utc(now)
        meta = concat_rows([stock_universe(stocks), crypto_universe(crypto)], ignore_index=True)
        if symbols is not None:
            unknown = sorted(set(symbols) - set(meta["symbol"]))
            if unknown:
                raise ConfigError(f"synthetic: unknown symbol(s) {unknown}; raise `stocks`/`crypto` or pick others")
            meta = meta[meta["symbol"].isin(list(symbols))]
        self._meta = meta.reset_index(drop=True)

    def metadata(self, symbols: Sequence[str] | None = None) -> pd.DataFrame:
        """`symbol` + metadata columns of the universe (or of `symbols`)."""
        if symbols is None:
            return self._meta.copy()
        return self._meta[self._meta["symbol"].isin(list(symbols))].reset_index(drop=True)

    def _window(self, table: TableSpec, start: Any, end: Any) -> tuple[int, int]:
        now = self.now or pd.Timestamp(datetime.now(UTC))
        end_ts = to_utc(end) or self.end or now.floor("D")
        start_ts = to_utc(start) or self.start
        if start_ts is None:
            length = timedelta(days=self.days) if self.days is not None else (
                timedelta(days=365.25 * self.years) if self.years is not None else timedelta(days=table.history_days)
            )
            start_ts = end_ts - length
        lo = pd.Timestamp(EPOCH, tz="UTC") + timedelta(days=1)
        hi = pd.Timestamp(HORIZON, tz="UTC") - timedelta(days=1)
        if start_ts < lo or end_ts > hi:
            raise ConfigError(f"synthetic: the window must lie within {lo.date()}..{hi.date()}")
        last_complete = now - table.bar_interval
        return start_ts.value, min(end_ts, last_complete).value

    def fetch(
        self,
        symbols: Sequence[str] | None,
        table: TableSpec,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[RawBatch]:
        """Yield raw bars for `symbols` (None: the whole universe of the table's asset), chunked by symbol."""
        asset_types = ("stock", "etf") if table.asset == "stocks" else ("crypto",)
        pool = self._meta[self._meta["asset_type"].isin(asset_types)]
        if symbols is not None:
            wanted = list(dict.fromkeys(symbols))
            unknown = sorted(set(wanted) - set(pool["symbol"]))
            if unknown:
                raise ConfigError(f"synthetic: no {table.asset} symbol(s) {unknown} in this universe")
            pool = pool.set_index("symbol").loc[wanted].reset_index()
        start_ns, end_ns = self._window(table, start, end)
        if start_ns > end_ns or pool.empty:
            return
        stamps = grid_between(table, start_ns, end_ns)
        per_symbol = max(len(stamps), 1)
        chunk = max(1, _ROWS_PER_BATCH // per_symbol)
        for i in range(0, len(pool), chunk):
            part = pool.iloc[i : i + chunk]
            frames = [self._symbol_bars(row, table, stamps, start_ns, end_ns) for row in part.itertuples()]
            bars = concat_rows(frames, ignore_index=True) if frames else empty_raw_bars()
            yield RawBatch(bars=bars, metadata=part.reset_index(drop=True))

    def _symbol_bars(self, row: Any, table: TableSpec, stamps: np.ndarray, start_ns: int, end_ns: int) -> pd.DataFrame:
        sector = row.sector if isinstance(row.sector, str) else ""
        bench = row.symbol == table.default_benchmark
        daily = daily_path(self.seed, row.symbol, table.asset, sector, bench)
        if table.timeframe == "daily":
            days = _local_days(stamps, table)
            vals = daily[:5, day_index(days, table.asset)]
            ts = stamps
        else:
            opens, n_bars = session_bars(table, start_ns, end_ns)
            slots = int(-(-(6.5 * 3600 if table.asset == "stocks" else 86_400) // table.bar_seconds))
            days = _local_days(opens, table)
            vals, k = intraday_bars(
                self.seed, daily, symbol=row.symbol, asset=table.asset, timeframe=table.timeframe,
                days=days, n_bars=n_bars, slots=slots,
            )
            ts = np.repeat(opens, n_bars) + k * step_ns(table)
            keep = (ts >= start_ns) & (ts <= end_ns)
            vals, ts = vals[:, keep], ts[keep]
        return pd.DataFrame(
            {
                "symbol": pd.array([row.symbol] * len(ts), dtype="str"),
                "datetime": pd.DatetimeIndex(ts.astype("datetime64[ns]"), tz="UTC").as_unit("us"),
                "open": vals[0], "high": vals[1], "low": vals[2], "close": vals[3], "volume": vals[4],
            }
        )


def _local_days(ts_ns: np.ndarray, table: TableSpec) -> np.ndarray:
    """Exchange-local calendar date of each UTC stamp (UTC date for crypto)."""
    if table.calendar is None:
        return (np.asarray(ts_ns) // _DAY_NS).astype("datetime64[D]")
    idx = pd.DatetimeIndex(np.asarray(ts_ns).astype("datetime64[ns]"), tz="UTC").tz_convert(exchange_zone(table))
    return idx.tz_localize(None).values.astype("datetime64[D]")


__all__ = ["SyntheticSource", "to_utc"]
