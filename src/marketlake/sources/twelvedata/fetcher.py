"""TwelveData time series in three steps: build requests (pure), extract (I/O), transform (pure).

Why this split (OpenBB's fetcher pattern): planning which requests to send, and converting what
comes back, are where the bugs hide and both are pure; only `extract` touches the network, through
the budgeted client. `fetch_window` strings them together with backward paging: the first page of
many symbols goes out in one batch request (saving round trips; credits are per symbol either way),
and only symbols whose page was full are followed up, page by page, back to `start` or to the
vendor's earliest bar (`EarliestBars`: asked once per symbol, and only for symbols that need an
older page).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from marketlake.schema import TableSpec
from marketlake.sources.ahead import ahead
from marketlake.sources.base import empty_raw_bars
from marketlake.sources.twelvedata.client import MAX_BATCH, MAX_OUTPUTSIZE, TwelveDataClient
from marketlake.sources.twelvedata.convert import (
    DEFAULT_STOCK_TZ,
    batch_to_bars,
    earliest_to_utc,
    local_wall_time,
    series_metadata,
)
from marketlake.sources.twelvedata.wire import INCOMPLETE, WireError, WireSeries


@dataclass(frozen=True)
class SeriesRequest:
    """One `/time_series` call: the same window for every symbol in it."""

    symbols: tuple[str, ...]
    interval: str
    outputsize: int = MAX_OUTPUTSIZE
    start_date: str | None = None
    end_date: str | None = None


@dataclass
class SeriesResult:
    """What one request produced: raw bars, metadata, and per-symbol outcomes."""

    request: SeriesRequest
    bars: pd.DataFrame
    metadata: pd.DataFrame
    errors: dict[str, WireError] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # values received (forming bar included)
    oldest: dict[str, pd.Timestamp] = field(default_factory=dict)  # oldest bar open, UTC


def vendor_zone(table: TableSpec) -> str:
    """Zone in which `start_date`/`end_date` are read for this table's symbols."""
    return "UTC" if table.asset == "crypto" else DEFAULT_STOCK_TZ


def build_requests(
    symbols: Sequence[str],
    table: TableSpec,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    batch_size: int = MAX_BATCH,
    outputsize: int = MAX_OUTPUTSIZE,
) -> list[SeriesRequest]:
    """Batched requests covering `symbols` over [start, end] (UTC), one page each."""
    tz = vendor_zone(table)
    daily = table.timeframe == "daily"
    start_s = local_wall_time(start, tz, date_only=daily) if start else None
    end_s = local_wall_time(end, tz, date_only=False) if end else None
    size = max(1, min(batch_size, MAX_BATCH))
    syms = list(dict.fromkeys(symbols))
    return [
        SeriesRequest(tuple(syms[i : i + size]), table.vendor_interval, outputsize, start_s, end_s)
        for i in range(0, len(syms), size)
    ]


def extract(client: TwelveDataClient, request: SeriesRequest) -> dict[str, WireSeries | WireError]:
    """The only I/O: send one request through the budgeted client."""
    return client.time_series(
        request.symbols,
        interval=request.interval,
        outputsize=request.outputsize,
        start_date=request.start_date,
        end_date=request.end_date,
    )


def transform(
    request: SeriesRequest,
    answers: Mapping[str, WireSeries | WireError],
    table: TableSpec,
    *,
    now: datetime,
) -> SeriesResult:
    """Wire answers -> raw bars (UTC, oldest first, forming bar dropped) and metadata."""
    result = SeriesResult(request, empty_raw_bars(), pd.DataFrame({"symbol": []}))
    series: list[tuple[str, WireSeries]] = []
    for symbol in request.symbols:
        answer = answers.get(symbol)
        if isinstance(answer, WireSeries):
            series.append((symbol, answer))
            result.counts[symbol] = len(answer.values)
        else:
            result.errors[symbol] = answer or WireError(INCOMPLETE, f"no answer for {symbol}")
    result.bars = batch_to_bars(series, table, now=now)
    if len(result.bars):
        oldest = result.bars.groupby("symbol", sort=False)["datetime"].min()
        result.oldest = {str(s): pd.Timestamp(t) for s, t in oldest.items() if not pd.isna(t)}
    if series:
        result.metadata = pd.DataFrame([series_metadata(a, table, symbol=s) for s, a in series])
    return result


Floors = Callable[[dict[str, pd.Timestamp], dict[str, WireError]], None]
"""Called with each batch of `/earliest_timestamp` answers: floors found, and errors (404: unknown)."""


class EarliestBars:
    """Each symbol's earliest bar at the vendor (the UTC open of its first bar), the pager's floor.

    Why: paging backwards past a symbol's first bar buys a page with no data, and TwelveData answers
    such a window with an error ("Data not found", 404, the code of an unknown symbol) instead of an
    empty list, so a valid symbol would look delisted. The pager stops at this floor instead.

    Asked lazily, once per symbol, and only for a symbol that needs an older page (its last page was
    full): a symbol whose history fits in one page (every daily and hourly table's target) costs no
    credit for it. `/earliest_timestamp` costs one credit, like the page it saves.

    Args:
        client: the budgeted client.
        table: the table whose interval is asked.
        known: floors known already (e.g. from `ingest_state`); not asked again.
        on_answer: called after each batch of lookups (e.g. to persist them).
    """

    def __init__(self, client: TwelveDataClient, table: TableSpec, *,
                 known: Mapping[str, pd.Timestamp] | None = None, on_answer: Floors | None = None) -> None:
        self.client = client
        self.table = table
        self.known: dict[str, pd.Timestamp] = dict(known or {})
        self.errors: dict[str, WireError] = {}
        self.on_answer = on_answer

    def resolve(self, symbols: Sequence[str]) -> dict[str, pd.Timestamp]:
        """The floors of `symbols`, asking the vendor for those not known or asked before."""
        found: dict[str, pd.Timestamp] = {}
        errors: dict[str, WireError] = {}
        tz = vendor_zone(self.table)
        for symbol in dict.fromkeys(symbols):
            if symbol in self.known or symbol in self.errors:
                continue
            answer = self.client.earliest_timestamp(symbol, interval=self.table.vendor_interval)
            floor = None if isinstance(answer, WireError) else earliest_to_utc(str(answer.get("datetime") or ""),
                                                                                self.table, tz)
            if floor is None:  # an error, or an answer without a usable date: page without a floor
                errors[symbol] = answer if isinstance(answer, WireError) else WireError(500, "no datetime")
            else:
                found[symbol] = floor
        self.known.update(found)
        self.errors.update(errors)
        if (found or errors) and self.on_answer is not None:
            self.on_answer(found, errors)
        return {s: self.known[s] for s in symbols if s in self.known}


def fetch_window(
    client: TwelveDataClient,
    symbols: Sequence[str],
    table: TableSpec,
    *,
    start: datetime | None,
    end: datetime | None = None,
    now: Callable[[], datetime],
    batch_size: int = MAX_BATCH,
    earliest: EarliestBars | Mapping[str, pd.Timestamp] | None = None,
    outputsize: int = MAX_OUTPUTSIZE,
    prefetch: int = 1,
) -> Iterator[SeriesResult]:
    """Every bar of `symbols` in [start, end], newest pages first, one `SeriesResult` per request.

    A symbol is followed to an older page only while its last page was full and its oldest bar is
    still after `start` and after its earliest available bar: from `earliest` (fixed floors, or an
    `EarliestBars` that asks the vendor when needed; None: a new `EarliestBars`). Floors are asked
    between rounds of requests, for the symbols that need another page.

    Requests are sent and converted up to `prefetch` results ahead of the caller (in a worker thread,
    see `sources.ahead`), so the credit budget keeps being spent while the caller loads a page; 0
    fetches only when asked.
    """

    def fetch(request: SeriesRequest) -> SeriesResult:
        return transform(request, extract(client, request), table, now=now())

    floors = EarliestBars(client, table) if earliest is None else earliest
    pending: list[tuple[str, datetime | None]] = [(s, end) for s in symbols]
    first = True
    while pending:
        if first:
            requests = build_requests([s for s, _ in pending], table, start=start, end=end,
                                      batch_size=batch_size, outputsize=outputsize)
        else:  # follow-ups differ per symbol (their own end), one symbol per request
            requests = [r for s, e in pending
                        for r in build_requests([s], table, start=start, end=e, outputsize=outputsize)]
        # a follow-up page ends at (includes) the bar the previous page began with: drop that copy
        boundary = {} if first else {s: pd.Timestamp(e) for s, e in pending}
        first = False
        older: dict[str, pd.Timestamp] = {}  # full pages whose oldest bar is still after `start`
        for result in ahead(fetch, requests, depth=prefetch):
            request = result.request
            cut = boundary.get(request.symbols[0])
            if cut is not None and len(result.bars):
                result.bars = result.bars[result.bars["datetime"] < cut].reset_index(drop=True)
            yield result
            for symbol in request.symbols:
                oldest = result.oldest.get(symbol)
                if symbol in result.errors or result.counts.get(symbol, 0) < request.outputsize or oldest is None:
                    continue
                if start is None or oldest > pd.Timestamp(start):
                    older[symbol] = oldest
        known = floors.resolve(list(older)) if isinstance(floors, EarliestBars) else floors
        pending = [(s, oldest.to_pydatetime()) for s, oldest in older.items()
                   if s not in known or oldest > known[s]]


__all__ = ["EarliestBars", "Floors", "SeriesRequest", "SeriesResult", "build_requests", "extract", "fetch_window", "transform", "vendor_zone"]
