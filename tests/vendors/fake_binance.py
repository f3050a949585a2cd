"""A fake Binance on 127.0.0.1: real HTTP, `/api/v3/klines` and `/api/v3/exchangeInfo` in the exact wire format.

Speaks what the real API speaks: arrays `[openTime, "open", "high", "low", "close", "volume", closeTime,
"quoteVolume", trades, "takerBase", "takerQuote", "0"]` oldest first, including the still-forming kline
at `market_now`; `exchangeInfo` for `symbol=X`, `symbols=["X","Y"]` (the whole request refused with
-1121 when one is unknown) or every listing; errors as `{"code": -1121, "msg": "Invalid symbol."}` with
HTTP 400; request weight (klines 2, exchangeInfo 20) counted per (compressed) minute with
`X-MBX-USED-WEIGHT-1M` on every answer; 429 + `Retry-After` over the limit; scripted statuses
(`script`) to force 429/418/5xx answers.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.vendors.loopback import LoopbackServer

STEP_MS = {"1m": 60_000, "1h": 3_600_000, "1d": 86_400_000}
WEIGHT = {"/api/v3/klines": 2, "/api/v3/exchangeInfo": 20}
FAKE_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "EUR", "TRY")  # the fake's own listing data


def assets_of(symbol: str) -> tuple[str, str]:
    """(baseAsset, quoteAsset) of a listed pair, as Binance's exchangeInfo states them."""
    quote = next(q for q in FAKE_QUOTES if symbol.endswith(q) and len(symbol) > len(q))
    return symbol[: -len(quote)], quote


@dataclass
class BinanceState:
    listings: dict[str, datetime]  # wire symbol -> first kline open (UTC)
    market_now: datetime = datetime(2024, 11, 5, 15, 7, tzinfo=UTC)
    weight_per_minute: int = 6000
    minute_seconds: float = 0.25
    other_weight: int = 0  # weight other clients on the same IP use in every window
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # forced (status, headers)
    bad_high: set[tuple[str, int]] = field(default_factory=set)  # (symbol, kline index) with high < low
    reverse_pages: bool = False  # klines pages sent newest first (the right klines, in the wrong order)
    # observed
    requests: list[dict[str, str]] = field(default_factory=list)
    per_window: dict[int, int] = field(default_factory=dict)
    weight_total: int = 0
    violations: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def klines(state: BinanceState, symbol: str, interval: str) -> list[list[Any]]:
    """Every kline of a symbol up to and including the forming one, oldest first."""
    step = STEP_MS[interval]
    first = int(state.listings[symbol].timestamp() * 1000)
    now = int(state.market_now.timestamp() * 1000)
    seed = int(hashlib.sha1(symbol.encode()).hexdigest()[:8], 16)
    base = 100 + seed % 3000
    rows = []
    for i, t in enumerate(range(first, now + 1, step)):
        c = base * (1 + 0.1 * math.sin(i / 13 + seed % 7))
        o = c * (1 + 0.002 * math.cos(i))
        h, lo = max(o, c) * 1.003, min(o, c) * 0.997
        if (symbol, i) in state.bad_high:
            h = lo * 0.9
        v = 10 + (seed + i * 7919) % 5000 / 7
        rows.append([t, f"{o:.8f}", f"{h:.8f}", f"{lo:.8f}", f"{c:.8f}", f"{v:.8f}", t + step - 1,
                     f"{v * c:.8f}", 100 + i % 50, f"{v / 2:.8f}", f"{v * c / 2:.8f}", "0"])
    return rows


class _Handler(BaseHTTPRequestHandler):
    state: BinanceState
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        st = self.state
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with st.lock:
            st.requests.append({**q, "_path": url.path})
            window = math.floor(time.time() / st.minute_seconds)
            used = st.per_window.get(window, st.other_weight)
            forced = st.script.pop(0) if st.script else None
            weight = WEIGHT.get(url.path, 1)
            over = used + weight > st.weight_per_minute
            if over:
                st.violations += 1
            else:
                used += weight
                st.per_window[window] = used
                st.weight_total += weight
        headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
        if forced is not None:
            status, extra = forced
            msg = {429: (-1003, "Too many requests."), 418: (-1003, "Way too many requests; IP banned.")}
            code, text = msg.get(status, (-1000, "An unknown error occurred while processing the request."))
            self._send(status, {"code": code, "msg": text}, {**headers, **extra})
            return
        if over:
            retry = max(1, math.ceil((window + 1) * st.minute_seconds - time.time()))
            self._send(429, {"code": -1003, "msg": "Too many requests; current limit of IP(127.0.0.1) is "
                             f"{st.weight_per_minute} requests per minute."}, {**headers, "Retry-After": str(retry)})
            return
        if url.path == "/api/v3/exchangeInfo":
            self._exchange_info(q, headers)
            return
        if url.path != "/api/v3/klines":
            self._send(404, {"code": -1000, "msg": "Not found."}, headers)
            return
        symbol, interval = q.get("symbol", ""), q.get("interval", "")
        if symbol not in st.listings:
            self._send(400, {"code": -1121, "msg": "Invalid symbol."}, headers)
            return
        if interval not in STEP_MS:
            self._send(400, {"code": -1120, "msg": "Invalid interval."}, headers)
            return
        limit = int(q.get("limit", "500"))
        if not 1 <= limit <= 1000:
            self._send(400, {"code": -1130, "msg": "Invalid data sent for a parameter."}, headers)
            return
        rows = klines(st, symbol, interval)
        if "startTime" in q:
            rows = [r for r in rows if r[0] >= int(q["startTime"])]
        if "endTime" in q:
            rows = [r for r in rows if r[0] <= int(q["endTime"])]
        page = rows[:limit]
        self._send(200, page[::-1] if st.reverse_pages else page, headers)


    def _exchange_info(self, q: dict[str, str], headers: dict[str, str]) -> None:
        st = self.state
        if "symbol" in q:
            wanted = [q["symbol"]]
        elif "symbols" in q:
            try:
                wanted = json.loads(q["symbols"])
            except ValueError:
                wanted = None
            if not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted):
                self._send(400, {"code": -1100, "msg": "Illegal characters found in parameter 'symbols'."}, headers)
                return
        else:
            wanted = sorted(st.listings)
        if any(w not in st.listings for w in wanted):
            self._send(400, {"code": -1121, "msg": "Invalid symbol."}, headers)
            return
        entries = []
        for w in wanted:
            base, quote = assets_of(w)
            entries.append({"symbol": w, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
                            "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                            "orderTypes": ["LIMIT", "MARKET"], "icebergAllowed": True, "isSpotTradingAllowed": True,
                            "filters": [{"filterType": "PRICE_FILTER", "minPrice": "0.01000000",
                                         "maxPrice": "1000000.00000000", "tickSize": "0.01000000"}],
                            "permissions": [], "permissionSets": [["SPOT"]]})
        self._send(200, {"timezone": "UTC", "serverTime": int(time.time() * 1000),
                         "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                         "limit": st.weight_per_minute}],
                         "exchangeFilters": [], "symbols": entries}, headers)


class FakeBinance(LoopbackServer):
    """Run the fake in a daemon thread: `with FakeBinance(state) as fake: fake.url`."""

    handler = _Handler
