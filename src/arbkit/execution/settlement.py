"""Settlement: a resolved market's positions become settlement P&L, journaled.

:class:`Settlement` consumes :class:`~arbkit.core.events.MarketResolved` (published by the venue
feeds) and books every position we hold in the market at its payout — a winning share pays 1, a
losing share 0, a scalar or voided market what the venue says — against its average entry:

    proceeds = quantity x payout,  cost = quantity x average entry,  P&L = proceeds - cost

exactly, in Decimal. The position goes flat in the :class:`Portfolio`. Where the cash comes back
differs by venue:

* **Kalshi** settles to cash by itself at ``settled``: the proceeds are credited at once, and
  :meth:`Settlement.reconcile` then reads the venue's balance and positions and journals whether
  they agree (``SettlementReconciled``).
* **Polymarket** pays only when the winning tokens are redeemed on chain (``arbkit positions
  redeem``): the proceeds are booked as P&L but held as ``capital_pending`` until a
  ``PositionsRedeemed`` record says they came back.

Each market is booked once (``SettlementBooked``, correlation id ``resolution:<market>``); a second
message for the same market (Kalshi's ``settled`` after ``determined``, a repeat after a reconnect)
books nothing more. A message without payouts (Kalshi ``settled`` alone) waits for one with them.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Callable

import msgspec

from arbkit.core.enums import Venue
from arbkit.core.events import Event, MarketResolved

log = logging.getLogger("arbkit.execution.settlement")

ZERO = Decimal(0)

# The collateral each venue settles in (what the report sums the proceeds in).
SETTLEMENT_CURRENCY: dict[Venue, str] = {Venue.POLYMARKET: "USDC", Venue.KALSHI: "USD"}


class SettlementLine(msgspec.Struct, frozen=True, kw_only=True):
    instrument_id: str
    quantity: Decimal  # signed, as held when the market resolved
    payout: Decimal  # per share
    avg_price: Decimal | None
    proceeds: Decimal
    cost: Decimal
    pnl: Decimal


class SettlementBooked(Event, frozen=True, kw_only=True):
    """A resolved market's positions booked at their payouts (realised settlement P&L)."""

    venue: Venue
    market_id: str
    stage: str
    winning_instrument_id: str | None
    lines: list[SettlementLine]
    proceeds: Decimal
    cost: Decimal
    pnl: Decimal
    currency: str
    # True: the venue credited the cash itself (Kalshi); False: it comes back on redeem (Polymarket)
    cash_credited: bool


class SettlementReconciled(Event, frozen=True, kw_only=True):
    """After a venue settled by itself: what its balance and positions say, against our books."""

    venue: Venue
    market_ids: list[str]
    balance: Decimal | None
    expected_balance: Decimal | None
    currency: str
    leftover_positions: dict[str, Decimal]  # instruments of settled markets the venue still lists
    ok: bool
    reason: str = ""


class PositionsRedeemed(Event, frozen=True, kw_only=True):
    """Winning outcome tokens redeemed for collateral on chain (Polymarket)."""

    venue: Venue
    market_id: str  # condition id
    neg_risk: bool
    amounts: dict[str, Decimal]  # instrument id -> shares redeemed
    collateral_returned: Decimal
    tx_hash: str
    route: str  # "eoa" (signed transaction through JSON-RPC) or "relayer"
    block_number: int = 0
    currency: str = "USDC"


class PositionsMerged(Event, frozen=True, kw_only=True):
    """Complete sets merged back into collateral on chain (Polymarket): 1 per set."""

    venue: Venue
    market_id: str
    neg_risk: bool
    sets: Decimal
    collateral_returned: Decimal
    tx_hash: str
    route: str
    block_number: int = 0
    currency: str = "USDC"


class PositionActionFailed(Event, frozen=True, kw_only=True):
    """A merge or redeem that did not happen (refused, reverted, or never mined)."""

    venue: Venue
    market_id: str
    action: str  # "merge" or "redeem"
    reason: str
    tx_hash: str = ""


class Settlement:
    """Books resolutions against a :class:`~arbkit.execution.portfolio.Portfolio`.

    ``journal`` is anything with ``append_event(event)`` (the node's journal); ``publish`` (optional)
    gets every event it makes (the bus)."""

    def __init__(self, portfolio: Any, journal: Any | None = None,
                 publish: Callable[[Event], Any] | None = None, now_ns: Callable[[], int] | None = None,
                 *, defer: bool = False) -> None:
        self.portfolio = portfolio
        self.journal = journal
        self.publish = publish
        self._now = now_ns or (lambda: 0)
        self.booked: dict[tuple[Venue, str], SettlementBooked] = {}
        self.capital_pending: dict[tuple[Venue, str], Decimal] = {}  # Polymarket: proceeds awaiting redeem
        self.pnl: dict[Venue, Decimal] = {}
        self._credited: dict[tuple[Venue, str], Decimal] = {}  # Kalshi: proceeds credited, per market
        # A node books nothing until restore() has read the journal and the venues' positions are
        # adopted: a resolution that arrives during start-up waits here (else it would book
        # against an empty portfolio and mark the market settled with nothing in it).
        self._pending: list[MarketResolved] | None = [] if defer else None

    # --- the hook ------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Bus subscriber: books MarketResolved, ignores everything else. Never raises."""
        if not isinstance(event, MarketResolved):
            return
        if self._pending is not None:
            self._pending.append(event)
            return
        try:
            self.book(event)
        except Exception:  # noqa: BLE001 - a bad resolution must not take the bus subscriber down
            log.exception("settlement: could not book %s %s", event.venue.value, event.market_id)

    def book(self, ev: MarketResolved) -> SettlementBooked | None:
        key = (ev.venue, ev.market_id)
        if key in self.booked or not ev.payouts:
            return None
        lines: list[SettlementLine] = []
        proceeds = cost = ZERO
        for iid, payout in ev.payouts.items():
            pos = self.portfolio.positions.get((ev.venue, iid))
            if pos is None or pos.quantity == 0:
                continue
            qty = pos.quantity
            line_proceeds = qty * payout
            line_cost = qty * pos.avg_price if pos.avg_price is not None else ZERO
            lines.append(SettlementLine(instrument_id=iid, quantity=qty, payout=payout, avg_price=pos.avg_price,
                                        proceeds=line_proceeds, cost=line_cost, pnl=line_proceeds - line_cost))
            proceeds += line_proceeds
            cost += line_cost
            pos.quantity, pos.avg_price = ZERO, None
        currency = SETTLEMENT_CURRENCY.get(ev.venue, "USD")
        credited = ev.venue is Venue.KALSHI
        booked = SettlementBooked(venue=ev.venue, market_id=ev.market_id, stage=ev.stage,
                                  winning_instrument_id=ev.winning_instrument_id, lines=lines, proceeds=proceeds,
                                  cost=cost, pnl=proceeds - cost, currency=currency, cash_credited=credited,
                                  correlation_id=ev.correlation_id or f"resolution:{ev.market_id}",
                                  ts_venue=ev.ts_venue, ts_recv=self._now() or ev.ts_recv)
        self.booked[key] = booked
        self.pnl[ev.venue] = self.pnl.get(ev.venue, ZERO) + booked.pnl
        if proceeds:
            if credited:
                ckey = (ev.venue, currency)
                self.portfolio.cash[ckey] = self.portfolio.cash.get(ckey, ZERO) + proceeds
                self._credited[key] = proceeds
            else:
                self.capital_pending[key] = proceeds
        self._out(booked)
        log.info("settlement: %s %s booked %s lines, proceeds %s, P&L %s %s", ev.venue.value, ev.market_id,
                 len(lines), proceeds, booked.pnl, currency)
        return booked

    def redeemed(self, ev: PositionsRedeemed) -> None:
        """A redeem came back: the pending capital of that market is returned."""
        self.capital_pending.pop((ev.venue, ev.market_id), None)

    # --- Kalshi: the venue settled by itself ----------------------------------------------------

    async def reconcile(self, venue: Venue, gateway: Any, *, balance_before: Decimal | None = None) -> SettlementReconciled:
        """Read the venue's balance and positions after settlement (``gateway.balances()`` /
        ``gateway.positions()``) and journal whether they agree with what was booked: no position
        left in a settled market and, given ``balance_before``, a balance up by exactly the credited
        proceeds."""
        markets = [m for (v, m) in self.booked if v is venue]
        currency = SETTLEMENT_CURRENCY.get(venue, "USD")
        reasons: list[str] = []
        balance = expected = None
        try:
            balances = await gateway.balances()
            balance = next((b.total for b in balances if b.currency == currency), ZERO)
        except Exception as exc:  # noqa: BLE001 - a failed read is journaled as such
            reasons.append(f"balance read failed: {exc!r}")
        leftover: dict[str, Decimal] = {}
        try:
            settled_ids = {line.instrument_id for (v, _m), b in self.booked.items() if v is venue for line in b.lines}
            settled_ids |= {iid for (v, m), b in self.booked.items() if v is venue
                            for iid in (f"kalshi:{m}:yes", f"kalshi:{m}:no")}
            for p in await gateway.positions():
                if p.instrument_id in settled_ids and p.quantity != 0:
                    leftover[p.instrument_id] = p.quantity
        except Exception as exc:  # noqa: BLE001
            reasons.append(f"positions read failed: {exc!r}")
        if leftover:
            reasons.append(f"the venue still lists positions in settled markets: {sorted(leftover)}")
        if balance_before is not None and balance is not None:
            expected = balance_before + sum((c for (v, _m), c in self._credited.items() if v is venue), ZERO)
            if balance != expected:
                reasons.append(f"balance {balance} {currency}, expected {expected}")
        ev = SettlementReconciled(venue=venue, market_ids=markets, balance=balance, expected_balance=expected,
                                  currency=currency, leftover_positions=leftover, ok=not reasons,
                                  reason="; ".join(reasons), correlation_id=f"settlement-reconcile:{venue.value}",
                                  ts_recv=self._now())
        if balance is not None:
            self.portfolio.cash[(venue, currency)] = balance  # the venue's figure is the truth
        self._out(ev)
        if reasons:
            log.warning("settlement reconcile %s: %s", venue.value, ev.reason)
        return ev

    # --- restart --------------------------------------------------------------------------------

    def restore(self, journal: Any) -> int:
        """Rebuild what was booked from the journal (``SettlementBooked``, ``PositionsRedeemed``)
        after a restart, so a market is never booked twice and Polymarket proceeds still awaiting
        a redeem stay pending. Positions of settled markets are flat again in the portfolio: the
        venue may still list unredeemed winning tokens, but they are capital pending, not risk.
        Returns the number of records read."""
        n = 0
        for rec in journal.replay(kinds=("SettlementBooked", "PositionsRedeemed")):
            n += 1
            ev = rec.decode()
            if isinstance(ev, SettlementBooked):
                key = (ev.venue, ev.market_id)
                if key in self.booked:
                    continue
                self.booked[key] = ev
                self.pnl[ev.venue] = self.pnl.get(ev.venue, ZERO) + ev.pnl
                if ev.proceeds:
                    if ev.cash_credited:
                        self._credited[key] = ev.proceeds
                    else:
                        self.capital_pending[key] = ev.proceeds
            elif isinstance(ev, PositionsRedeemed):
                self.redeemed(ev)
        for (venue, _m), b in self.booked.items():
            for line in b.lines:
                pos = self.portfolio.positions.get((venue, line.instrument_id))
                if pos is not None and pos.quantity != 0:
                    pos.quantity, pos.avg_price = ZERO, None
        pending, self._pending = self._pending or [], None
        for event in pending:
            self.on_event(event)
        return n

    def is_settled(self, venue: Venue, market_id: str) -> bool:
        return (venue, market_id) in self.booked

    # --- reads for the dashboard / report -------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        return {
            "markets_settled": len(self.booked),
            "pnl": {v.value: str(p) for v, p in self.pnl.items()},
            "capital_pending": {f"{v.value}:{m}": str(a) for (v, m), a in self.capital_pending.items()},
        }

    def _out(self, ev: Event) -> None:
        if self.journal is not None:
            self.journal.append_event(ev)
        if self.publish is not None:
            self.publish(ev)
