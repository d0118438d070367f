"""The quote manager over the paper backend on a simulated clock: place / replace / cancel, the
minimum quote life, the per-venue rate limit, safety cancels, fills into inventory, sets merged."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path

import pytest

from arbkit.core.clock import NS, SimClock
from arbkit.core.enums import ConnectionState, FillStatus, InstrumentKind, LiquiditySide, OrderStatus, Side, Venue
from arbkit.core.events import ConnectionStateChanged, OrderFilled
from arbkit.core.fees import FeeSpec
from arbkit.core.instruments import Instrument
from arbkit.execution.paper import PaperBackend, PaperConfig, SnapshotRegistry
from arbkit.execution.portfolio import Portfolio
from arbkit.execution.quotes import BookedMerger, QuoteManager, QuoteManagerConfig
from arbkit.journal.store import Journal
from arbkit.strategies.base import Quote, QuoteRequest, UnwindRequest

T0 = 1_763_700_000 * NS


def outcome(sym: str, other: str) -> Instrument:
    return Instrument(venue=Venue.POLYMARKET, symbol=sym, kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                      size_increment=D("0.01"), min_size=D("5"), quote="pUSD", outcome=sym.upper(), market_id="0xc",
                      complement=other, fee=FeeSpec(kind="polymarket", taker_rate=D("0.02")))


YES, NO = outcome("yes", "no"), outcome("no", "yes")


class Rig:
    def __init__(self, tmp_path: Path, **cfg) -> None:
        self.clock = SimClock(start_ns=T0)
        self.journal = Journal.open(tmp_path / "j.sqlite", clock=self.clock, commit_interval_ms=0.5)
        self.backend = PaperBackend(Venue.POLYMARKET, self.clock, SnapshotRegistry(), PaperConfig(),
                                    {"pUSD": D(1000)})
        self.portfolio = Portfolio()
        self.sending = True
        self.stale: dict[str, str] = {}
        self.changes: list = []
        self.merger = BookedMerger(D("0.01"))
        config = QuoteManagerConfig(**{"min_quote_life_s": 1.0, "default_orders_per_s": 100.0, **cfg})
        self.qm = QuoteManager(backends={Venue.POLYMARKET: self.backend}, journal=self.journal, clock=self.clock,
                               portfolio=self.portfolio, can_send=lambda: self.sending,
                               book_problem=lambda iid, now: self.stale.get(iid), config=config, merger=self.merger,
                               on_inventory=lambda s, c: self.changes.append(c))
        self.backend.set_event_sink(self.qm.route_event)

    def req(self, *quotes: tuple[Instrument, str, str], reason: str = "test") -> QuoteRequest:
        return QuoteRequest(key="k", instruments=(YES, NO), reason=reason, merge_market="0xc", strategy="mm",
                            quotes=tuple(Quote(i, Side.BUY, D(p), D(s)) for i, p, s in quotes))

    def open(self) -> dict[str, tuple[D, D]]:
        return {po.request.instrument.symbol: (po.request.price, po.request.quantity)
                for po in self.backend.orders.values() if not po.state.status.is_terminal}

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    def records(self, kind: str) -> list[dict]:
        self.journal.flush_sync()
        return [r.decode() for r in self.journal.replay(kinds=[kind])]

    async def close(self) -> None:
        await self.qm.close()
        await self.journal.close()


@pytest.fixture
async def rig(tmp_path):
    made: list[Rig] = []

    def make(**cfg) -> Rig:
        r = Rig(_dir(tmp_path, len(made)), **cfg)
        made.append(r)
        return r

    yield make
    for r in made:
        await r.close()


def _dir(base: Path, i: int) -> Path:
    p = base / f"r{i}"
    p.mkdir(exist_ok=True)
    return p


async def test_places_post_only_quotes_and_replaces_only_after_the_minimum_life(rig) -> None:
    r = rig()
    r.qm.submit(r.req((YES, "0.41", "10"), (NO, "0.56", "10")))
    await r.settle()
    assert r.open() == {"yes": (D("0.41"), D(10)), "no": (D("0.56"), D(10))}
    assert all(po.request.post_only for po in r.backend.orders.values())
    # a new price 0.5 s later waits for the minimum life (1 s); the old quote keeps resting
    r.clock.advance(0.5)
    r.qm.submit(r.req((YES, "0.42", "10"), (NO, "0.56", "10"), reason="book moved"))
    await r.settle()
    assert r.open()["yes"] == (D("0.41"), D(10))
    await r.clock.run_until_idle(max_ns=NS)
    await r.settle()
    assert r.open() == {"yes": (D("0.42"), D(10)), "no": (D("0.56"), D(10))}
    assert len(r.backend.orders) == 3  # replaced: one canceled, one placed; NO untouched
    acts = [(x["action"], x["instrument_id"], x["reason"]) for x in r.records("QuoteChanged")]
    assert ("replace", YES.id, "book moved: 0.41 x 10 -> 0.42 x 10") in acts
    assert [a for a, i, _ in acts if i == NO.id] == ["place"]


async def test_rate_limit_holds_places_back(rig) -> None:
    r = rig(default_orders_per_s=2.0)  # burst 2, then one every 0.5 s
    a, b = outcome("a", ""), outcome("b", "")
    c, d = outcome("c", ""), outcome("d", "")
    r.qm.submit(QuoteRequest(key="k", instruments=(a, b, c, d), reason="four", strategy="mm",
                             quotes=tuple(Quote(i, Side.BUY, D("0.20"), D(10)) for i in (a, b, c, d))))
    await r.settle()
    assert len(r.open()) == 2
    r.clock.advance(0.4)
    r.qm.check()
    await r.settle()
    assert len(r.open()) == 2  # no token yet
    await r.clock.run_until_idle(max_ns=NS // 10)
    await r.settle()
    assert len(r.open()) == 3
    await r.clock.run_until_idle(max_ns=NS)
    await r.settle()
    assert len(r.open()) == 4


async def test_safety_cancels_bypass_the_minimum_life_and_the_rate(rig) -> None:
    r = rig(default_orders_per_s=2.0, min_quote_life_s=60.0)
    r.qm.submit(r.req((YES, "0.41", "10"), (NO, "0.56", "10")))
    await r.settle()
    assert len(r.open()) == 2
    # kill switch / pause: every quote canceled at once although young and the bucket is empty
    r.sending = False
    r.qm.check()
    await r.settle()
    assert r.open() == {}
    r.sending = True
    r.qm.check()
    await r.clock.run_until_idle(max_ns=2 * NS)
    await r.settle()
    assert len(r.open()) == 2
    # a connection drops: canceled; back: quoted again
    r.qm.on_status_event(ConnectionStateChanged(venue=Venue.POLYMARKET, connection="polymarket.market.0",
                                                state=ConnectionState.DISCONNECTED, ts_recv=1))
    await r.settle()
    assert r.open() == {}
    r.qm.on_status_event(ConnectionStateChanged(venue=Venue.POLYMARKET, connection="polymarket.market.0",
                                                state=ConnectionState.CONNECTED, ts_recv=2))
    await r.clock.run_until_idle(max_ns=2 * NS)
    await r.settle()
    assert len(r.open()) == 2
    # a stale book: canceled
    r.stale[NO.id] = "no update for 6 s"
    r.qm.check()
    await r.settle()
    assert r.open() == {}
    reasons = [x["reason"] for x in r.records("QuoteChanged") if x["action"] == "cancel"]
    assert any("not sending" in x for x in reasons) and any("disconnected" in x for x in reasons)
    assert any("book not tradeable" in x for x in reasons)


def _fill(lq, qty: str, trade: str) -> OrderFilled:
    return OrderFilled(venue=Venue.POLYMARKET, instrument_id=lq.instrument.id, client_order_id=lq.coid,
                       venue_order_id=lq.venue_order_id, trade_id=trade, side=Side.BUY, price=lq.price,
                       quantity=D(qty), fee=D(0), fee_currency="pUSD", liquidity=LiquiditySide.MAKER,
                       status=FillStatus.PROVISIONAL, ts_recv=1)


async def test_fills_complete_sets_which_are_merged_once(rig) -> None:
    r = rig()
    r.qm.submit(r.req((YES, "0.41", "10"), (NO, "0.56", "10")))
    await r.settle()
    ks = r.qm.keys["k"]
    yes, no = ks.live[YES.id], ks.live[NO.id]
    assert r.qm.handle(_fill(yes, "10", "t1"))
    assert r.qm.handle(_fill(yes, "10", "t1"))  # the same trade again (stream + answer): booked once
    assert ks.pos[YES.id] == D(10) and r.portfolio.position(Venue.POLYMARKET, YES.id) == D(10)
    assert r.qm.handle(_fill(no, "4", "t2"))
    await r.settle()
    assert r.merger.merged == [("0xc", D(4))]
    assert ks.pos == {YES.id: D(6), NO.id: D(0)} and ks.completed == D(4) and ks.merged == D(4)
    assert r.portfolio.position(Venue.POLYMARKET, NO.id) == D(0)
    merged = r.records("SetsMerged")
    assert merged[0]["sets"] == "4" and D(merged[0]["pnl"]) == D("-0.01")
    done = r.records("SetsCompleted")
    assert D(done[0]["spread"]) == D(4) * (1 - D("0.41") - D("0.56"))
    # the strategy heard every change (fill, fill, merge x2)
    assert [c.why for c in r.changes] == ["fill", "fill", "merge", "merge"]


async def test_unwind_is_an_ioc_sell_of_the_unmatched_shares(rig) -> None:
    r = rig()
    r.qm.submit(r.req((YES, "0.41", "10")))
    await r.settle()
    ks = r.qm.keys["k"]
    r.qm.handle(_fill(ks.live[YES.id], "10", "t1"))
    r.backend.shares[YES.id] = D(10)  # the paper venue holds what the fill gave us
    r.qm.submit(UnwindRequest(key="k", instrument=YES, quantity=D(10), limit_price=D("0.39"), reason="time: test",
                              strategy="mm"))
    await r.settle()
    sells = [po for po in r.backend.orders.values() if po.request.side is Side.SELL]
    assert len(sells) == 1 and sells[0].request.time_in_force.value == "IOC" and not sells[0].request.post_only
    assert sells[0].state.status is OrderStatus.CANCELED  # no bid to hit in the empty paper book
    assert r.changes[-1].why == "unwind_done"
    assert [x["action"] for x in r.records("QuoteChanged") if x["purpose"] == "unwind"][0] == "unwind"


async def test_a_quote_above_the_order_notional_cap_is_refused_and_journaled(rig) -> None:
    r = rig(max_order_notional=D("5"))
    r.qm.submit(r.req((YES, "0.41", "10"), (NO, "0.56", "20")))  # 4.10 fits, 11.20 does not
    await r.settle()
    assert r.open() == {"yes": (D("0.41"), D(10))}
    refused = [x for x in r.records("QuoteChanged") if x["action"] == "refused"]
    assert refused and refused[0]["instrument_id"] == NO.id and "max_order_notional" in refused[0]["reason"]
    r.qm.check()
    r.qm.submit(r.req((YES, "0.41", "10"), (NO, "0.56", "20"), reason="same again"))
    await r.settle()
    assert len([x for x in r.records("QuoteChanged") if x["action"] == "refused"]) == 1  # not asked again


async def test_inventory_is_restored_from_the_journal_after_a_restart(tmp_path) -> None:
    d = _dir(tmp_path, 99)
    r = Rig(d)
    r.qm.submit(r.req((YES, "0.41", "10"), (NO, "0.56", "10")))
    await r.settle()
    r.qm.handle(_fill(r.qm.keys["k"].live[YES.id], "7", "t1"))
    await r.close()
    r2 = Rig(d)  # same journal file: a restart
    try:
        assert r2.qm.restore(r2.journal) == 1
        ks = r2.qm.keys["k"]
        assert ks.pos[YES.id] == D(7) and ks.cost[YES.id] == D("2.87") and ks.entry[YES.id] == D("2.87")
        assert [(c.why, c.instrument_id, c.delta_qty) for c in r2.changes] == [("restored", YES.id, D(7))]
    finally:
        await r2.close()
