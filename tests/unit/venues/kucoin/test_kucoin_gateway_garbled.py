"""The KuCoin gateway against a loopback server answering garbage: an unreadable create answer is
ambiguous (looked up, never taken as an order id), an unreadable lookup is AMBIGUOUS / unknown,
never None; a balance that is not a balance is refused."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from aiohttp import web

from arbkit.core.enums import InstrumentKind, Side, Venue
from arbkit.core.events import OrderRejected
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest
from arbkit.venues.common.http import OrderStateUnknown
from arbkit.venues.kucoin.auth import KucoinSigner
from arbkit.venues.kucoin.gateway import GatewayConfig, KucoinGateway

INST = Instrument(venue=Venue.KUCOIN, symbol="BTC-USDT", kind=InstrumentKind.SPOT, tick_size=D("0.1"),
                  size_increment=D("0.00000001"), quote="USDT", base="BTC")


async def serve(answers: dict[tuple[str, str], dict]):
    calls: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(f"{request.method} {request.path}")
        for (m, prefix), body in answers.items():
            if request.method == m and request.path.startswith(prefix):
                return web.json_response(body)
        return web.json_response({"code": "404000", "msg": "Not Found"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}", calls


def gw(url: str) -> KucoinGateway:
    return KucoinGateway(KucoinSigner("k", "s", "p"), GatewayConfig(rest_url=url, ambiguous_settle_s=0.01,
                                                                     read_attempts=1))


REQ = OrderRequest(instrument=INST, client_order_id="g1", side=Side.BUY, quantity=D("0.001"), price=D("1000"))


@pytest.mark.parametrize("data", [{"orderId": "", "dealSize": "0", "originSize": "0.001"},
                                  {"orderId": "x", "dealSize": "NaN", "originSize": "0.001"},
                                  {"orderId": "x", "dealSize": "0.002", "originSize": "0.001"},
                                  {"orderId": "x", "clientOid": "other", "dealSize": "0", "originSize": "0.001"}])
async def test_an_unreadable_create_answer_is_looked_up_and_never_accepted(data) -> None:
    runner, url, calls = await serve({
        ("POST", "/api/v1/hf/orders/sync"): {"code": "200000", "data": data},
        ("GET", "/api/v1/hf/orders/client-order/"): {"code": "200000", "data": {"id": 7}},
    })
    g = gw(url)
    try:
        res = await g.submit(REQ)
        rej = [e for e in res.events if isinstance(e, OrderRejected)]
        assert not res.accepted and rej[0].code == "AMBIGUOUS" and rej[0].retryable
        assert calls.count("POST /api/v1/hf/orders/sync") == 1, calls
        with pytest.raises(OrderStateUnknown):
            await g.order_state("g1")
    finally:
        await g.close()
        await runner.cleanup()


async def test_a_create_the_venue_says_it_never_got_is_resent_at_most_the_configured_times() -> None:
    runner, url, calls = await serve({
        ("POST", "/api/v1/hf/orders/sync"): {"code": "200000", "data": {"orderId": "", "dealSize": "0"}},
        ("GET", "/api/v1/hf/orders/client-order/"): {"code": "400100", "msg": "order not exist."},
    })
    g = gw(url)
    try:
        res = await g.submit(REQ)
        rej = [e for e in res.events if isinstance(e, OrderRejected)][0]
        assert rej.code == "unavailable" and rej.retryable
        assert calls.count("POST /api/v1/hf/orders/sync") == g.config.create_attempts
        assert await g.order_state("g1") is None
    finally:
        await g.close()
        await runner.cleanup()


@pytest.mark.parametrize("row", [{"balance": "-1", "available": "0"}, {"balance": "1", "available": "2"},
                                 {"balance": "NaN", "available": "0"}])
async def test_a_balance_that_is_not_a_balance_is_refused(row) -> None:
    runner, url, _ = await serve({("GET", "/api/v1/accounts"): {"code": "200000", "data": [
        {"id": "a", "currency": "USDT", "type": "trade", "holds": "0", **row}]}})
    g = gw(url)
    try:
        with pytest.raises(ValueError):
            await g.balances()
    finally:
        await g.close()
        await runner.cleanup()
