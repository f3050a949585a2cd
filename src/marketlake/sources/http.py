"""Retry policy and secret hygiene shared by the vendor clients.

Why shared: both vendors need the same answer to "the server failed or was slow": back off
exponentially with full jitter, bounded in attempts and in delay, so a flaky vendor slows a run down
but never hangs it and never hammers the server. Rate limits (429) are *not* handled here: they wait
for the next vendor minute through the credit budget, which knows when that is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import httpx

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


__all__ = ["TRANSIENT_EXCEPTIONS", "RetryPolicy", "redact", "retry_after_seconds"]
