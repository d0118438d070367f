"""REST plumbing shared by the venue gateways: one request with rate limiting and retries.

Each gateway keeps its own signing (a header factory called once per attempt, so every retry
carries a fresh timestamp/signature) and its own error mapping (what a 4xx body means); this
module only owns the part that was the same everywhere:

- every attempt waits for the token bucket first;
- a transport error (connection refused/reset, timeout) sleeps ``backoff_s * 2**attempt`` and
  retries; when every attempt failed that way, :class:`TransportFailure` is raised;
- 429 penalises the bucket by the ``Retry-After`` header (capped at ``max_retry_after_s``) and
  retries without an extra sleep (the bucket already makes the request wait);
- 5xx sleeps ``backoff_s * 2**attempt`` and retries;
- the last response, whatever its status, is returned to the gateway to interpret.

Requests that create something (an order) are sent with ``retry_unanswered=False``: a request
that may have been processed is never sent again blindly (issue 11 item 3). Then a timeout, a
dropped connection or an unreadable exchange raises :class:`TransportFailure` after ONE attempt
and a 5xx is returned at once; only answers that say the request was not processed are retried:
429 (refused by the rate limiter) and a connection that could not even be opened
(``aiohttp.ClientConnectorError``: nothing was sent). The gateway then asks the venue whether the
order exists before it sends anything again.

It also defines :class:`OrderStateUnknown`, the answer to "does the venue have this order?"
when the venue could not say (transport failure, 5xx after retries, refused credentials):
recovery must read it as "maybe sent" -- never resend, ask again later -- and never as None.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from multidict import CIMultiDict

from arbkit.venues.common.ratelimit import parse_retry_after

log = logging.getLogger("arbkit.venues.http")

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class OrderStateUnknown(RuntimeError):
    """The venue did not say whether it has an order (transport failure, 5xx after retries,
    refused credentials, an unreadable answer). Not the same as "never saw it" (None): the order
    may exist, so it must not be sent again; ask again later."""

    def __init__(self, venue: str, order_id: str, why: str) -> None:
        super().__init__(f"{venue}: state of order {order_id!r} is unknown: {why}")
        self.venue = venue
        self.order_id = order_id
        self.why = why


class TransportFailure(ConnectionError):
    """No HTTP response came back after every attempt."""

    def __init__(self, method: str, url: str, attempts: int, last_exc: BaseException | None) -> None:
        super().__init__(f"{method} {url}: no response after {attempts} attempt(s) ({last_exc!r})")
        self.attempts = attempts
        self.last_exc = last_exc


class Limiter(Protocol):
    async def acquire(self) -> Any: ...

    def penalize(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    headers: CIMultiDict = field(default_factory=CIMultiDict)  # header names are case-insensitive


def backoff_delay(backoff_s: float, attempt: int) -> float:
    """Sleep before retry number ``attempt + 1`` (attempt counts from 0): exponential."""
    return backoff_s * (2**attempt)


def keepalive_session(pool_size: int, timeout_s: float, keepalive_s: float = 60.0,
                      ttl_dns_cache_s: int = 10) -> aiohttp.ClientSession:
    """A pooled keep-alive session (TLS handshakes are paid once per connection, not per call)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=pool_size, keepalive_timeout=keepalive_s, ttl_dns_cache=ttl_dns_cache_s),
        timeout=aiohttp.ClientTimeout(total=timeout_s),
    )


async def send_with_retries(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    limiter: Limiter,
    headers: Callable[[], Mapping[str, str]],
    attempts: int,
    backoff_s: float,
    params: Mapping[str, Any] | None = None,
    data: bytes | str | None = None,
    max_retry_after_s: float = math.inf,
    on_send: Callable[[int], None] | None = None,
    on_response: Callable[[HttpResponse, int, int], None] | None = None,
    label: str = "",
    retry_unanswered: bool = True,
) -> HttpResponse:
    """Send one request with the retry rules in the module docstring and return the last response.

    ``headers()`` is called before each attempt (signatures carry a timestamp). ``on_send(attempt)``
    runs before each attempt goes out; ``on_response(resp, sent_ms, recv_ms)`` after each response
    (429 and 5xx included). Raises :class:`TransportFailure` when no response came at all.
    """
    attempts = max(1, attempts)
    name = label or f"{method} {url}"
    last_exc: BaseException | None = None
    for attempt in range(attempts):
        await limiter.acquire()
        hdrs = dict(headers())
        if on_send is not None:
            on_send(attempt)
        sent_ms = time.time_ns() // 1_000_000
        try:
            async with session.request(method, url, params=params, data=data, headers=hdrs) as r:
                raw = await r.read()
                resp = HttpResponse(r.status, raw, CIMultiDict(r.headers))
        except TRANSPORT_ERRORS as exc:
            last_exc = exc
            log.warning("%s failed (%r), attempt %d/%d", name, exc, attempt + 1, attempts)
            if not retry_unanswered and not isinstance(exc, aiohttp.ClientConnectorError):
                raise TransportFailure(method, url, attempt + 1, exc) from exc  # may have been processed
            await asyncio.sleep(backoff_delay(backoff_s, attempt))
            continue
        if on_response is not None:
            on_response(resp, sent_ms, time.time_ns() // 1_000_000)
        last = attempt + 1 >= attempts
        if resp.status == 429:
            wait = min(max_retry_after_s, parse_retry_after(resp.headers.get("Retry-After")))
            limiter.penalize(wait)
            log.warning("%s: 429, waiting %.2fs", name, wait)
            if not last:
                continue
        elif resp.status >= 500 and not last and retry_unanswered:
            log.warning("%s: HTTP %d, retrying", name, resp.status)
            await asyncio.sleep(backoff_delay(backoff_s, attempt))
            continue
        return resp
    raise TransportFailure(method, url, attempts, last_exc)
