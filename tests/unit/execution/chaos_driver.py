"""The trading process of the in-process chaos tests (test_chaos_sim.py), SIGKILLed at random
points and started again.

    python chaos_driver.py MODE INFO_FILE CONFIG N_SAGAS

MODE ``kalshi``: N two-leg sequential sagas ``chaos-K`` on two Kalshi markets. MODE ``cross``:
N two-leg sequential sagas ``xchaos-K``, a Polymarket leg then a Kalshi leg (the real use).
MODE ``tri``: N three-leg CASCADE sagas ``tchaos-K`` on the KuCoin simulator, the triangle
USDT -> BTC -> ETH -> USDT and its reverse in turn, each intent built by the triangular strategy's
own depth walk (``TriangularStrategy.evaluate``) with the minimum edge lowered so that fair books
give one (the sagas lose the fees: what is tested is recovery, not the edge).

The node is built through the production wiring only: the configuration file (written by the
test from the demo's, ``arbkit.runtime.demo.demo_config_text``) is loaded by
``runtime.config.load_config`` and started by ``runtime.node.Node`` (venues, gateways, user
streams, journal, risk, engine, start-up recovery and reconciliation), with the test keys passed
as named environment variables as the demo passes them. No gateway or engine setting is changed.
Instruments come from the venues' metadata through ``runtime.wiring``; the driver then submits
its own intents to ``node.engine``.

What the driver adds is observation and fault injection, neither of which changes what the
product does up to the moment it dies:

* it prints ``recovering`` when the node's start-up recovery begins and ``ready`` when it is
  over, ``start EID`` / ``end EID STATUS`` around each saga (the test aims its kills by them);
* ``CHAOS_TRAP=WHERE:N`` makes it SIGKILL itself at an exact point of the N-th call (counted
  from start-up) to a venue backend: ``pre-submit`` (the order is journaled as LegSubmitted, the
  request not sent), ``post-submit`` (the venue has the order, its answer is not journaled yet),
  ``lookup`` (recovery asked the venue about an order and has the answer, nothing acted on it).

Exit code 0 when all N sagas have reports (or are held).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from arbkit.core.enums import Side, Venue
from arbkit.execution.intent import BookTop, HedgePolicy, Intent, IntentLeg, IntentTimestamps, Sequencing
from arbkit.risk.engine import Denied
from arbkit.runtime import wiring
from arbkit.runtime.config import load_config
from arbkit.runtime.demo import KALSHI_KEY_ID_ENV, POLY_KEY_ENV
from arbkit.runtime.node import Node, NodeOptions

D = Decimal


def say(msg: str) -> None:
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def die() -> None:
    """SIGKILL ourselves: nothing after this point runs, nothing is flushed."""
    os.kill(os.getpid(), signal.SIGKILL)


class Trap:
    """A venue backend as the engine sees it, which SIGKILLs the process at one exact call."""

    counts = {"submit": 0, "lookup": 0}

    def __init__(self, inner: Any, where: str, n: int) -> None:
        self._inner, self._where, self._n = inner, where, n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _hit(self, kind: str) -> bool:
        Trap.counts[kind] += 1
        return Trap.counts[kind] == self._n

    async def submit(self, request: Any) -> Any:
        hit = self._hit("submit")
        if hit and self._where == "pre-submit":
            die()
        res = await self._inner.submit(request)
        if hit and self._where == "post-submit":
            die()
        return res

    async def submit_many(self, requests: list[Any]) -> list[Any]:
        hit = self._hit("submit")
        if hit and self._where == "pre-submit":
            die()
        res = await self._inner.submit_many(requests)
        if hit and self._where == "post-submit":
            die()
        return res

    async def order_state(self, client_order_id: str, venue_order_id: str = "") -> Any:
        res = await self._inner.order_state(client_order_id, venue_order_id)
        if self._hit("lookup") and self._where == "lookup":
            die()
        return res


def instrument_node(node: Node, trap: str) -> None:
    """Print the recovery markers and install the trap (see the module docstring), around the
    node's own start-up recovery."""
    where, _, n = trap.partition(":")
    orig = node._recover

    async def recover() -> None:
        if where:
            engine = node.engine
            assert engine is not None
            for v in list(engine.backends):
                engine.backends[v] = Trap(engine.backends[v], where, int(n or 1))
        say("recovering")
        await orig()
        say("ready")

    node._recover = recover  # type: ignore[method-assign]


async def book_top(session: aiohttp.ClientSession, admin: str, path: str, iid: str, now: int) -> BookTop:
    async with session.get(f"{admin}/books/{path}") as r:
        v = await r.json(content_type=None)
    return BookTop(instrument_id=iid, bids=[(D(str(p)), D(str(s))) for p, s in v["bids"]],
                   asks=[(D(str(p)), D(str(s))) for p, s in v["asks"]], last_update_ns=now, sequence=int(v.get("seq", 0)))


TRI_ENV = ("CHAOS_KC_KEY", "CHAOS_KC_SECRET", "CHAOS_KC_PASS")  # the names the test's configuration gives


async def main_tri(info: dict[str, Any], cfg: Any, n: int) -> int:
    """MODE ``tri`` (see the module docstring)."""
    import msgspec

    from arbkit.strategies.triangular import TriangularConfig, TriangularStrategy

    acct = info["kucoin"]["accounts"][0]
    env = dict(zip(TRI_ENV, (acct["api_key"], acct["api_secret"], acct["passphrase"])))
    node = Node(cfg, NodeOptions(env=env))
    instrument_node(node, os.environ.get("CHAOS_TRAP", ""))
    await node.start()
    engine = node.engine
    assert engine is not None
    ev = node.triangular  # the node's own evaluator: its books, tradeability and hedge policy
    assert ev is not None, "the configuration must enable strategies.triangular"
    tris = [t for t in ev.index.triangles if set(t.symbols) == {"BTC-USDT", "ETH-BTC", "ETH-USDT"}]
    assert len(tris) == 2, [t.key for t in ev.index.triangles]
    insts = {leg.instrument.id: leg.instrument for t in tris for leg in t.legs}
    walker = TriangularStrategy(TriangularConfig(start_currencies=("USDT",), max_start={"USDT": D("60")}, min_edge_bps=D("-2000"),
                                                 depth=ev.config.depth, max_book_age_ns=ev.config.max_book_age_ns,
                                                 leg_timeout_s=3.0, hedge=ev.config.hedge),
                                insts.values(), ev.book_of, tradeable=ev.tradeable, clock_ns=ev.clock_ns)
    walker.exact_int = False  # the Decimal reference walk: the integer search refuses a negative minimum edge
    by_key = {t.key: t for t in walker.index.triangles}
    for k in range(n):
        eid = f"tchaos-{k}"
        if eid in engine.sagas:
            continue
        t = by_key[tris[k % 2].key]
        for attempt in range(400):
            d = walker.evaluate(t, node.clock.now_ns())
            verdict: Any = None
            if d.intent is not None:
                intent = msgspec.structs.replace(d.intent, execution_id=eid, correlation_id=eid, strategy="chaos", signal_key=eid)
                verdict = engine.submit(intent)  # as the node submits a strategy's intent
                if not isinstance(verdict, Denied):
                    say(f"start {eid}")
                    res = await engine.wait(eid)
                    say(f"end {eid} {res.status.value}")
                    break
            if attempt % 20 == 0:
                say(f"waiting {eid}: {d.reason or (verdict.check + ': ' + verdict.reason if verdict else '')}")
            await asyncio.sleep(0.05)  # books not synchronised yet, or a recovered saga holds the slot
        else:
            say(f"gave up {eid}")
            return 3
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(engine.wait_idle(), 60)
    await node.stop()
    say("done")
    return 0


async def main(mode: str, info_file: str, config_file: str, n: int) -> int:
    info = json.loads(Path(info_file).read_text())
    cfg = load_config(Path(config_file))
    if mode == "tri":
        return await main_tri(info, cfg, n)
    env = {POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"],
           KALSHI_KEY_ID_ENV: info["kalshi"]["accounts"][0]["key_id"]}
    node = Node(cfg, NodeOptions(env=env))
    instrument_node(node, os.environ.get("CHAOS_TRAP", ""))
    await node.start()
    engine = node.engine
    assert engine is not None
    admin = info["admin_url"]
    legs_of: list[tuple[Any, str, Decimal]] = []  # (instrument, admin book path, quantity)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        ks = node.venues[Venue.KALSHI]
        tickers = [m["ticker"] for m in info["kalshi"]["markets"]]
        if mode == "kalshi":
            prefix = "chaos"
            for t in tickers[:2]:
                yes, _ = await wiring.kalshi_instruments(ks, t)
                legs_of.append((yes, f"kalshi/{t}", D("2")))
        else:
            prefix = "xchaos"
            pm = node.venues[Venue.POLYMARKET]
            market = info["polymarket"]["markets"][0]
            toks = {t["outcome"].lower(): t["token_id"] for t in market["tokens"]}
            py, _ = await wiring.polymarket_instruments(session, pm.rest_url, market["condition_id"], toks["yes"], toks["no"])
            await pm.gateway.metadata.get(py.symbol, py.market_id or "", py)  # as the node warms a mapping's tokens
            ky, _ = await wiring.kalshi_instruments(ks, tickers[0])
            legs_of = [(py, f"polymarket/{py.symbol}", D("5")), (ky, f"kalshi/{tickers[0]}", D("2"))]
        for k in range(n):
            eid = f"{prefix}-{k}"
            if eid in engine.sagas:
                continue
            for attempt in range(200):
                now = node.clock.now_ns()
                books = [await book_top(session, admin, path, inst.id, now) for inst, path, _ in legs_of]
                legs = [IntentLeg(instrument=inst, side=Side.BUY, quantity=qty,
                                  price=min(D("0.99"), b.asks[0][0] + inst.tick_size * 2))
                        for (inst, _, qty), b in zip(legs_of, books)]
                intent = Intent(execution_id=eid, legs=legs, sequencing=Sequencing.SEQUENTIAL, books=books,
                                primary_quote="USD", hedge=HedgePolicy(max_slippage_bps=D("3000"), timeout_s=10.0),
                                leg_timeout_s=3.0, timestamps=IntentTimestamps(created_ns=now), strategy="chaos")
                verdict = engine.submit(intent)  # as the node submits a strategy's intent
                if not isinstance(verdict, Denied):
                    say(f"start {eid}")
                    res = await engine.wait(eid)
                    say(f"end {eid} {res.status.value}")
                    break
                # a risk limit (order rate, slots held by a recovered saga) said not now
                say(f"denied {eid} {verdict.check}: {verdict.reason}")
                await asyncio.sleep(0.1)
            else:
                say(f"gave up {eid}")
                return 3
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(engine.wait_idle(), 60)
    await node.stop()
    say("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))))
