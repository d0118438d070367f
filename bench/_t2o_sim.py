"""The simulator side of ``bench/tick_to_order.py``: run as a child process.

``python -m bench._t2o_sim --info-file PATH [--kalshi-key ed25519|rsa]`` starts the venue simulator
(SimRunner, ``quiet`` scenario, Polymarket + Kalshi on 127.0.0.1) with the scenario's own motion
stopped, and stamps two moments on the simulator's clock (``time.time_ns``, CLOCK_REALTIME, the
same clock the node stamps with on this host):

* ``frame_ns``: when a market stream hands the dislocating frame to its WebSocket (patched
  ``WebSocketResponse.send_str``, stamped before the call: the frame's encoding and write count
  against us);
* ``rx_ns[venue]``: when the venue's HTTP server reads the first bytes of our order request off
  the socket (patched ``RequestHandler.data_received``, stamped before aiohttp parses them).

A small control server (``driver_url`` in the info file) lets the benchmark open one opportunity
at a time: ``POST /trigger {"venue": "polymarket"|"kalshi"}`` places one maker order that opens a
fee-positive cross-venue edge on the twin pair (one engine operation: one frame),
``POST /result`` waits for both order requests (or a timeout), cancels what is left of the
trigger order and returns the stamps. The books are static between triggers (deep fixed quotes
placed at start), so each opportunity is opened by exactly one frame.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web, web_protocol, web_ws

from arbkit.core.enums import Side
from arbkit.sim import runner as sim_runner
from arbkit.sim.engine import OrderParams
from arbkit.sim.scenario import MM_ACCOUNT

# Static books on the twin pair (YES terms). No edge while quiet: poly YES ask 0.40 + Kalshi NO
# ask (1 - 0.36) = 1.04, Kalshi YES ask 0.46 + poly NO ask 0.70 = 1.16. A trigger opens ~5 cents:
# a poly YES ask at 0.31 (0.31 + 0.64 = 0.95) or a Kalshi YES bid at 0.45 (0.40 + 0.55 = 0.95).
BOOKS = {"polymarket": (Decimal("0.30"), Decimal("0.40")), "kalshi": (Decimal("0.36"), Decimal("0.46"))}
TRIGGER = {"polymarket": ("ask", Decimal("0.31")), "kalshi": ("bid", Decimal("0.45"))}
DEPTH = Decimal(200000)
TRIGGER_SIZE = Decimal(10)
ORDER_PATHS = {"polymarket": (b"POST /order ",), "kalshi": (b"POST /trade-api/v2/portfolio/events/orders ",)}


class Probe:
    def __init__(self) -> None:
        self.needle: str | None = None
        self.frame_ns = 0
        self.frame_head = ""
        self.armed = False
        self.rx_ns: dict[str, int] = {}
        self.port_venue: dict[int, str] = {}
        self.done = asyncio.Event()


PROBE = Probe()


def _patch() -> None:
    send_str = web_ws.WebSocketResponse.send_str

    async def stamped_send_str(self: Any, data: str, compress: Any = None) -> None:
        p = PROBE
        if p.needle is not None and not p.frame_ns and p.needle in data:
            p.frame_ns = time.time_ns()
            p.frame_head = data[:160]
        await send_str(self, data, compress=compress)

    web_ws.WebSocketResponse.send_str = stamped_send_str  # type: ignore[method-assign]
    data_received = web_protocol.RequestHandler.data_received

    def stamped_data_received(self: Any, data: bytes) -> None:
        p = PROBE
        if p.armed and data[:5] == b"POST ":
            now = time.time_ns()
            tr = self.transport
            port = tr.get_extra_info("sockname")[1] if tr is not None else 0
            venue = p.port_venue.get(port)
            if venue is not None and venue not in p.rx_ns and data.startswith(ORDER_PATHS[venue]):
                p.rx_ns[venue] = now
                if len(p.rx_ns) == 2:
                    p.done.set()
        data_received(self, data)

    web_protocol.RequestHandler.data_received = stamped_data_received  # type: ignore[method-assign]


def _ed25519_account(seed: int, index: int, key_dir: Path) -> Any:
    from arbkit.sim.kalshi.auth import generate_key

    key_id = str(uuid.UUID(bytes=hashlib.sha256(f"arbkit-sim-kalshi:{seed}:{index}".encode()).digest()[:16], version=4))
    g = generate_key(key_dir, key_id=key_id, key_type="ed25519")
    return sim_runner.TestAccount(account_id=key_id, venue="kalshi", key_id=key_id, private_key_path=str(g.private_key_path),
                                  public_key_pem=g.public_key_pem)


class Driver:
    def __init__(self, runner: Any) -> None:
        self.runner = runner
        pair = next(p for p in runner.scenario.catalogue.pairs if p.relation == "twin")
        self.markets = {"polymarket": runner.scenario.catalogue.market("polymarket", pair.polymarket_market_id),
                        "kalshi": runner.scenario.catalogue.market("kalshi", pair.kalshi_market_id)}
        self.trigger_id: tuple[str, str] | None = None
        self.touch_ids: dict[str, str] = {}

    def _place(self, venue: str, is_bid: bool, price: Decimal, size: Decimal) -> str:
        m, eng = self.markets[venue], self.runner.engines[venue]
        if is_bid:
            params = OrderParams(account_id=MM_ACCOUNT, symbol=m.yes_symbol, side=Side.BUY, size=size, price=price, post_only=True)
        else:  # a YES ask is a NO bid on the unified binary book
            params = OrderParams(account_id=MM_ACCOUNT, symbol=m.no_symbol, side=Side.BUY, size=size, price=1 - price, post_only=True)
        res = eng.submit(params)
        if not res.accepted or res.order is None:
            raise RuntimeError(f"{venue}: maker order refused: {res}")
        return res.order.order_id

    def setup(self) -> None:
        # the scenario's motion stops (its task is the second one the runner starts): static books
        for t in self.runner._tasks[1:]:
            t.cancel()
        for venue, m in self.markets.items():
            eng = self.runner.engines[venue]
            eng.cancel_all(MM_ACCOUNT, market_id=m.market_id)
            self.runner.scenario._quotes.pop((venue, m.market_id), None)
            bid, ask = BOOKS[venue]
            self._place(venue, True, bid, DEPTH)
            self._place(venue, False, ask, DEPTH)
        for venue, server in self.runner.servers.items():
            PROBE.port_venue[int(server.info()["rest_url"].split(":")[2].split("/")[0])] = venue

    async def touch(self, request: web.Request) -> web.Response:
        """Move a deep level on both books (no edge): the strategy trades a mapping again only
        once both venues' books have updated after our last trade on it."""
        for venue in self.markets:
            oid = self.touch_ids.pop(venue, None)
            if oid is not None:
                self.runner.engines[venue].cancel(MM_ACCOUNT, oid, reason="BENCH")
            else:
                self.touch_ids[venue] = self._place(venue, True, Decimal("0.10"), Decimal(5))
        return web.json_response({"ok": True})

    async def trigger(self, request: web.Request) -> web.Response:
        venue = (await request.json())["venue"]
        p = PROBE
        p.rx_ns, p.frame_ns, p.frame_head = {}, 0, ""
        p.done.clear()
        p.needle = self.markets[venue].market_id
        p.armed = True
        side, price = TRIGGER[venue]
        self.trigger_id = (venue, self._place(venue, side == "bid", price, TRIGGER_SIZE))
        return web.json_response({"ok": True})

    async def result(self, request: web.Request) -> web.Response:
        p = PROBE
        try:
            await asyncio.wait_for(p.done.wait(), 2.0)
        except asyncio.TimeoutError:
            pass
        p.armed, p.needle = False, None
        if self.trigger_id is not None:
            venue, oid = self.trigger_id
            eng = self.runner.engines[venue]
            o = eng.order(oid)
            if o is not None and o.status.value == "OPEN":
                eng.cancel(MM_ACCOUNT, oid, reason="BENCH")
            self.trigger_id = None
        return web.json_response({"frame_ns": p.frame_ns, "rx_ns": p.rx_ns, "frame_head": p.frame_head})


async def main(args: argparse.Namespace) -> None:
    _patch()
    if args.kalshi_key == "ed25519":
        sim_runner.make_kalshi_account = _ed25519_account  # type: ignore[assignment]
    runner = sim_runner.SimRunner(venues=["polymarket", "kalshi"], scenario="quiet", seed=args.seed)
    info = await runner.start()
    driver = Driver(runner)
    driver.setup()
    app = web.Application()
    app.router.add_post("/trigger", driver.trigger)
    app.router.add_post("/result", driver.result)
    app.router.add_post("/touch", driver.touch)
    app.router.add_post("/stop", lambda r: _stop(runner))
    app_runner = web.AppRunner(app, access_log=None)
    await app_runner.setup()
    site = web.TCPSite(app_runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    info["driver_url"] = f"http://127.0.0.1:{port}"
    info["twin"] = {v: m.market_id for v, m in driver.markets.items()}
    sim_runner.write_info_file(Path(args.info_file), info)
    try:
        await runner.stop_event.wait()
    finally:
        await app_runner.cleanup()
        await runner.stop()


async def _stop(runner: Any) -> web.Response:
    runner.request_stop()
    return web.json_response({"ok": True})


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--info-file", required=True)
    ap.add_argument("--kalshi-key", choices=("ed25519", "rsa"), default="ed25519")
    ap.add_argument("--seed", type=int, default=1)
    asyncio.run(main(ap.parse_args()))
