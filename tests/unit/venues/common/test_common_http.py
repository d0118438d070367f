"""The shared request/retry loop against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import aiohttp
import pytest
from aiohttp import web

from arbkit.venues.common.http import (
    HttpResponse,
    OrderStateUnknown,
    TransportFailure,
    backoff_delay,
    keepalive_session,
    send_with_retries,
)
from arbkit.venues.common.ratelimit import TokenBucket


class Script:
    """Answers each request with the next (status, headers) in ``plan``, then 200."""

    def __init__(self) -> None:
        self.plan: list[tuple[int, dict[str, str]]] = []
        self.seen: list[tuple[float, dict[str, str], bytes]] = []
        self.peers: set[int] = set()

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((time.monotonic(), dict(request.headers), await request.read()))
        self.peers.add(request.transport.get_extra_info("peername")[1])
        status, headers = self.plan.pop(0) if self.plan else (200, {})
        return web.json_response({"n": len(self.seen), "q": dict(request.query)}, status=status, headers=headers)


@pytest.fixture
async def server():
    script = Script()
    app = web.Application()
    app.router.add_route("*", "/x", script.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    script.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/x"
    yield script
    await runner.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _send(session: aiohttp.ClientSession, url: str, **kw) -> HttpResponse:
    kw.setdefault("limiter", TokenBucket(1000.0, 100))
    kw.setdefault("headers", lambda: {"X-A": "1"})
    kw.setdefault("attempts", 4)
    kw.setdefault("backoff_s", 0.02)
    return await send_with_retries(session, "POST", url, **kw)


def test_backoff_is_exponential() -> None:
    assert [backoff_delay(0.2, a) for a in range(4)] == [0.2, 0.4, 0.8, 1.6]


async def test_5xx_is_retried_with_backoff_and_fresh_headers(server: Script) -> None:
    server.plan = [(503, {}), (502, {})]
    counter = iter(range(100))
    sends: list[int] = []
    answers: list[int] = []
    async with keepalive_session(4, 5.0) as session:
        resp = await _send(session, server.url, headers=lambda: {"X-N": str(next(counter))}, data=b"body",
                           params={"k": "v"}, on_send=sends.append,
                           on_response=lambda r, s, e: answers.append(r.status))
    assert resp.status == 200 and resp.body.startswith(b'{"n": 3')
    assert sends == [0, 1, 2] and answers == [503, 502, 200]
    assert [h["X-N"] for _, h, _ in server.seen] == ["0", "1", "2"]  # signed again per attempt
    assert all(b == b"body" for _, _, b in server.seen)
    gaps = [b[0] - a[0] for a, b in zip(server.seen, server.seen[1:])]
    assert gaps[0] >= 0.02 * 0.9 and gaps[1] >= 0.04 * 0.9
    assert len(server.peers) == 1  # one keep-alive connection served all three


async def test_5xx_on_the_last_attempt_is_returned(server: Script) -> None:
    server.plan = [(500, {})] * 3
    async with keepalive_session(4, 5.0) as session:
        resp = await _send(session, server.url, attempts=3)
    assert resp.status == 500 and len(server.seen) == 3


async def test_4xx_is_returned_at_once(server: Script) -> None:
    server.plan = [(400, {}), (200, {})]
    async with keepalive_session(4, 5.0) as session:
        resp = await _send(session, server.url)
    assert resp.status == 400 and len(server.seen) == 1


async def test_429_honours_retry_after_with_a_cap(server: Script) -> None:
    server.plan = [(429, {"Retry-After": "0.3"}), (429, {"Retry-After": "30"})]
    bucket = TokenBucket(1000.0, 100)
    async with keepalive_session(4, 5.0) as session:
        t0 = time.monotonic()
        resp = await _send(session, server.url, limiter=bucket, backoff_s=0.0, max_retry_after_s=0.2)
        elapsed = time.monotonic() - t0
    assert resp.status == 200 and len(server.seen) == 3 and bucket.penalties == 2
    gaps = [b[0] - a[0] for a, b in zip(server.seen, server.seen[1:])]
    assert 0.2 * 0.9 <= gaps[0] < 0.29  # capped at 0.2 s, not the 0.3 s asked
    assert 0.2 * 0.9 <= gaps[1] < 1.0  # capped, not 30 s
    assert elapsed < 2.0


async def test_429_on_the_last_attempt_is_returned(server: Script) -> None:
    server.plan = [(429, {"Retry-After": "0"})] * 2
    async with keepalive_session(4, 5.0) as session:
        resp = await _send(session, server.url, attempts=2)
    assert resp.status == 429 and resp.headers.get("retry-after") == "0"  # case-insensitive headers


async def test_no_response_raises_transport_failure_after_backoff() -> None:
    url = f"http://127.0.0.1:{_free_port()}/x"
    sends: list[int] = []
    async with keepalive_session(4, 5.0) as session:
        t0 = time.monotonic()
        with pytest.raises(TransportFailure) as err:
            await _send(session, url, attempts=3, backoff_s=0.02, on_send=sends.append)
        elapsed = time.monotonic() - t0
    assert sends == [0, 1, 2] and err.value.attempts == 3
    assert isinstance(err.value, ConnectionError) and err.value.last_exc is not None
    assert elapsed >= (0.02 + 0.04 + 0.08) * 0.9


async def test_header_factory_errors_propagate(server: Script) -> None:
    def no_creds() -> dict[str, str]:
        raise RuntimeError("credentials are needed")

    async with keepalive_session(4, 5.0) as session:
        with pytest.raises(RuntimeError, match="credentials"):
            await _send(session, server.url, headers=no_creds)
    assert server.seen == []


def test_order_state_unknown_names_the_order() -> None:
    exc = OrderStateUnknown("polymarket", "0xabc", "HTTP 503")
    assert isinstance(exc, RuntimeError)
    assert (exc.venue, exc.order_id, exc.why) == ("polymarket", "0xabc", "HTTP 503")
    assert "0xabc" in str(exc) and "unknown" in str(exc)
