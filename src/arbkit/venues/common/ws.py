"""The reconnecting WebSocket client loop shared by every venue stream.

:class:`ConnectionLink` is one connection's bookkeeping (state, open socket, backoff attempt);
each state change is announced as a ``ConnectionStateChanged`` event. :func:`run_reconnecting`
connects, hands the socket to the venue's ``serve`` coroutine (subscriptions, frames, pings: the
venue protocol), closes it, and reconnects after an exponential backoff with jitter until
``stop`` is set. The venue resets ``link.attempt`` when the connection has proven itself (a data
frame, a successful login), so a flapping connection backs off further and a healthy one does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any, Awaitable, Callable

import msgspec
import websockets
from websockets.asyncio.client import connect as _ws_connect

from arbkit.core.enums import ConnectionState, Venue
from arbkit.core.events import ConnectionStateChanged, Event
from arbkit.venues.base import EventSink

log = logging.getLogger("arbkit.venues.ws")

CONNECT_ERRORS = (OSError, asyncio.TimeoutError, websockets.WebSocketException)
"""What a failed connection attempt raises (refused, unreachable, timed out, handshake refused)."""
LOST_ERRORS = (websockets.WebSocketException, OSError)
"""What a connection lost while serving raises."""


class Backoff:
    """Exponential reconnect delays, ``initial_s * 2**attempt`` capped at ``max_s``, each drawn
    at random from [50 %, 100 %] of that so many clients (or shards) do not reconnect in step."""

    __slots__ = ("initial_s", "max_s", "_rng")

    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got {initial_s}, {max_s}")
        self.initial_s = initial_s
        self.max_s = max_s
        self._rng = rng or random.Random()

    def delay_s(self, attempt: int) -> float:
        base = min(self.max_s, self.initial_s * (2 ** min(attempt, 16)))  # min(): no huge ints
        return base * (0.5 + self._rng.random() / 2)


class ConnectionLink:
    """One WebSocket connection of a venue stream: its state (each change announced through
    ``emit``), the open socket (None between connections) and the backoff attempt."""

    __slots__ = ("venue", "name", "state", "ws", "attempt", "_emit", "_now_ns")

    def __init__(self, venue: Venue, name: str, emit: Callable[[Event], None], now_ns: Callable[[], int]) -> None:
        self.venue = venue
        self.name = name
        self.state = ConnectionState.DISCONNECTED
        self.ws: Any = None
        self.attempt = 0
        self._emit = emit
        self._now_ns = now_ns

    def set_state(self, state: ConnectionState, reason: str = "") -> None:
        """Move to ``state``; announces it only when it is a change."""
        if self.state is state:
            return
        self.state = state
        self._emit(ConnectionStateChanged(venue=self.venue, connection=self.name, state=state, reason=reason,
                                          ts_recv=self._now_ns()))


class GuardedEmit:
    """Mixin: ``_emit(event)`` hands an event to ``self.sink``; a consumer that raises is logged
    (on the class's ``_log``), never propagated into the stream that produced the event."""

    __slots__ = ()
    sink: EventSink
    _log: logging.Logger = log

    def _emit(self, event: Event) -> None:
        try:
            self.sink(event)
        except Exception:  # noqa: BLE001 - a failing consumer must not break the feed
            self._log.exception("event sink raised on %s", type(event).__name__)


class SingleLinkStream(GuardedEmit):
    """Mixin for a stream over one connection held in ``self._link``: its public state and name."""

    __slots__ = ()
    _link: ConnectionLink

    @property
    def state(self) -> ConnectionState:
        return self._link.state

    @property
    def connection_name(self) -> str:
        return self._link.name


async def connect_ws(url: str, *, timeout_s: float, headers: dict[str, str] | None = None,
                     ping_interval_s: float | None = None, ping_timeout_s: float | None = 20.0):
    """Open a client WebSocket within ``timeout_s`` (handshake included). No frame size limit
    (books can be large) and no compression (costs CPU on every frame for little gain).
    ``ping_interval_s=None``: the venue protocol pings itself (text PING/PONG)."""
    async with asyncio.timeout(timeout_s):
        return await _ws_connect(url, additional_headers=headers, ping_interval=ping_interval_s,
                                 ping_timeout=ping_timeout_s, max_size=None, compression=None, open_timeout=timeout_s)


async def close_quietly(ws: Any) -> None:
    """Close a socket that may already be closed or broken."""
    with contextlib.suppress(Exception):
        await ws.close()


async def send_quietly(ws: Any, payload: dict | str) -> None:
    """Send a text frame (a dict as JSON); a connection that is going away is not an error here -
    the reader notices and the loop reconnects."""
    if ws is None:
        return
    text = payload if isinstance(payload, str) else msgspec.json.encode(payload).decode()
    with contextlib.suppress(Exception):
        await ws.send(text)


async def wait_or_stop(stop: asyncio.Event, delay_s: float) -> None:
    """Sleep ``delay_s``, returning early when ``stop`` is set."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), delay_s)


async def run_reconnecting(link: ConnectionLink, stop: asyncio.Event, connect: Callable[[], Awaitable[Any]],
                           serve: Callable[[Any], Awaitable[None]], backoff: Backoff, *,
                           closed_reason: str = "connection closed",
                           on_closed: Callable[[], None] | None = None,
                           on_retry: Callable[[str, float], None] | None = None,
                           ready: Callable[[], bool] | None = None) -> None:
    """Keep ``link`` connected until ``stop`` is set.

    Each round: CONNECTING, ``connect()``, ``serve(ws)`` (``link.ws`` is set meanwhile; ``serve``
    announces CONNECTED once the venue protocol says so), close; then ``on_closed()`` (also when
    stopping: subscriptions die with the socket), DISCONNECTED with the reason, ``on_retry(reason,
    delay)`` and the backoff wait. ``ready()`` false means nothing to connect for yet (polled).
    Returns with the link in whatever state the last round left; the caller announces "stopped".
    """
    while not stop.is_set():
        if ready is not None and not ready():
            await wait_or_stop(stop, 0.2)
            continue
        link.set_state(ConnectionState.CONNECTING)
        try:
            ws = await connect()
        except CONNECT_ERRORS as exc:
            reason = f"connect failed: {exc!r}"
        else:
            link.ws = ws
            try:
                await serve(ws)
                reason = closed_reason
            except LOST_ERRORS as exc:
                reason = f"connection lost: {exc!r}"
            finally:
                link.ws = None
                await close_quietly(ws)
        if on_closed is not None:
            on_closed()
        if stop.is_set():
            break
        link.set_state(ConnectionState.DISCONNECTED, reason)
        delay = backoff.delay_s(link.attempt)
        link.attempt += 1
        if on_retry is not None:
            on_retry(reason, delay)
        log.info("%s: %s; reconnecting in %.2fs", link.name, reason, delay)
        await wait_or_stop(stop, delay)
