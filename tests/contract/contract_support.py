"""Helpers of the shared venue contract suite (tests/contract/): the simulator's admin endpoint,
waiting, order building, book comparison and a loopback WebSocket proxy that injects frames."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from decimal import ROUND_CEILING, Decimal
from typing import Any, Awaitable, Callable, Iterable

import aiohttp
import websockets
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

from arbkit.core.enums import InstrumentKind, Side, TimeInForce
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest
from arbkit.venues.contract import VenueBundle

Levels = list[tuple[Decimal, Decimal]]  # (price, size), best first

# --- admin -----------------------------------------------------------------------------------------


class SimAdmin:
    """The simulator's admin endpoint (the truth the packages are compared with)."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session
        self.faults_added: list[str] = []  # removed at teardown: a failed test leaves none behind

    async def _call(self, method: str, path: str, body: Any = None, params: dict | None = None) -> Any:
        async with self.session.request(method, self.url + path, json=body, params=params) as r:
            text = await r.text()
            if r.status >= 300:
                raise AssertionError(f"admin {method} {path}: HTTP {r.status} {text[:300]}")
            return json.loads(text, parse_float=Decimal) if text else None

    async def book(self, venue_key: str, symbol: str) -> tuple[Levels, Levels]:
        v = await self._call("GET", f"/books/{venue_key}/{symbol}")
        conv = lambda levels: [(Decimal(p), Decimal(s)) for p, s in levels]  # noqa: E731
        return conv(v["bids"]), conv(v["asks"])

    async def account(self, venue_key: str, account_id: str) -> dict:
        return await self._call("GET", f"/accounts/{venue_key}/{account_id}")

    async def orders(self, venue_key: str, account_id: str) -> list[dict]:
        return await self._call("GET", f"/orders/{venue_key}", params={"account": account_id})

    async def trades(self, venue_key: str, account_id: str) -> list[dict]:
        return await self._call("GET", f"/trades/{venue_key}", params={"account": account_id})

    async def add_fault(self, spec: dict) -> str:
        fid = (await self._call("POST", "/faults", spec))["ids"][0]
        self.faults_added.append(fid)
        return fid

    async def remove_fault(self, fault_id: str) -> None:
        async with self.session.delete(f"{self.url}/faults/{fault_id}") as r:
            assert r.status in (200, 404), f"DELETE /faults/{fault_id}: {r.status}"  # 404: used up

    async def fired(self, fault_id: str) -> list[dict]:
        return [f for f in await self._call("GET", "/faults/fired") if f["id"] == fault_id]


# --- helpers -------------------------------------------------------------------------------------


def coid(tag: str) -> str:
    """A client order id unique across the session (the simulator lives for all tests)."""
    return f"ct-{tag}-{uuid.uuid4().hex[:12]}"


def trade_instrument(bundle: VenueBundle, index: int = 0) -> Instrument:
    """The ``index``-th YES instrument of a binary (not neg-risk) market, preferring markets with a
    taker fee so fee assertions are not trivially zero."""
    yes = [i for i in bundle.instruments
           if i.kind is InstrumentKind.OUTCOME and (i.outcome or "").upper() == "YES" and not i.neg_risk]
    if not yes:  # a spot venue (KuCoin): its pairs, fee pairs first, in catalogue order
        yes = [i for i in bundle.instruments if i.kind is InstrumentKind.SPOT]
    yes.sort(key=lambda i: i.fee.taker_rate == 0)  # stable: fee markets first, catalogue order kept
    assert yes, f"{bundle.venue.value}: no binary YES instrument in the bundle"
    return yes[index % len(yes)]


def order_quantity(inst: Instrument, at_least: Decimal = Decimal(5)) -> Decimal:
    """A valid quantity >= ``at_least`` and >= the venue minimum, on the size increment."""
    q = max(at_least, inst.min_size)
    return (q / inst.size_increment).to_integral_value(rounding=ROUND_CEILING) * inst.size_increment


def request(inst: Instrument, client_order_id: str, side: Side, quantity: Decimal, price: Decimal,
            **kw: Any) -> OrderRequest:
    return OrderRequest(instrument=inst, client_order_id=client_order_id, side=side, quantity=quantity,
                        price=price, **kw)


def ioc(inst: Instrument, client_order_id: str, side: Side, quantity: Decimal, price: Decimal) -> OrderRequest:
    return request(inst, client_order_id, side, quantity, price, time_in_force=TimeInForce.IOC)


async def eventually(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition",
                     interval: float = 0.02) -> float:
    """Wait until ``pred()``; returns the seconds it took; AssertionError naming ``what`` on timeout."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what}: not reached within {timeout} s")
        await asyncio.sleep(interval)
    return time.monotonic() - t0


async def eventually_async(pred: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition",
                           interval: float = 0.1) -> None:
    t0 = time.monotonic()
    while not await pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what}: not reached within {timeout} s")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running(*services: Any):
    """Run feeds / user streams (``run()``) for the block; stop them and check they ended."""
    tasks = [asyncio.create_task(s.run(), name=f"contract-{type(s).__name__}") for s in services]
    try:
        yield tasks
    finally:
        for s in services:
            await s.stop()
        done, pending = await asyncio.wait(tasks, timeout=10)
        for t in pending:
            t.cancel()
        assert not pending, f"{[t.get_name() for t in pending]} did not stop within 10 s of stop()"
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise AssertionError(f"{t.get_name()} ended with {t.exception()!r}") from t.exception()


def feed_levels(book) -> tuple[Levels, Levels] | None:
    """(bids, asks) of a feed book, best first, as Decimal (price, size); None without a book."""
    if book is None:
        return None
    bids, asks = book.snapshot_levels()
    return [(Decimal(p), Decimal(s)) for p, s in bids], [(Decimal(p), Decimal(s)) for p, s in asks]


async def books_equal_sim(feed, admin: SimAdmin, bundle: VenueBundle, instruments: Iterable[Instrument],
                          timeout: float = 8.0) -> None:
    """Every instrument's feed book equals the simulator's, level by level (prices and sizes),
    within ``timeout`` (the scenario's makers may re-quote while we compare)."""
    pending = list(instruments)
    t0 = time.monotonic()
    last: dict[str, Any] = {}
    while pending:
        still = []
        for inst in pending:
            theirs = await admin.book(bundle.sim.venue_key, inst.symbol)
            mine = feed_levels(feed.book(inst.id))
            if mine != theirs:
                still.append(inst)
                last[inst.id] = (mine, theirs)
        pending = still
        if pending:
            if time.monotonic() - t0 > timeout:
                diffs = "; ".join(f"{i.id}: feed={last[i.id][0]} sim={last[i.id][1]}" for i in pending[:3])
                raise AssertionError(f"{len(pending)} book(s) differ from the simulator's: {diffs}")
            await asyncio.sleep(0.1)


# --- a loopback WebSocket proxy that can inject frames ------------------------------------------


class WsTamperProxy:
    """Relays WebSocket connections to an upstream URL on 127.0.0.1 (same path, the client's
    handshake headers forwarded, so signed handshakes still verify) and can inject raw frames
    into every client connection: malformed venue messages over a real socket."""

    FORWARD_HEADERS = ("kalshi-access-key", "kalshi-access-signature", "kalshi-access-timestamp")

    def __init__(self, upstream_url: str) -> None:
        self.upstream_url = upstream_url
        self._server = None
        self._clients: set = set()
        self.port = 0
        self.injected = 0

    @property
    def url(self) -> str:
        head, _, rest = self.upstream_url.partition("://")
        path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        return f"{head}://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> "WsTamperProxy":
        self._server = await ws_serve(self._handle, "127.0.0.1", 0, max_size=None, compression=None,
                                      ping_interval=None)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, client) -> None:
        headers = {k: v for k, v in client.request.headers.raw_items() if k.lower() in self.FORWARD_HEADERS}
        try:
            upstream_url = self.upstream_url
            query = client.request.path.partition("?")[2]
            if query:  # a token in the query (KuCoin's bullet token) goes upstream too
                upstream_url += ("&" if "?" in upstream_url else "?") + query
            async with ws_connect(upstream_url, additional_headers=headers, max_size=None, compression=None,
                                  ping_interval=None) as upstream:
                self._clients.add(client)

                async def down() -> None:
                    async for msg in upstream:
                        await client.send(msg)

                async def up() -> None:
                    async for msg in client:
                        await upstream.send(msg)

                tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
                try:
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for t in tasks:
                        t.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        except (OSError, websockets.WebSocketException):
            pass
        finally:
            self._clients.discard(client)
            with contextlib.suppress(Exception):
                await client.close()

    @property
    def connections(self) -> int:
        return len(self._clients)

    async def inject(self, frames: Iterable[str | bytes]) -> int:
        """Send ``frames`` to every connected client; returns how many were sent."""
        sent = 0
        for frame in frames:
            for c in list(self._clients):
                with contextlib.suppress(Exception):
                    await c.send(frame)
                    sent += 1
        self.injected += sent
        return sent


def proxied_info(info: dict, venue_key: str, url_keys: Iterable[str], proxies: dict[str, WsTamperProxy]) -> dict:
    """A copy of the info document whose ``venue_key`` WebSocket URLs point at the proxies."""
    doc = json.loads(json.dumps(info))
    for k in url_keys:
        doc[venue_key][k] = proxies[k].url
    return doc


