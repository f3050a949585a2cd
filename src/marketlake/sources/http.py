"""Retry policy, the budgeted send, request deadlines and secret hygiene shared by the vendor clients.

Why shared: both vendors need the same answer to "the server failed or was slow": back off
exponentially with full jitter, bounded in attempts and in delay, so a flaky vendor slows a run down
but never hangs it and never hammers the server; and the same rule for a request that never reached
the vendor (connection refused): its credits are refunded. Rate limits (429) are *not* handled here:
they differ per vendor (TwelveData waits for the next minute through the credit budget, Binance
honours `Retry-After`, up to `RetryPolicy.max_wait_s`), so each client keeps its own.

Every request has an overall deadline (`deadline_s`, connect to last body byte). httpx's timeouts are
per socket operation, so a server that drips a byte every few seconds never trips them and would hang
the run (holding the warehouse lock). `bound_requests` installs, under the client's connection pools, a
network backend that clips every connect/read/write timeout to what is left of the current request's
deadline; past it, the request fails as a timeout and is retried like one (bounded).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpcore
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

DEFAULT_DEADLINE_S = 120.0
"""Overall seconds one request may take, connect to last byte (config `request_deadline_s`)."""
MAX_RETRY_AFTER_S = 1e9
"""A `Retry-After` larger than this (or infinite, `1e400`) is read as this: finite, and over any cap."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: delay n is uniform in [0, min(cap, base * 2**n)].

    Attributes:
        max_attempts: attempts per request for 5xx/timeouts (the first try included).
        base_s: first backoff ceiling in seconds.
        cap_s: largest backoff ceiling.
        rate_limit_attempts: how many 429s in a row are waited out before giving up.
        max_wait_s: the longest `Retry-After` waited out; a server asking for more gets a clear
            error instead (waiting hours inside a run, holding the lock, helps nobody).
    """

    max_attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0
    rate_limit_attempts: int = 5
    max_wait_s: float = 120.0
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
        deadline_s: overall seconds per attempt (None: no deadline beyond httpx's timeouts).
    """

    retry: RetryPolicy
    budget: CreditBudget
    vendor: str
    label: str
    path: str
    failures: int = 0
    deadline_s: float | None = None

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
    started = time.monotonic()
    try:
        with request_deadline(attempts.deadline_s):
            return http.get(attempts.path, params=params)
    except httpx.ConnectError as exc:
        attempts.budget.refund(cost)  # never reached the vendor
        attempts.backoff(f"connection failed ({type(exc).__name__})")
    except TRANSIENT_EXCEPTIONS as exc:
        late = attempts.deadline_s is not None and time.monotonic() - started >= attempts.deadline_s
        attempts.backoff(f"no complete answer within {attempts.deadline_s:g}s" if late else type(exc).__name__)
    return None


class _Deadline(threading.local):
    at: float | None = None  # time.monotonic() by which the current request of this thread must be done


_DEADLINE = _Deadline()


@contextmanager
def request_deadline(seconds: float | None) -> Iterator[None]:
    """Bound every network wait of this thread's requests in the block to `seconds` in all (None: off)."""
    previous = _DEADLINE.at
    _DEADLINE.at = None if seconds is None else time.monotonic() + seconds
    try:
        yield
    finally:
        _DEADLINE.at = previous


def _clip(timeout: float | None, error: type[Exception] = httpcore.ReadTimeout) -> float | None:
    at = _DEADLINE.at
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("request deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every wait ends by the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clip(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clip(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _clip(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(host, port, _clip(timeout, httpcore.ConnectTimeout),
                                                       local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, _clip(timeout, httpcore.ConnectTimeout),
                                                               socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bound_requests(client: httpx.Client) -> int:
    """Make `request_deadline` effective for `client`: its connection pools' sockets obey the deadline.

    Covers the default transport and the proxy transports httpx mounts from the environment; a
    transport without an httpcore pool (a test's `MockTransport`) is left as is. Returns the number
    of pools bound (reaches into httpx's and httpcore's pool attributes: the drip test guards it).
    """
    transports = [client._transport, *client._mounts.values()]
    bound = 0
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
            bound += 1
    return bound


def redact(text: str, *secrets: str | None) -> str:
    """`text` with every secret replaced, for messages built from vendor or httpx output."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The `Retry-After` header in seconds (numeric form), if any: finite, at most `MAX_RETRY_AFTER_S`."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


__all__ = ["DEFAULT_DEADLINE_S", "MAX_RETRY_AFTER_S", "TRANSIENT_EXCEPTIONS", "Attempts", "RetryPolicy",
           "bound_requests", "budgeted_get", "redact", "request_deadline", "retry_after_seconds"]
