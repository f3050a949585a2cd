"""The toy vendor's server on loopback: `GET /v1/bars?symbol=&from=&to=&limit=` -> `{"bars": [[t, o, h, l, c, v]]}`.

Bars are daily (open time in epoch seconds, 00:00 UTC), oldest first, from `from` (inclusive), at most
`limit` per answer, the still-forming bar of `market_now` included (as real vendors send it); an unknown
symbol is HTTP 404 `{"error": "unknown symbol X"}`. Every request is logged for the tests' oracles.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.vendors.loopback import LoopbackServer

DAY = 86_400


@dataclass
class ToyState:
    listings: dict[str, date]
    market_now: datetime = field(default_factory=lambda: datetime.now(UTC))
    requests: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def toy_bars(state: ToyState, symbol: str) -> list[list[Any]]:
    """Every bar of `symbol` the toy vendor has, forming one included: the tests' independent oracle."""
    first = datetime.combine(state.listings[symbol], datetime.min.time(), tzinfo=UTC)
    out = []
    day, i = first, 0
    while day <= state.market_now:
        close = 50.0 + i + (len(symbol) % 3)
        out.append([int(day.timestamp()), close - 0.5, close + 1.0, close - 1.5, close, 1_000.0 + i])
        day, i = day + timedelta(days=1), i + 1
    return out


class _Handler(BaseHTTPRequestHandler):
    state: ToyState

    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.state.lock:
            self.state.requests.append({"_path": url.path, **q})
        if url.path != "/v1/bars":
            return self._send(404, {"error": f"no endpoint {url.path}"})
        symbol = q.get("symbol", "")
        if symbol not in self.state.listings:
            return self._send(404, {"error": f"unknown symbol {symbol}"})
        lo, hi, limit = int(q.get("from", 0)), int(q.get("to", 2**40)), int(q.get("limit", 100))
        bars = [b for b in toy_bars(self.state, symbol) if lo <= b[0] <= hi][:limit]
        self._send(200, {"symbol": symbol, "bars": bars})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeToy(LoopbackServer):
    handler = _Handler
