"""A fake TwelveData on 127.0.0.1: real HTTP, the exact wire format, per-minute credit enforcement.

Speaks what the real API speaks: string values, newest first, exchange-local wall times, batch
objects keyed by symbol with per-symbol errors, errors as HTTP statuses *and* as 200 bodies
(`error_style`), credits charged per vendor minute with violations counted, optional random 5xx and
slow answers, and a still-forming last bar at `market_now`. The vendor minute (`minute_seconds`) and
the market clock are injectable so tests run in seconds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, urlparse
from zoneinfo import ZoneInfo

import pandas as pd

from tests.vendors.loopback import LoopbackServer

NY = ZoneInfo("America/New_York")
LIST_CREDITS = 1
FUNDAMENTALS_CREDITS = 20  # /splits, /dividends


@dataclass
class FakeState:
    api_key: str
    credits_per_minute: int = 8
    minute_seconds: float = 0.2
    market_now: datetime = datetime(2024, 11, 5, 15, 7, tzinfo=UTC)
    listings: dict[str, date] = field(default_factory=dict)  # symbol -> first day of data
    error_style: str = "body"  # "body" (200 + status error), "status" (real HTTP status) or "mixed"
    p_5xx: float = 0.0
    p_slow: float = 0.0
    slow_s: float = 0.5
    send_credit_headers: bool = True
    # a window with no bars: "empty" (values: []) or "error", as the real API answers it:
    # {"code":404,"message":"Data not found","status":"error"} (twelvedata/twelvedata-python#58)
    empty_window: str = "empty"
    plan_has_profile: bool = False
    drop_from_batch: dict[str, int] = field(default_factory=dict)  # symbol -> batch answers to leave it out of
    malformed_batches: int = 0  # batch /time_series answers sent as a JSON list instead of an object
    drip_s: float = 0.0  # > 0: every answer (status line, headers, body) sent one byte per `drip_s` seconds
    # a careless vendor: every error message quotes the key the request carried, raw and URL-encoded
    echo_key: bool = False
    # corporate actions (Grow plan and above, 20 credits each): symbol -> wire rows, oldest first
    plan_has_fundamentals: bool = False
    splits: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dividends: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seed: int = 7
    clock: Callable[[], float] = time.time
    # observed
    credits_total: int = 0
    violations: int = 0
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    raw_lines: list[str] = field(default_factory=list)
    per_window: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=random.Random)
    _cache: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng.seed(self.seed)


def _is_crypto(symbol: str) -> bool:
    return "/" in symbol


@functools.lru_cache(maxsize=64)
def _sessions(first: date, last: date) -> tuple[tuple[datetime, datetime], ...]:
    """XNYS sessions (open, close as aware UTC datetimes): holidays and early closes as the real feed."""
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XNYS")
    lo = max(pd.Timestamp(first), cal.first_session)
    hi = min(pd.Timestamp(last), cal.last_session)
    if lo > hi:
        return ()
    sched = cal.schedule.loc[lo:hi]
    return tuple((o.to_pydatetime(), c.to_pydatetime()) for o, c in zip(sched["open"], sched["close"]))


def _bar_opens(symbol: str, interval: str, first: date, now: datetime) -> list[datetime]:
    """Bar open times (aware: NY for stocks, UTC for crypto), oldest first, up to and including `now`."""
    out: list[datetime] = []
    step = {"1min": 60, "1h": 3600, "1day": 86400}[interval]
    if _is_crypto(symbol):
        t = datetime(first.year, first.month, first.day, tzinfo=UTC)
        while t <= now:
            out.append(t)
            t += timedelta(seconds=step)
        return out
    for open_utc, close_utc in _sessions(first, now.astimezone(NY).date()):
        o, c = open_utc.astimezone(NY), close_utc.astimezone(NY)
        if interval == "1day":
            out.append(o)
            continue
        t = o
        while t < c:
            out.append(t)
            t += timedelta(seconds=step)
    return [o for o in out if o <= now]


def make_values(state: FakeState, symbol: str, interval: str) -> list[dict[str, str]]:
    """All bars of a symbol, oldest first, as wire dicts (cached)."""
    key = (symbol, interval)
    if key not in state._cache:
        first = state.listings.get(symbol, date(2019, 1, 2))
        seed = int(hashlib.sha1(symbol.encode()).hexdigest()[:8], 16)
        base = 20 + seed % 300
        values = []
        for i, t in enumerate(_bar_opens(symbol, interval, first, state.market_now)):
            c = base * (1 + 0.1 * math.sin(i / 17 + seed % 11))
            o = c * (1 + 0.002 * math.cos(i))
            h, lo = max(o, c) * 1.004, min(o, c) * 0.996
            stamp = t.strftime("%Y-%m-%d") if interval == "1day" else t.strftime("%Y-%m-%d %H:%M:%S")
            values.append({"datetime": stamp, "open": f"{o:.5f}", "high": f"{h:.5f}", "low": f"{lo:.5f}",
                           "close": f"{c:.5f}", "volume": str(1000 + (seed + i * 7919) % 50000)})
        state._cache[key] = values
    return state._cache[key]


def vendor_values(state: FakeState, symbol: str, interval: str, adjust: str = "splits") -> list[dict[str, str]]:
    """What `/time_series` sends for `adjust` (the vendor's default is `splits`). `make_values` is the
    split-adjusted series; as traded, every bar before each of `state.splits` is that times to/from
    (volume inversely), so the split shows as the jump it was. With `splits`/`all` daily bars come
    adjusted while intraday bars stay as traded, as the real vendor reports them; `none` (and
    `dividends`: dividends are not modelled) sends every interval as traded."""
    values = make_values(state, symbol, interval)
    splits = state.splits.get(symbol, [])
    if (adjust in ("splits", "all") and interval == "1day") or not splits:
        return values
    out = []
    for v in values:
        f = math.prod(float(s["to_factor"]) / float(s["from_factor"]) for s in splits if v["datetime"] < s["date"])
        if f == 1.0:
            out.append(v)
            continue
        out.append({**v, **{k: f"{float(v[k]) * f:.5f}" for k in ("open", "high", "low", "close")},
                    "volume": f"{float(v['volume']) / f:.0f}"})
    return out


def _series(state: FakeState, symbol: str, q: dict[str, str]) -> dict[str, Any]:
    interval = q.get("interval", "1day")
    values = vendor_values(state, symbol, interval, q.get("adjust", "splits"))
    start, end = q.get("start_date"), q.get("end_date")
    sel = values
    if start:
        sel = [v for v in sel if v["datetime"] >= start]
    if end:  # a date-only end_date is exclusive, a datetime one inclusive
        sel = [v for v in sel if (v["datetime"] < end if len(end) == 10 else v["datetime"] <= end)]
    n = min(int(q.get("outputsize", "30")), 5000)
    sel = sel[-n:][::-1]
    if not sel and state.empty_window == "error":
        return {"code": 404, "message": "Data not found", "status": "error"}
    crypto = _is_crypto(symbol)
    meta: dict[str, Any] = {"symbol": symbol, "interval": interval,
                            "exchange_timezone": "UTC" if crypto else "America/New_York",
                            "exchange": "Binance" if crypto else "NASDAQ", "mic_code": "" if crypto else "XNAS",
                            "type": "Digital Currency" if crypto else "Common Stock"}
    if crypto:
        meta.update(currency_base=symbol.split("/")[0], currency_quote="US Dollar")
    else:
        meta["currency"] = "USD"
    return {"meta": meta, "values": sel, "status": "ok"}


def _in_range(rows: list[dict[str, Any]], key: str, q: dict[str, str]) -> list[dict[str, Any]]:
    """`range` (default `last`: the latest event only) or `start_date`/`end_date`, newest first."""
    start, end = q.get("start_date"), q.get("end_date")
    sel = [r for r in rows if (not start or r[key] >= start) and (not end or r[key] <= end)]
    sel = sorted(sel, key=lambda r: r[key], reverse=True)
    if not start and not end and q.get("range", "last") == "last":
        sel = sel[:1]
    return sel


class _Handler(BaseHTTPRequestHandler):
    state: FakeState
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

    def log_message(self, fmt: str, *args: Any) -> None:  # keep test output quiet, but record lines
        self.state.raw_lines.append(fmt % args)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        if self.state.drip_s > 0:
            self._drip(status, data)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _drip(self, status: int, data: bytes) -> None:
        """A server that never stalls long enough for a read timeout, yet never finishes in time."""
        raw = (f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
               .encode() + data)
        self.close_connection = True
        try:
            for i in range(len(raw)):
                self.wfile.write(raw[i:i + 1])
                self.wfile.flush()
                time.sleep(self.state.drip_s)
        except OSError:  # the client gave up and closed
            pass

    def _error(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        st = self.state
        style = st.error_style
        if style == "mixed":
            style = "status" if st.rng.random() < 0.5 else "body"
        self._send(code if style == "status" else 200,
                   {"code": code, "message": self._echo(message), "status": "error"}, headers)

    def _echo(self, message: str) -> str:
        """The message, plus the key the request carried when the fake plays a careless vendor."""
        if not self.state.echo_key:
            return message
        sent = (self.headers.get("Authorization") or "").removeprefix("apikey ")
        return message + f" (request: apikey={sent}, url form apikey={quote(sent, safe='')})"

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        st = self.state
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        with st.lock:
            st.requests.append((path, q))
            st.raw_lines.append(self.path + " " + " ".join(f"{k}={v}" for k, v in self.headers.items()
                                                           if k.lower() != "authorization"))
        if self.headers.get("Authorization") != f"apikey {st.api_key}" or "apikey" in q:
            self._error(401, "**apikey** parameter is incorrect or not specified.")
            return
        if path == "/time_series":
            cost = len([s for s in q.get("symbol", "").split(",") if s])
        elif path == "/profile":
            cost = 10
        elif path in ("/splits", "/dividends"):
            cost = FUNDAMENTALS_CREDITS
        else:
            cost = LIST_CREDITS
        with st.lock:
            window = math.floor(st.clock() / st.minute_seconds)
            used = st.per_window.get(window, 0)
            if used + cost > st.credits_per_minute:
                st.violations += 1
                over = True
            else:
                st.per_window[window] = used + cost
                st.credits_total += cost
                over = False
                left = st.credits_per_minute - used - cost
            roll = st.rng.random()
            slow = st.rng.random() < st.p_slow
        if over:
            self._error(429, f"You have run out of API credits for the current minute. {used + cost} API credits "
                        f"were used, with the current limit being {st.credits_per_minute}. Wait for the next minute")
            return
        headers = {"api-credits-used": str(st.credits_per_minute - left), "api-credits-left": str(left)} \
            if st.send_credit_headers else {}
        if slow:
            time.sleep(st.slow_s)
        if roll < st.p_5xx:
            self._error(500, "Internal server error", headers)
            return
        self._route(path, q, headers)

    def _route(self, path: str, q: dict[str, str], headers: dict[str, str]) -> None:
        st = self.state
        known = set(st.listings)
        if path == "/time_series":
            symbols = [s for s in q.get("symbol", "").split(",") if s]
            out: dict[str, Any] = {}
            for s in symbols:
                if s not in known:
                    out[s] = {"code": 404, "message": self._echo(f"**symbol** {s} not found"), "status": "error"}
                else:
                    out[s] = _series(st, s, q)
            with st.lock:
                for s in [s for s in symbols if st.drop_from_batch.get(s, 0) > 0 and len(symbols) > 1]:
                    st.drop_from_batch[s] -= 1
                    del out[s]
                malformed = len(symbols) > 1 and st.malformed_batches > 0
                st.malformed_batches -= int(malformed)
            if malformed:
                self._send(200, [], headers)
                return
            if len(symbols) == 1:
                body = out[symbols[0]]
                if body["status"] == "error":
                    self._error(404, body["message"], headers)
                    return
                self._send(200, body, headers)
            else:
                self._send(200, out, headers)
        elif path == "/earliest_timestamp":
            s = q.get("symbol", "")
            if s not in known:
                self._error(404, f"**symbol** {s} not found", headers)
                return
            first = make_values(st, s, q.get("interval", "1day"))
            stamp = first[0]["datetime"] if first else "2019-01-02"
            self._send(200, {"datetime": stamp, "unix_time": 0}, headers)
        elif path in ("/stocks", "/etfs", "/cryptocurrencies"):
            rows = []
            if path == "/stocks" and "AAPL" in known:  # the same ticker on a foreign venue, listed first
                rows.append({"symbol": "AAPL", "name": "Apple Inc", "currency": "MXN", "exchange": "BMV",
                             "mic_code": "XMEX", "country": "Mexico", "type": "Common Stock",
                             "figi_code": "", "isin": "", "cusip": ""})
            for s in sorted(known):
                if path == "/cryptocurrencies" and _is_crypto(s):
                    rows.append({"symbol": s, "available_exchanges": ["Binance", "Coinbase Pro"],
                                 "currency_base": s.split("/")[0], "currency_quote": "US Dollar"})
                elif path == "/stocks" and not _is_crypto(s) and not s.endswith("Y"):
                    rows.append({"symbol": s, "name": f"{s} Inc", "currency": "USD", "exchange": "NASDAQ",
                                 "mic_code": "XNAS", "country": "United States", "type": "Common Stock"})
                elif path == "/etfs" and s.endswith("Y"):
                    rows.append({"symbol": s, "name": f"{s} Trust", "currency": "USD", "exchange": "NYSE ARCA",
                                 "mic_code": "ARCX", "country": "United States"})
            self._send(200, {"data": rows, "status": "ok"}, headers)
        elif path == "/exchanges":
            self._send(200, {"data": [
                {"title": "Nasdaq", "name": "NASDAQ", "code": "XNAS", "country": "United States",
                 "timezone": "America/New_York"},
                {"title": "NYSE Arca", "name": "NYSE ARCA", "code": "ARCX", "country": "United States",
                 "timezone": "America/New_York"},
                {"title": "Bolsa Mexicana de Valores", "name": "BMV", "code": "XMEX", "country": "Mexico",
                 "timezone": "America/Mexico_City"}], "status": "ok"}, headers)
        elif path == "/symbol_search":
            s = q.get("symbol", "")
            rows = [{"symbol": k, "instrument_name": f"{k} Inc", "exchange": "NASDAQ", "mic_code": "XNAS",
                     "exchange_timezone": "America/New_York", "instrument_type": "Common Stock",
                     "country": "United States", "currency": "USD"} for k in sorted(known) if k.startswith(s)]
            self._send(200, {"data": rows, "status": "ok"}, headers)
        elif path == "/profile":
            if not st.plan_has_profile:
                self._error(403, "/profile is available exclusively with grow or pro or ultra plans", headers)
                return
            s = q.get("symbol", "")
            self._send(200, {"symbol": s, "name": f"{s} Inc", "exchange": "NASDAQ", "mic_code": "XNAS",
                             "sector": "Technology", "industry": "Consumer Electronics",
                             "country": "United States"}, headers)
        elif path in ("/splits", "/dividends"):
            self._actions(path, q, headers)
        elif path == "/api_usage":
            with st.lock:
                used = st.per_window.get(math.floor(st.clock() / st.minute_seconds), 0)
            self._send(200, {"timestamp": "now", "current_usage": used, "plan_limit": st.credits_per_minute,
                             "plan_category": "test"}, headers)
        else:
            self._error(404, "not found", headers)

    def _actions(self, path: str, q: dict[str, str], headers: dict[str, str]) -> None:
        st = self.state
        if not st.plan_has_fundamentals:
            self._error(403, f"{path} is available exclusively with grow or pro or ultra plans", headers)
            return
        s = q.get("symbol", "")
        if s not in st.listings:
            self._error(404, f"**symbol** {s} not found", headers)
            return
        meta = {"symbol": s, "name": f"{s} Inc", "currency": "USD", "exchange": "NASDAQ", "mic_code": "XNAS",
                "exchange_timezone": "America/New_York"}
        if path == "/splits":
            body = {"meta": meta, "splits": _in_range(st.splits.get(s, []), "date", q)}
        else:
            body = {"meta": meta, "dividends": _in_range(st.dividends.get(s, []), "ex_date", q)}
        self._send(200, body, headers)


class FakeTwelveData(LoopbackServer):
    """Run the fake in a daemon thread: `with FakeTwelveData(state) as fake: fake.url`."""

    handler = _Handler
