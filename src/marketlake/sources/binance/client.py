"""A thin httpx client for Binance public market data: the only module of the vendor that does I/O.

Binance limits by request *weight* per minute per IP (klines: weight 2). The client charges each call
to a `CreditBudget` counting weight before sending it, and adopts the server's own count from the
`X-MBX-USED-WEIGHT-1M` header when that says more was used (other processes on the same IP count too).

Errors:
- 429: the weight limit was hit; wait `Retry-After` seconds (else until the next minute), retry, bounded;
  a `Retry-After` over `RetryPolicy.max_wait_s` (100000, 1e400) is a `RateLimitError` at once;
- 418: the IP is banned for repeatedly ignoring 429s: `RateLimitError` at once, with the ban length;
  retrying would only extend the ban;
- 5xx and timeouts: exponential backoff with jitter (`RetryPolicy`), bounded, then `VendorError`;
- other 4xx (e.g. `{"code":-1121,"msg":"Invalid symbol."}`): returned to the caller as `WireError`.
No key is needed for public klines, so there is no secret to leak.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx

from marketlake.errors import RateLimitError
from marketlake.sources.binance.wire import Kline, WireError, WireSymbol, parse_exchange_info, parse_klines
from marketlake.sources.budget import CreditBudget
from marketlake.sources.http import (
    DEFAULT_DEADLINE_S,
    Attempts,
    RetryPolicy,
    bound_requests,
    budgeted_get,
    retry_after_seconds,
)

log = logging.getLogger(__name__)

VENDOR = "binance"
DEFAULT_BASE_URL = "https://api.binance.com"
KLINES_PATH = "/api/v3/klines"
KLINES_WEIGHT = 2
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
EXCHANGE_INFO_WEIGHT = 20
MAX_LIMIT = 1000
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"


class BinanceClient:
    """Binance public REST endpoints, weight-budgeted and retried.

    Args:
        budget: weight budget (per-minute weight limit) charged before each request.
        base_url: API root (`BINANCE_BASE_URL` / `[binance] base_url`); tests point it at loopback.
        retry: backoff policy for 5xx/timeouts and the number of 429s waited out.
        timeout_s: per socket operation (connect, each read, each write).
        deadline_s: overall seconds per request attempt, however slowly the server answers.
        transport: optional httpx transport.
    """

    def __init__(
        self,
        *,
        budget: CreditBudget,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        timeout_s: float = 30.0,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.budget = budget
        self.retry = retry or RetryPolicy()
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers={"User-Agent": "marketlake"},
                                  timeout=timeout_s, transport=transport)
        self.deadline_s = deadline_s
        bound_requests(self._http)
        self.requests_sent = 0
        self.used_weight: int | None = None  # last X-MBX-USED-WEIGHT-1M seen

    def __repr__(self) -> str:
        return f"BinanceClient(base_url={self.base_url!r}, weight_per_minute={self.budget.per_minute})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BinanceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def klines(
        self,
        symbol: str,
        *,
        interval: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = MAX_LIMIT,
    ) -> list[Kline] | WireError:
        """Up to `limit` klines from `start_ms`, oldest first (weight 2), or the vendor's error."""
        params: dict[str, Any] = {"symbol": symbol, "interval": interval, "limit": min(max(int(limit), 1), MAX_LIMIT)}
        if start_ms is not None:
            params["startTime"] = int(start_ms)
        if end_ms is not None:
            params["endTime"] = int(end_ms)
        status, body = self._get(KLINES_PATH, params, weight=KLINES_WEIGHT)
        return parse_klines(body, status=status)

    def exchange_info(self, symbols: Sequence[str] | None = None) -> list[WireSymbol] | WireError:
        """Base and quote asset of `symbols` (all pairs when None), weight 20.

        Binance refuses the whole request (-1121) when one of `symbols` does not exist.
        """
        params: dict[str, Any] = {}
        if symbols:
            params["symbols"] = json.dumps(list(symbols), separators=(",", ":"))
        status, body = self._get(EXCHANGE_INFO_PATH, params, weight=EXCHANGE_INFO_WEIGHT)
        return parse_exchange_info(body, status=status)

    def _get(self, path: str, params: dict[str, Any], *, weight: int) -> tuple[int, Any]:
        """One GET under the weight budget: (HTTP status, decoded body) for 2xx and non-retryable 4xx.

        Raises:
            RateLimitError: 418 (banned), or 429 persisting over `retry.rate_limit_attempts`.
            VendorError: 5xx/timeouts persisting over `retry.max_attempts`, or an undecodable 2xx body.
        """
        attempts = Attempts(self.retry, self.budget, vendor=VENDOR, label="Binance", path=path,
                            deadline_s=self.deadline_s)
        limited = 0
        while True:
            resp = budgeted_get(self._http, attempts, params, cost=weight)
            if resp is None:
                continue
            self.requests_sent += 1
            self._observe_weight(resp)
            try:
                body = resp.json()
            except ValueError:
                body = None
            code = resp.status_code
            if code == 418:
                wait = retry_after_seconds(resp)
                raise RateLimitError(
                    f"Binance has banned this IP (HTTP 418) for {wait:.0f}s after repeated 429s; "
                    "stop every Binance job until then and lower [binance] weight_per_minute"
                    if wait is not None else
                    "Binance has banned this IP (HTTP 418) after repeated 429s; stop every Binance job for a "
                    "while and lower [binance] weight_per_minute",
                    vendor=VENDOR, retry_after_s=wait, status=418, code=_code(body))
            if code == 429:
                limited += 1
                wait = retry_after_seconds(resp)
                if limited > self.retry.rate_limit_attempts:
                    raise RateLimitError(
                        f"Binance kept answering 429 on {path} ({limited} times); lower [binance] "
                        "weight_per_minute or retry later", vendor=VENDOR, retry_after_s=wait, status=429,
                        code=_code(body))
                if wait is not None and wait > self.retry.max_wait_s:
                    raise RateLimitError(
                        f"Binance answered 429 on {path} asking to wait {wait:.0f}s (Retry-After), longer than "
                        f"the {self.retry.max_wait_s:.0f}s a run waits; retry after that, and lower [binance] "
                        "weight_per_minute", vendor=VENDOR, retry_after_s=wait, status=429, code=_code(body))
                next_window = self.budget.exhaust_window()
                wait = next_window if wait is None else wait
                log.info("binance 429 on %s: waiting %.2fs (Retry-After)", path, wait)
                self.budget.clock.sleep(wait)
                continue
            if code >= 500 or (code < 400 and body is None):
                attempts.backoff(f"HTTP {code}")
                continue
            return code, body

    def _observe_weight(self, resp: httpx.Response) -> None:
        raw = resp.headers.get(WEIGHT_HEADER)
        if raw is not None and raw.strip().isdigit():
            self.used_weight = int(raw)
            self.budget.observe_left(self.budget.per_minute - self.used_weight)


def _code(body: Any) -> int | None:
    return body.get("code") if isinstance(body, dict) and isinstance(body.get("code"), int) else None


__all__ = ["DEFAULT_BASE_URL", "EXCHANGE_INFO_WEIGHT", "KLINES_WEIGHT", "MAX_LIMIT", "VENDOR", "WEIGHT_HEADER", "BinanceClient"]
