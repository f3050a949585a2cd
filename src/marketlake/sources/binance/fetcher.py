"""Binance klines in three steps: build the query (pure), extract (I/O), transform (pure).

Paging goes *forward*: Binance answers oldest first from `startTime`, up to `limit` (<= 1000) klines.
The next page starts one millisecond after the newest kline's open time (the largest, whatever order
the page came in: a page in reverse order once made the pager step one kline per request); paging
stops on a short page, past `end`, at the still-forming kline, or when a page does not move forward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from marketlake.errors import ConfigError
from marketlake.schema import TableSpec
from marketlake.sources.base import empty_raw_bars
from marketlake.sources.binance.client import MAX_LIMIT, BinanceClient
from marketlake.sources.binance.convert import klines_to_bars, pair_metadata
from marketlake.sources.binance.symbols import Pair
from marketlake.sources.binance.wire import OPEN_TIME_MS, Kline, WireError

INTERVALS: dict[str, str] = {"1min": "1m", "hourly": "1h", "daily": "1d"}
"""Table timeframe -> Binance interval."""


@dataclass(frozen=True)
class KlinesQuery:
    """One `/api/v3/klines` call."""

    pair: Pair  # what Binance is asked (`pair.pair`) and the name stored on the bars (`pair.symbol`)
    interval: str
    start_ms: int | None
    end_ms: int | None
    limit: int = MAX_LIMIT

    @property
    def symbol(self) -> str:
        return self.pair.symbol


@dataclass
class KlinesResult:
    query: KlinesQuery
    bars: pd.DataFrame
    metadata: pd.DataFrame
    received: int = 0
    last_open_ms: int | None = None
    error: WireError | None = None


def binance_interval(table: TableSpec) -> str:
    """The Binance interval of a crypto table; stock tables are refused."""
    if table.asset != "crypto":
        raise ConfigError(f"binance serves crypto pairs only; {table.name} is a {table.asset} table "
                          "(use a crypto_* table, e.g. crypto_daily_clean)")
    return INTERVALS[table.timeframe]


def _ms(ts: datetime | None) -> int | None:
    return None if ts is None else int(pd.Timestamp(ts).timestamp() * 1000)


def build_query(pair: Pair, table: TableSpec, *, start: datetime | None, end: datetime | None,
                limit: int = MAX_LIMIT) -> KlinesQuery:
    return KlinesQuery(pair, binance_interval(table), _ms(start), _ms(end), max(1, min(limit, MAX_LIMIT)))


def extract(client: BinanceClient, query: KlinesQuery) -> list[Kline] | WireError:
    """The only I/O."""
    return client.klines(query.pair.pair, interval=query.interval, start_ms=query.start_ms,
                         end_ms=query.end_ms, limit=query.limit)


def transform(query: KlinesQuery, answer: list[Kline] | WireError, *, now: datetime) -> KlinesResult:
    if isinstance(answer, WireError):
        return KlinesResult(query, empty_raw_bars(), pd.DataFrame({"symbol": []}), error=answer)
    bars = klines_to_bars(answer, symbol=query.symbol, pair=query.pair.pair, interval=query.interval, now=now)
    opens = [t for t in (_int(k[OPEN_TIME_MS]) for k in answer) if t is not None]
    last = max(opens) if opens else None
    return KlinesResult(query, bars, pd.DataFrame([pair_metadata(query.pair)]), received=len(answer),
                        last_open_ms=last)


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return None


def fetch_symbol(client: BinanceClient, pair: Pair, table: TableSpec, *, start: datetime | None,
                 end: datetime | None, now: Callable[[], datetime], limit: int = MAX_LIMIT) -> Iterator[KlinesResult]:
    """Every complete kline of `pair` in [start, end], one result per page, oldest page first."""
    query = build_query(pair, table, start=start, end=end, limit=limit)
    while True:
        result = transform(query, extract(client, query), now=now())
        yield result
        if result.error is not None or result.received < query.limit or result.last_open_ms is None:
            return
        if len(result.bars) < result.received:  # reached the forming kline
            return
        nxt = result.last_open_ms + 1
        if query.end_ms is not None and nxt > query.end_ms:
            return
        if query.start_ms is not None and nxt <= query.start_ms:  # the page did not move forward
            return
        query = KlinesQuery(query.pair, query.interval, nxt, query.end_ms, query.limit)


def fetch_many(client: BinanceClient, pairs: Sequence[Pair], table: TableSpec, *, start: datetime | None,
               end: datetime | None, now: Callable[[], datetime], limit: int = MAX_LIMIT) -> Iterator[KlinesResult]:
    for pair in dict.fromkeys(pairs):
        yield from fetch_symbol(client, pair, table, start=start, end=end, now=now, limit=limit)


__all__ = ["INTERVALS", "KlinesQuery", "KlinesResult", "binance_interval", "build_query", "extract",
           "fetch_many", "fetch_symbol", "transform"]
