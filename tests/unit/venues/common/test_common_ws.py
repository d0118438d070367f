"""The shared reconnect loop over real WebSockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest
import websockets

from arbkit.core.enums import ConnectionState, Venue
from arbkit.core.events import ConnectionStateChanged
from arbkit.venues.common.ws import (
    Backoff,
    ConnectionLink,
    GuardedEmit,
    SingleLinkStream,
    close_quietly,
    connect_ws,
    run_reconnecting,
    send_quietly,
    wait_or_stop,
)


def test_backoff_doubles_caps_and_jitters() -> None:
    b = Backoff(0.5, 4.0, random.Random(7))
    for attempt, base in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (10, 4.0), (10_000, 4.0)]:
        d = b.delay_s(attempt)
        assert base * 0.5 <= d <= base
    assert len({round(b.delay_s(3), 6) for _ in range(20)}) > 1  # jitter: not in step
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(2, 1)


def test_link_announces_changes_only() -> None:
    events: list[ConnectionStateChanged] = []
    link = ConnectionLink(Venue.KALSHI, "kalshi.test.0", events.append, lambda: 42)
    link.set_state(ConnectionState.CONNECTING)
    link.set_state(ConnectionState.CONNECTING)
    link.set_state(ConnectionState.DISCONNECTED, "gone")
    assert [(e.state, e.reason, e.connection, e.venue, e.ts_recv) for e in events] == [
        (ConnectionState.CONNECTING, "", "kalshi.test.0", Venue.KALSHI, 42),
        (ConnectionState.DISCONNECTED, "gone", "kalshi.test.0", Venue.KALSHI, 42),
    ]


class _Stream(SingleLinkStream):
    def __init__(self, sink) -> None:
        self.sink = sink
        self._link = ConnectionLink(Venue.POLYMARKET, "pm.test", self._emit, lambda: 1)


def test_guarded_emit_swallows_a_failing_sink_and_exposes_the_link(caplog) -> None:
    def boom(event) -> None:
        raise RuntimeError("consumer bug")

    s = _Stream(boom)
    s._link.set_state(ConnectionState.CONNECTED)  # must not raise into the stream
    assert s.state is ConnectionState.CONNECTED and s.connection_name == "pm.test"
    assert "event sink raised on ConnectionStateChanged" in caplog.text
    assert issubclass(_Stream, GuardedEmit)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_reconnects_after_the_server_drops_and_after_failed_connects() -> None:
    served: list[str] = []

    async def handler(ws) -> None:
        served.append(await ws.recv())
        if len(served) == 1:
            await ws.close()  # first connection: the venue hangs up
        else:
            await ws.send("hello again")
            await ws.wait_closed()

    server = await websockets.serve(handler, "127.0.0.1", 0)
    url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    events: list[ConnectionStateChanged] = []
    link = ConnectionLink(Venue.KALSHI, "k.0", events.append, lambda: 0)
    stop = asyncio.Event()
    closed: list[bool] = []
    retries: list[str] = []
    got: list[str] = []

    async def serve(ws) -> None:
        assert link.ws is ws
        await ws.send(f"sub {len(closed)}")
        link.set_state(ConnectionState.CONNECTED)
        async for raw in ws:
            got.append(raw)
            link.attempt = 0
            stop.set()
            await close_quietly(ws)

    try:
        await asyncio.wait_for(run_reconnecting(
            link, stop, lambda: connect_ws(url, timeout_s=5), serve, Backoff(0.01, 0.02),
            closed_reason="closed by venue", on_closed=lambda: closed.append(stop.is_set()),
            on_retry=lambda reason, delay: retries.append(reason)), 10)
    finally:
        server.close()
        await server.wait_closed()
    assert served == ["sub 0", "sub 1"] and got == ["hello again"]
    assert retries == ["closed by venue"] and closed == [False, True]  # on_closed also when stopping
    assert link.ws is None and link.attempt == 0
    states = [e.state for e in events]
    assert states == [ConnectionState.CONNECTING, ConnectionState.CONNECTED, ConnectionState.DISCONNECTED,
                      ConnectionState.CONNECTING, ConnectionState.CONNECTED]


async def test_connect_failures_back_off_and_stop_ends_the_wait() -> None:
    url = f"ws://127.0.0.1:{_free_port()}"  # nobody listens
    events: list[ConnectionStateChanged] = []
    link = ConnectionLink(Venue.POLYMARKET, "p.0", events.append, lambda: 0)
    stop = asyncio.Event()
    reasons: list[str] = []

    def retry(reason: str, delay: float) -> None:
        reasons.append(reason)
        if len(reasons) == 3:
            stop.set()  # during the backoff wait: the loop must end at once, not after the delay

    async def serve(ws) -> None:
        raise AssertionError("never connects")

    t0 = asyncio.get_running_loop().time()
    await asyncio.wait_for(run_reconnecting(link, stop, lambda: connect_ws(url, timeout_s=2), serve,
                                            Backoff(0.01, 60.0), on_retry=retry), 10)
    assert len(reasons) == 3 and all(r.startswith("connect failed:") for r in reasons)
    assert link.attempt == 3 and asyncio.get_running_loop().time() - t0 < 5
    assert events[-1].state is ConnectionState.DISCONNECTED


async def test_not_ready_means_no_connection_attempt() -> None:
    link = ConnectionLink(Venue.KALSHI, "k.idle", lambda e: None, lambda: 0)
    stop = asyncio.Event()
    polls: list[int] = []

    def ready() -> bool:
        polls.append(1)
        if len(polls) == 2:
            stop.set()
        return False

    async def connect():
        raise AssertionError("must not connect")

    await asyncio.wait_for(run_reconnecting(link, stop, connect, connect, Backoff(0.01, 0.01), ready=ready), 5)
    assert link.state is ConnectionState.DISCONNECTED and len(polls) == 2


async def test_send_quietly_and_wait_or_stop() -> None:
    received: list[str] = []

    async def handler(ws) -> None:
        async for msg in ws:
            received.append(msg)

    server = await websockets.serve(handler, "127.0.0.1", 0)
    try:
        ws = await connect_ws(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", timeout_s=5)
        await send_quietly(ws, {"op": "subscribe", "ids": [1]})
        await send_quietly(ws, "PING")
        await send_quietly(None, "nothing")
        await close_quietly(ws)
        await send_quietly(ws, "after close")  # not an error: the reader notices the close
        await close_quietly(ws)
    finally:
        server.close()
        await server.wait_closed()
    assert received == ['{"op":"subscribe","ids":[1]}', "PING"]
    stop = asyncio.Event()
    stop.set()
    t0 = asyncio.get_running_loop().time()
    await wait_or_stop(stop, 30)
    assert asyncio.get_running_loop().time() - t0 < 1
