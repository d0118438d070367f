"""Admin HTTP endpoint of a simulator run (aiohttp, 127.0.0.1 only, JSON).

Tests and the demo use it to inject faults, read account state, books, orders and trades,
advance a simulated clock, trigger a dislocation, and shut the simulator down.
"""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from arbkit.sim.events import Outcome

if TYPE_CHECKING:
    from arbkit.sim.runner import SimRunner

log = logging.getLogger(__name__)

_enc = msgspec.json.Encoder(decimal_format="string")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_enc.encode(data), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status=status)


class AdminServer:
    def __init__(self, runner: "SimRunner") -> None:
        self.runner = runner
        self.app = web.Application()
        r = self.app.router
        r.add_get("/health", self.health)
        r.add_get("/info", self.info)
        r.add_get("/faults", self.faults_list)
        r.add_post("/faults", self.faults_add)
        r.add_delete("/faults/{fid}", self.faults_remove)
        r.add_get("/faults/fired", self.faults_fired)
        r.add_get("/accounts/{venue}/{account}", self.account)
        r.add_get("/books/{venue}/{key}", self.book)
        r.add_get("/trades/{venue}", self.trades)
        r.add_get("/orders/{venue}", self.orders)
        r.add_get("/catalogue", self.catalogue)
        r.add_get("/scenario", self.scenario)
        r.add_post("/time/advance", self.advance)
        r.add_post("/dislocate", self.dislocate)
        r.add_post("/underprice", self.underprice)
        r.add_post("/halt", self.halt)
        r.add_post("/resolve", self.resolve)
        r.add_post("/resolutions/arm", self.arm_resolutions)
        r.add_post("/list", self.list_event)
        r.add_post("/tick-size", self.tick_size)
        r.add_post("/shutdown", self.shutdown)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if host != "127.0.0.1":
            raise ValueError("the admin endpoint binds 127.0.0.1 only")
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # the bound socket tells the ephemeral port
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- helpers ---------------------------------------------------------------------------------

    def _engine(self, request: web.Request):
        venue = request.match_info["venue"]
        eng = self.runner.engines.get(venue)
        if eng is None:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no venue {venue!r} in this run"}), content_type="application/json")
        return eng

    async def _body(self, request: web.Request) -> Any:
        if not request.can_read_body:
            return {}
        try:
            return json.loads(await request.text(), parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise web.HTTPBadRequest(text=json.dumps({"error": f"invalid JSON: {exc}"}), content_type="application/json") from None

    # --- handlers -----------------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return _json({"ok": True, "now_ns": self.runner.clock.now_ns(), "clock": "sim" if self.runner.simulated_clock else "live"})

    async def info(self, request: web.Request) -> web.Response:
        return _json(self.runner.info())

    async def faults_list(self, request: web.Request) -> web.Response:
        return _json(self.runner.faults.list())

    async def faults_fired(self, request: web.Request) -> web.Response:
        return _json(self.runner.faults.fired())

    async def faults_add(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        specs = body if isinstance(body, list) else [body]
        ids = []
        try:
            for s in specs:
                if not isinstance(s, dict):
                    raise ValueError("a fault is a JSON object")
                s = {k: (str(v) if isinstance(v, Decimal) and k == "fill_fraction" else (float(v) if isinstance(v, Decimal) else v))
                     for k, v in s.items()}
                ids.append(self.runner.faults.add_now(s))
        except ValueError as exc:
            return _error(400, str(exc))
        return _json({"ids": ids})

    async def faults_remove(self, request: web.Request) -> web.Response:
        fid = request.match_info["fid"]
        if not self.runner.faults.remove(fid):
            return _error(404, f"no fault {fid!r}")
        return _json({"removed": fid})

    async def account(self, request: web.Request) -> web.Response:
        eng = self._engine(request)
        acct = request.match_info["account"]
        if not eng.accounts.exists(acct):
            acct = acct.lower()
        if not eng.accounts.exists(acct):
            return _error(404, f"no account {request.match_info['account']!r}")
        snap = eng.accounts.snapshot(acct)
        snap["open_orders"] = [msgspec.to_builtins(o) for o in eng.open_orders(acct)]
        return _json(snap)

    async def book(self, request: web.Request) -> web.Response:
        eng = self._engine(request)
        key = request.match_info["key"]
        outcome_q = request.query.get("outcome")
        try:
            outcome = Outcome(outcome_q.upper()) if outcome_q else None
        except ValueError:
            return _error(400, f"outcome must be YES or NO, got {outcome_q!r}")
        try:
            view = eng.book(key, outcome)
        except KeyError:
            return _error(404, f"no market or symbol {key!r}")
        return _json(view)

    async def trades(self, request: web.Request) -> web.Response:
        eng = self._engine(request)
        acct = request.query.get("account")
        return _json(eng.trades(account_id=acct.lower() if acct and not eng.accounts.exists(acct) else acct,
                                market_id=request.query.get("market")))

    async def orders(self, request: web.Request) -> web.Response:
        eng = self._engine(request)
        acct = request.query.get("account")
        if acct and not eng.accounts.exists(acct):
            acct = acct.lower()
        return _json(eng.orders(acct))

    async def catalogue(self, request: web.Request) -> web.Response:
        return _json(self.runner.scenario.catalogue.to_dict())

    async def scenario(self, request: web.Request) -> web.Response:
        return _json(self.runner.scenario.state())

    async def advance(self, request: web.Request) -> web.Response:
        if not self.runner.simulated_clock:
            return _error(409, "the clock is live: start the simulator with --sim-clock to advance time")
        body = await self._body(request)
        try:
            seconds = Decimal(str(body.get("seconds", "0")))
        except Exception:
            return _error(400, "seconds must be a number")
        if seconds < 0:
            return _error(400, "time never goes back")
        now = await self.runner.advance(float(seconds))
        return _json({"now_ns": now})

    async def dislocate(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        try:
            shift = Decimal(str(body["shift"])) if "shift" in body else None
            rec = self.runner.scenario.dislocate(body.get("venue"), body.get("market_id"), shift)
        except (KeyError, ValueError) as exc:
            return _error(400, str(exc))
        return _json(rec)

    async def underprice(self, request: web.Request) -> web.Response:
        """{"event_key": "fed-chair", "shift": "0.03", "steps": 20} (all optional): the YES asks of
        every outcome of a multi-outcome event drop by ``shift`` for ``steps`` ticks, so their sum
        falls below 1 (a complete-set opportunity) -- the scenario's underpricing episode, now."""
        body = await self._body(request)
        try:
            shift = Decimal(str(body["shift"])) if "shift" in body else None
            steps = int(body["steps"]) if "steps" in body else None
            rec = self.runner.scenario.underprice(body.get("event_key"), shift, steps)
        except (KeyError, ValueError, TypeError) as exc:
            return _error(400, str(exc))
        return _json(rec)

    def _engine_from_body(self, body: dict[str, Any]):
        eng = self.runner.engines.get(str(body.get("venue", "")))
        if eng is None:
            raise web.HTTPBadRequest(text=json.dumps({"error": f"no venue {body.get('venue')!r} in this run"}),
                                     content_type="application/json")
        return eng

    async def halt(self, request: web.Request) -> web.Response:
        """{"venue", "market_id" (omit for the whole venue), "halted": true|false}"""
        body = await self._body(request)
        eng = self._engine_from_body(body)
        mid = body.get("market_id")
        if mid is not None and mid not in {m.market_id for m in eng.markets()}:
            return _error(404, f"no market {mid!r}")
        eng.set_halted(mid, bool(body.get("halted", True)))
        return _json({"venue": eng.venue, "market_id": mid, "halted": eng.is_halted(mid)})

    async def resolve(self, request: web.Request) -> web.Response:
        """{"venue", "market_id", "winner": "yes"|"no"}: resolve the market now (announced on the
        venue's streams; Kalshi pays the holders, Polymarket holders redeem through /rpc)."""
        body = await self._body(request)
        eng = self._engine_from_body(body)
        mid = body.get("market_id")
        if mid not in {m.market_id for m in eng.markets()}:
            return _error(404, f"no market {mid!r}")
        winner = str(body.get("winner", "")).lower()
        if winner not in ("yes", "no"):
            return _error(400, "winner must be yes or no")
        try:
            rec = self.runner.scenario.resolve(eng.venue, mid, winner)
        except ValueError as exc:
            return _error(409, str(exc))
        return _json(rec)

    async def list_event(self, request: web.Request) -> web.Response:
        """An ``[[events]]`` entry (key, template, fair, venues, ...): list it now on its venues,
        announced on their streams as the venues do. Answers the new markets."""
        body = await self._body(request)
        if not isinstance(body, dict):
            return _error(400, "a listing is a JSON object (the fields of an [[events]] entry)")
        body = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in body.items()}
        try:
            markets = self.runner.scenario.list_event(body)
        except (ValueError, KeyError) as exc:
            return _error(409, str(exc))
        return _json({"markets": [m.to_dict() for m in markets]})

    async def arm_resolutions(self, request: web.Request) -> web.Response:
        """Start the scenario's ``on_arm`` resolution schedule now; answers what is scheduled."""
        return _json({"scheduled": self.runner.scenario.arm_resolutions()})

    async def tick_size(self, request: web.Request) -> web.Response:
        """{"venue", "market_id", "tick_size": "0.001"}"""
        body = await self._body(request)
        eng = self._engine_from_body(body)
        mid = body.get("market_id")
        try:
            old = eng.market(mid).tick_size
            eng.set_tick_size(mid, Decimal(str(body["tick_size"])))
        except KeyError:
            return _error(404, f"no market {mid!r} (or tick_size missing)")
        except (ValueError, ArithmeticError) as exc:
            return _error(400, f"invalid tick_size: {exc}")
        return _json({"venue": eng.venue, "market_id": mid, "old_tick_size": old, "tick_size": eng.market(mid).tick_size})

    async def shutdown(self, request: web.Request) -> web.Response:
        # answer first, then stop (the caller should see the 200)
        asyncio.get_running_loop().call_later(0.05, self.runner.request_stop)
        return _json({"stopping": True})
