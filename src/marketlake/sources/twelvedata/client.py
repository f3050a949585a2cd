"""A thin httpx client for TwelveData: the only module of the vendor that does I/O.

Why our own: the official SDK is sync `requests`, calls the network in its constructor and has no
rate limiting or retry. This client charges every request to a `CreditBudget` before sending it,
sends the key in the `Authorization` header (never in the URL), and maps the vendor's errors, which
arrive either as HTTP statuses or as `{"status":"error"}` inside a 200, onto marketlake's exceptions:

- 429 (either form): mark the vendor minute spent, wait for the next one, retry (bounded);
- 5xx and timeouts: exponential backoff with jitter (`RetryPolicy`), bounded;
- 401/403: `AuthError` at once, one clear message;
- per-symbol errors in a batch (404 unknown symbol, ...) are returned to the caller as `WireError`;
  a symbol missing from a batch answer, a malformed answer, or a per-symbol 5xx is asked again (only
  those symbols, with backoff, bounded by `retry.max_attempts`) and, if it persists, returned as a
  retryable error: never as a 404, which would deactivate the symbol.

The key never enters a message, a repr or a URL: it is held as `SecretStr` and redacted from any
text that came back from the vendor or from httpx.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from marketlake.errors import AuthError, ConfigError, RateLimitError, VendorError
from marketlake.sources.budget import CreditBudget
from marketlake.sources.http import (
    DEFAULT_DEADLINE_S,
    Attempts,
    RetryPolicy,
    bound_requests,
    budgeted_get,
    redact,
)
from marketlake.sources.redact import clean_secret
from marketlake.sources.twelvedata.wire import WireError, WireSeries, is_error, parse_list, parse_time_series

log = logging.getLogger(__name__)

VENDOR = "twelvedata"
DEFAULT_BASE_URL = "https://api.twelvedata.com"
MAX_OUTPUTSIZE = 5_000
MAX_BATCH = 120
CREDITS: dict[str, int] = {"/profile": 10, "/splits": 20, "/dividends": 20}
"""Credits per call where not 1 (`/time_series` costs one per symbol)."""


class TwelveDataClient:
    """TwelveData REST endpoints, budgeted and retried.

    Args:
        api_key: the key (from `TWELVEDATA_API_KEY` or the config file).
        budget: credit budget charged before each request.
        base_url: API root; tests point it at a loopback server.
        retry: backoff policy for 5xx and timeouts.
        timeout_s: per socket operation (connect, each read, each write).
        deadline_s: overall seconds per request attempt, however slowly the server answers.
        transport: optional httpx transport (tests).
    """

    def __init__(
        self,
        *,
        api_key: SecretStr | str | None,
        budget: CreditBudget,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        timeout_s: float = 30.0,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if not key:
            raise ConfigError(
                "no TwelveData API key: set TWELVEDATA_API_KEY or [twelvedata] api_key in the config file"
            )
        key = clean_secret(key, name="TwelveData API key")  # stripped, checked, registered for redaction
        self._key = SecretStr(key)
        self.budget = budget
        self.retry = retry or RetryPolicy()
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"apikey {key}", "User-Agent": "marketlake"},
            timeout=timeout_s,
            transport=transport,
        )
        self.deadline_s = deadline_s
        bound_requests(self._http)
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"TwelveDataClient(base_url={self.base_url!r}, plan={self.budget.limits.name!r})"

    def close(self) -> None:
        self.budget.flush()
        self._http.close()

    def __enter__(self) -> TwelveDataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints -----------------------------------------------------------------------------
    def time_series(
        self,
        symbols: Sequence[str],
        *,
        interval: str,
        outputsize: int = MAX_OUTPUTSIZE,
        start_date: datetime | str | None = None,
        end_date: datetime | str | None = None,
        timezone: str | None = None,
        adjust: str = "none",
    ) -> dict[str, WireSeries | WireError]:
        """Bars for up to `MAX_BATCH` symbols in one request (one credit per symbol), newest first.

        `adjust` defaults to `none` (the vendor's own default is `splits`, for daily bars only): every
        interval then arrives as traded, and the pipeline brings it to the stored convention with the
        splits the warehouse knows (`actions.adjust.to_stored_convention`). A vendor-adjusted bar would
        carry the splits known at its fetch, which nothing stored can tell later (docs/corporate-actions.md).

        Symbols whose answer is missing, malformed or a 5xx are asked again (see the module docstring).
        """
        syms = list(symbols)
        if not 1 <= len(syms) <= MAX_BATCH:
            raise ValueError(f"time_series takes 1..{MAX_BATCH} symbols, got {len(syms)}")
        params: dict[str, Any] = {
            "symbol": ",".join(syms),
            "interval": interval,
            "outputsize": min(max(int(outputsize), 1), MAX_OUTPUTSIZE),
            "order": "desc",
            "adjust": adjust,
        }
        if start_date is not None:
            params["start_date"] = _fmt(start_date)
        if end_date is not None:
            params["end_date"] = _fmt(end_date)
        if timezone:
            params["timezone"] = timezone
        answers = parse_time_series(self._get("/time_series", params, credits=len(syms)), syms)
        for attempt in range(1, self.retry.max_attempts):
            again = [s for s, a in answers.items() if isinstance(a, WireError) and a.retryable]
            if not again:
                break
            delay = self.retry.delay(attempt - 1)
            log.info("twelvedata /time_series: no usable answer for %d symbols, asking again in %.2fs",
                     len(again), delay)
            self.budget.clock.sleep(delay)
            params["symbol"] = ",".join(again)
            answers.update(parse_time_series(self._get("/time_series", params, credits=len(again)), again))
        return answers

    def stocks(self, **filters: str) -> list[dict[str, Any]]:
        return self._list("/stocks", filters)

    def etfs(self, **filters: str) -> list[dict[str, Any]]:
        return self._list("/etfs", filters)

    def cryptocurrencies(self, **filters: str) -> list[dict[str, Any]]:
        return self._list("/cryptocurrencies", filters)

    def exchanges(self, **filters: str) -> list[dict[str, Any]]:
        return self._list("/exchanges", filters)

    def symbol_search(self, query: str) -> list[dict[str, Any]]:
        return self._list("/symbol_search", {"symbol": query})

    def profile(self, symbol: str) -> dict[str, Any] | WireError:
        """Company profile (10 credits; paid plans: a 403 comes back as `WireError`, not raised)."""
        body = self._get("/profile", {"symbol": symbol}, credits=CREDITS["/profile"], soft_auth=True)
        return WireError.parse(body) if is_error(body) else dict(body)

    def earliest_timestamp(self, symbol: str, *, interval: str) -> dict[str, Any] | WireError:
        """`{"datetime": "1980-12-12", "unix_time": 345479400}` or the error (e.g. 404)."""
        body = self._get("/earliest_timestamp", {"symbol": symbol, "interval": interval}, credits=1)
        return WireError.parse(body) if is_error(body) else dict(body)

    def api_usage(self) -> dict[str, Any]:
        body = self._get("/api_usage", {}, credits=1)
        return dict(body)

    def request(self, path: str, params: dict[str, Any], *, soft_auth: bool = False) -> Any:
        """One budgeted GET of any endpoint at its `CREDITS` cost (1 unless listed); the decoded body."""
        return self._get(path, dict(params), credits=CREDITS.get(path, 1), soft_auth=soft_auth)

    # -- transport -----------------------------------------------------------------------------
    def _list(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        result = parse_list(self._get(path, dict(params), credits=CREDITS.get(path, 1)))
        if isinstance(result, WireError):
            raise VendorError(
                f"TwelveData {path} failed ({result.code}): {self._clean(result.message)}",
                vendor=VENDOR,
                status=result.code,
                code=result.code,
            )
        return result

    def _get(
        self, path: str, params: dict[str, Any], *, credits: int, soft_auth: bool = False
    ) -> Any:
        """Send one GET under the budget; return the decoded body (errors for one symbol included).

        Raises:
            AuthError: 401/403 (unless `soft_auth`: then the 403 body is returned).
            RateLimitError: 429 persisted over `retry.rate_limit_attempts` vendor minutes.
            VendorError: 5xx/timeouts persisted over `retry.max_attempts`, or an undecodable body.
        """
        attempts = Attempts(self.retry, self.budget, vendor=VENDOR, label="TwelveData", path=path,
                            deadline_s=self.deadline_s)
        limited = 0
        while True:
            resp = budgeted_get(self._http, attempts, params, cost=credits)
            if resp is None:
                continue
            self.requests_sent += 1
            left = resp.headers.get("api-credits-left")
            if left is not None and left.lstrip("-").isdigit():
                self.budget.observe_left(int(left))
            try:
                body = resp.json()
            except ValueError:
                body = None
            code = resp.status_code
            if isinstance(body, dict) and is_error(body):  # errors inside a 200 body, or a real status
                code = WireError.parse(body, default_code=code).code
            if code == 429:
                limited += 1
                if limited > self.retry.rate_limit_attempts:
                    raise RateLimitError(
                        f"TwelveData kept answering 429 on {path} for {limited} vendor minutes; "
                        "lower the plan's credits_per_minute or retry later",
                        vendor=VENDOR,
                        status=429,
                        code=429,
                    )
                self.budget.refund(credits)  # a refused request is not charged by the vendor
                wait = self.budget.exhaust_window()
                log.info("twelvedata 429 on %s: waiting %.2fs for the next minute", path, wait)
                self.budget.clock.sleep(wait)
                continue
            if code in (401, 403):
                if soft_auth and code == 403:
                    return body
                message = WireError.parse(body).message if isinstance(body, dict) else ""
                raise AuthError(
                    f"TwelveData refused the request to {path} ({code}): {self._clean(message)}. "
                    + ("Check TWELVEDATA_API_KEY." if code == 401 else "Your plan lacks this endpoint."),
                    vendor=VENDOR,
                    status=code,
                    code=code,
                )
            if code >= 500 or body is None:
                attempts.backoff(f"HTTP {code}")
                continue
            if resp.status_code >= 400:  # 400/404/414 as real statuses: hand back the error body
                return body if isinstance(body, dict) else {"status": "error", "code": code, "message": ""}
            return body

    def _clean(self, text: str) -> str:
        return redact(text, self._key.get_secret_value())[:300]


def _fmt(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    return value.strftime("%Y-%m-%d %H:%M:%S")


__all__ = ["DEFAULT_BASE_URL", "MAX_BATCH", "MAX_OUTPUTSIZE", "TwelveDataClient", "VENDOR"]
