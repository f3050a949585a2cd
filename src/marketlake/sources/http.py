"""Retry policy, the budgeted send, and secret hygiene shared by the vendor clients.

Why shared: both vendors need the same answer to "the server failed or was slow": back off
exponentially with full jitter, bounded in attempts and in delay, so a flaky vendor slows a run down
but never hangs it and never hammers the server; and the same rule for a request that never reached
the vendor (connection refused): its credits are refunded. Rate limits (429) are *not* handled here:
they differ per vendor (TwelveData waits for the next minute through the credit budget, Binance
honours `Retry-After`), so each client keeps its own.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

import httpx

from marketlake.errors import VendorError
from marketlake.sources.budget import CreditBudget

log = logging.getLogger(__name__)

TRANSIENT_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)
"""httpx failures worth retrying: the request may not have been processed."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: delay n is uniform in [0, min(cap, base * 2**n)].

    Attributes:
        max_attempts: attempts per request for 5xx/timeouts (the first try included).
        base_s: first backoff ceiling in seconds.
        cap_s: largest backoff ceiling.
        rate_limit_attempts: how many 429s in a row are waited out before giving up.
    """

    max_attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0
    rate_limit_attempts: int = 5
    seed: int | None = None
    _rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.seed is not None:
            self._rng.seed(self.seed)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (0-based)."""
        ceiling = min(self.cap_s, self.base_s * (2**attempt))
        return self._rng.uniform(0, ceiling)


@dataclass
class Attempts:
    """One request's retries: failures so far, and the backoff after each (bounded by `retry`).

    Attributes:
        vendor: vendor name for errors and logs (`twelvedata`).
        label: the vendor as a message names it (`TwelveData`).
        path: the endpoint, for messages.
    """

    retry: RetryPolicy
    budget: CreditBudget
    vendor: str
    label: str
    path: str
    failures: int = 0

    def backoff(self, what: str) -> None:
        """Wait before the next attempt after failure `what`.

        Raises:
            VendorError: `retry.max_attempts` attempts have failed.
        """
        self.failures += 1
        if self.failures >= self.retry.max_attempts:
            raise VendorError(f"{self.label} {self.path}: {what} after {self.failures} attempts; the service may "
                              "be down, retry later", vendor=self.vendor)
        delay = self.retry.delay(self.failures - 1)
        log.info("%s %s: %s, retrying in %.2fs", self.vendor, self.path, what, delay)
        self.budget.clock.sleep(delay)


def budgeted_get(http: httpx.Client, attempts: Attempts, params: dict[str, Any], *, cost: int) -> httpx.Response | None:
    """Charge `cost` to the budget, then send one GET; None after a transport failure (backed off: retry).

    A connection that was never made is refunded; a timeout is not (the vendor may have counted it).
    """
    attempts.budget.acquire(cost)
    try:
        return http.get(attempts.path, params=params)
    except httpx.ConnectError as exc:
        attempts.budget.refund(cost)  # never reached the vendor
        attempts.backoff(f"connection failed ({type(exc).__name__})")
    except TRANSIENT_EXCEPTIONS as exc:
        attempts.backoff(type(exc).__name__)
    return None


def redact(text: str, *secrets: str | None) -> str:
    """`text` with every secret replaced, for messages built from vendor or httpx output."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The `Retry-After` header in seconds (numeric form), if any."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


__all__ = ["TRANSIENT_EXCEPTIONS", "Attempts", "RetryPolicy", "budgeted_get", "redact", "retry_after_seconds"]
