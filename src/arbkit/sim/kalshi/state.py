"""Kalshi semantics on top of the simulator's matching engine.

The engine keeps one YES-terms book per market and per-outcome positions. Kalshi adds:

* order direction as ``side`` (yes|no) + ``action`` (buy|sell); a "sell yes" without enough YES
  held opens NO (it rests as the same YES ask), so it is submitted as BUY NO at 1 - p;
* one signed position per market (``position_fp``: +YES / -NO). Holding both outcomes is netted:
  complete sets of an API account are redeemed for $1 each right after the operation;
* per-order taker / maker cost and fee split, fills per account, position statistics
  (total traded, exposure, realized P&L, fees paid) and market statistics (volume, last price).

``KalshiState`` listens to the engine and feeds ``sinks`` (the WebSocket hub) with Kalshi-level
facts: book deltas per (ticker, side, price), public trades, private fills and ticker changes.
"""

from __future__ import annotations

import datetime as _dt

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Protocol

from arbkit.core.enums import Side
from arbkit.sim.events import SimMarketResolved
from arbkit.sim.events import (
    BookLevelChanged,
    OrderUpdated,
    OrderUpdateKind,
    Outcome,
    SimEvent,
    SimOrder,
    SimOrderStatus,
    SimTrade,
    TradeExecuted,
)
from arbkit.sim.kalshi.catalog import Catalog, stable_uuid
from arbkit.sim.kalshi.fixed import (
    PRICE_ONE,
    count_to_decimal,
    decimal_to_count,
    decimal_to_money,
    decimal_to_price,
)

log = logging.getLogger(__name__)

KALSHI_CURRENCY = "USD"


@dataclass(slots=True)
class FillRecord:
    """One fill of one account's order, in Kalshi terms."""

    trade_id: str
    order_id: str
    account_id: str
    ticker: str
    side: str  # the Kalshi order's side (yes|no)
    action: str  # the Kalshi order's action (buy|sell)
    outcome_side: str  # the outcome this fill bought: buy yes / sell no -> yes
    count: int  # lots
    price_yes: int  # $0.0001 units
    is_taker: bool
    fee: int  # money units
    ts_ns: int
    client_order_id: str
    post_position: int  # signed lots after the fill (+YES / -NO)


@dataclass(slots=True)
class PublicTrade:
    trade_id: str
    ticker: str
    price_yes: int
    count: int
    taker_side: str
    ts_ns: int


@dataclass(slots=True)
class OrderCosts:
    taker_cost: int = 0
    maker_cost: int = 0
    taker_fees: int = 0
    maker_fees: int = 0


@dataclass(slots=True)
class PositionStats:
    position: int = 0  # signed lots, YES positive
    basis: int = 0  # money units paid for the open position
    realized_pnl: int = 0
    total_traded: int = 0
    fees_paid: int = 0
    fee_basis: int = 0  # fees paid for the open position (WS position_fee_cost_dollars)
    volume: int = 0  # lots traded in this market
    last_updated_ns: int = 0


@dataclass(slots=True)
class MarketStats:
    volume: int = 0  # lots
    dollar_volume: int = 0  # money units (YES-price notional)
    last_price: int = 0  # $0.0001 units of the last trade (YES terms); 0 before any trade
    last_size: int = 0
    previous_price: int = 0


class StateSink(Protocol):
    def on_book(self, ticker: str, side: str, price: int, delta: int, ts_ns: int, initiator: tuple[str, str] | None) -> None: ...
    def on_trade(self, trade: SimTrade, taker_outcome: str) -> None: ...
    def on_fill(self, fill: FillRecord) -> None: ...
    def on_ticker(self, ticker: str, ts_ns: int) -> None: ...
    def on_order(self, order: SimOrder) -> None: ...
    def on_position(self, account: str, ticker: str, stats: PositionStats) -> None: ...


def kalshi_direction(meta: dict[str, Any], outcome: Outcome, side: Side) -> tuple[str, str]:
    """(side, action) of an engine order: what the Kalshi client sent, or what the engine order is."""
    k_side = meta.get("k_side")
    k_action = meta.get("k_action")
    if k_side and k_action:
        return k_side, k_action
    return outcome.value.lower(), side.value.lower()


def outcome_side_of(side: str, action: str) -> str:
    """buy-yes and sell-no position you for YES; buy-no and sell-yes for NO."""
    return side if action == "buy" else ("no" if side == "yes" else "yes")


def order_status(order: SimOrder) -> str:
    if order.status is SimOrderStatus.OPEN:
        return "resting"
    if order.status is SimOrderStatus.FILLED:
        return "executed"
    return "canceled"


class KalshiState:
    def __init__(self, engine: Any, catalog: Catalog, api_accounts: Iterable[str]) -> None:
        self.engine = engine
        self.catalog = catalog
        self.api_accounts = set(api_accounts)
        self.fills: dict[str, list[FillRecord]] = {}
        self.trades: list[PublicTrade] = []  # every trade of the venue, oldest first (GET /markets/trades)
        self.costs: dict[str, OrderCosts] = {}
        self.positions: dict[tuple[str, str], PositionStats] = {}
        self.market_stats: dict[str, MarketStats] = {t: MarketStats() for t in catalog.markets}
        self.levels: dict[tuple[str, str], dict[int, int]] = {}  # (ticker, yes|no) -> price -> lots (bids)
        self.sinks: list[StateSink] = []
        self.initiator: tuple[str, str] | None = None  # (account, client order id) of the REST call in progress
        self._pending_net: set[tuple[str, str]] = set()
        self._net_scheduled = False
        self.listener_errors = 0
        for ticker in catalog.markets:
            self._load_levels(ticker)
        self._unsubscribe = engine.subscribe(self._on_batch)

    def close(self) -> None:
        self._unsubscribe()

    def add_market(self, spec: Any, sm: Any | None, ts_ns: int) -> Any:
        """A market the scenario listed while the venue runs: catalogued, mirrored, announced
        (``created`` / ``activated`` on market_lifecycle_v2)."""
        info = self.catalog.add(spec, sm, open_time=_dt.datetime.fromtimestamp(ts_ns / 1e9, _dt.timezone.utc)
                                .strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.market_stats.setdefault(info.ticker, MarketStats())
        self._load_levels(info.ticker)
        for s in self.sinks:
            hook = getattr(s, "on_market_listed", None)
            if hook is not None:
                hook(info, ts_ns)
        return info

    # --- book mirror ---------------------------------------------------------------------------------

    def _load_levels(self, ticker: str) -> None:
        for outcome in (Outcome.YES, Outcome.NO):
            view = self.engine.book(ticker, outcome)
            self.levels[(ticker, outcome.value.lower())] = {decimal_to_price(p): decimal_to_count(s) for p, s in view.bids}

    def bids(self, ticker: str, side: str) -> list[tuple[int, int]]:
        """Bids of one side, ascending by price (Kalshi's array order)."""
        return sorted(self.levels[(ticker, side)].items())

    def best_bid(self, ticker: str, side: str) -> tuple[int, int] | None:
        lv = self.levels[(ticker, side)]
        if not lv:
            return None
        p = max(lv)
        return p, lv[p]

    # --- engine listener ----------------------------------------------------------------------------------

    def _on_batch(self, batch: list[SimEvent]) -> None:
        try:
            self._handle(batch)
        except Exception:  # never break the engine; count and log
            self.listener_errors += 1
            log.exception("kalshi state listener failed")

    def _handle(self, batch: list[SimEvent]) -> None:
        touched: dict[str, int] = {}
        orders_in_batch: dict[str, SimOrder] = {}
        for ev in batch:
            if isinstance(ev, OrderUpdated):
                orders_in_batch[ev.order.order_id] = ev.order
        for ev in batch:
            if isinstance(ev, BookLevelChanged):
                if ev.side is not Side.BUY or ev.market_id not in self.catalog.markets:
                    continue  # Kalshi shows bids only: YES bids and NO bids
                side = ev.outcome.value.lower()
                price = decimal_to_price(ev.price)
                new = decimal_to_count(ev.size)
                lv = self.levels[(ev.market_id, side)]
                old = lv.get(price, 0)
                if new:
                    lv[price] = new
                else:
                    lv.pop(price, None)
                if new != old:
                    for s in self.sinks:
                        s.on_book(ev.market_id, side, price, new - old, ev.ts_ns, self.initiator)
                touched[ev.market_id] = ev.ts_ns
            elif isinstance(ev, TradeExecuted):
                if ev.trade.market_id not in self.catalog.markets:
                    continue
                self._on_trade(ev.trade, orders_in_batch)
                touched[ev.trade.market_id] = ev.ts_ns
            elif isinstance(ev, SimMarketResolved):
                if ev.market_id in self.catalog.markets:
                    for s in self.sinks:
                        hook = getattr(s, "on_market_resolved", None)
                        if hook is not None:
                            hook(ev.market_id, ev.winner.value.lower(), ev.ts_ns)
            elif isinstance(ev, OrderUpdated):
                # after this order's TradeExecuted (the engine emits the trade first), so the order's
                # cost and fee totals already include the fill
                if ev.order.account_id in self.api_accounts and ev.update is not OrderUpdateKind.REJECTED:
                    for s in self.sinks:
                        s.on_order(ev.order)
        for ticker, ts in touched.items():
            for s in self.sinks:
                s.on_ticker(ticker, ts)
        if self._pending_net and not self._net_scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                self._net_scheduled = True
                loop.call_soon(self._net_soon)

    def _order_meta(self, order_id: str, orders_in_batch: dict[str, SimOrder]) -> SimOrder | None:
        return orders_in_batch.get(order_id) or self.engine.order(order_id)

    def _on_trade(self, trade: SimTrade, orders_in_batch: dict[str, SimOrder]) -> None:
        ticker = trade.market_id
        price_yes = decimal_to_price(trade.price_yes)
        lots = decimal_to_count(trade.size)
        ms = self.market_stats[ticker]
        ms.previous_price = ms.last_price
        ms.last_price = price_yes
        ms.last_size = lots
        ms.volume += lots
        ms.dollar_volume += price_yes * lots
        taker = self._order_meta(trade.taker_order_id, orders_in_batch)
        taker_meta = taker.meta if taker is not None else {}
        # public trades report the taker's OUTCOME (taker_outcome_side; the deprecated taker_side is gone)
        taker_outcome = outcome_side_of(*kalshi_direction(taker_meta, trade.taker_outcome, trade.taker_side))
        self.trades.append(PublicTrade(trade.trade_id, ticker, price_yes, lots, taker_outcome, trade.ts_ns))
        for s in self.sinks:
            s.on_trade(trade, taker_outcome)
        for is_taker in (True, False):
            account = trade.taker_account if is_taker else trade.maker_account
            order_id = trade.taker_order_id if is_taker else trade.maker_order_id
            outcome = trade.taker_outcome if is_taker else trade.maker_outcome
            eside = trade.taker_side if is_taker else trade.maker_side
            fee = decimal_to_money(trade.taker_fee if is_taker else trade.maker_fee)
            order = taker if is_taker else self._order_meta(order_id, orders_in_batch)
            meta = order.meta if order is not None else {}
            k_side, k_action = kalshi_direction(meta, outcome, eside)
            own_price = price_yes if k_side == "yes" else PRICE_ONE - price_yes
            costs = self.costs.setdefault(order_id, OrderCosts())
            if is_taker:
                costs.taker_cost += own_price * lots
                costs.taker_fees += fee
            else:
                costs.maker_cost += own_price * lots
                costs.maker_fees += fee
            if account not in self.api_accounts:
                continue
            o_side = outcome_side_of(k_side, k_action)
            post = self._apply_position(account, ticker, o_side, price_yes, lots, fee, trade.ts_ns)
            rec = FillRecord(
                trade_id=trade.trade_id,
                order_id=order_id,
                account_id=account,
                ticker=ticker,
                side=k_side,
                action=k_action,
                outcome_side=o_side,
                count=lots,
                price_yes=price_yes,
                is_taker=is_taker,
                fee=fee,
                ts_ns=trade.ts_ns,
                client_order_id=order.client_order_id if order is not None else "",
                post_position=post,
            )
            self.fills.setdefault(account, []).append(rec)
            if not getattr(self.engine, "auto_net", False):
                self._pending_net.add((account, ticker))  # the engine does not net: do it after the op
            for s in self.sinks:
                s.on_fill(rec)
            for s in self.sinks:
                s.on_position(account, ticker, self.positions[(account, ticker)])

    def _apply_position(self, account: str, ticker: str, o_side: str, price_yes: int, lots: int, fee: int, ts_ns: int) -> int:
        st = self.positions.setdefault((account, ticker), PositionStats())
        d = 1 if o_side == "yes" else -1
        paid = price_yes if d > 0 else PRICE_ONE - price_yes  # per contract of the outcome bought
        st.total_traded += paid * lots
        st.fees_paid += fee
        st.volume += lots
        st.last_updated_ns = ts_ns
        q = lots
        if st.position and (st.position > 0) != (d > 0):
            held = abs(st.position)
            close = min(q, held)
            removed = st.basis * close // held
            # closing `close` held contracts by buying the other outcome: each pair redeems for $1
            st.realized_pnl += PRICE_ONE * close - paid * close - removed
            st.basis -= removed
            st.fee_basis -= st.fee_basis * close // held
            st.position += d * close
            q -= close
        if q:
            st.position += d * q
            st.basis += paid * q
            st.fee_basis += fee * q // lots
        return st.position

    # --- netting -----------------------------------------------------------------------------------------

    def _net_soon(self) -> None:
        self._net_scheduled = False
        self.net_pending()

    def net_pending(self) -> None:
        """Redeem complete sets held by API accounts (Kalshi nets YES against NO)."""
        while self._pending_net:
            pending = sorted(self._pending_net)
            self._pending_net.clear()
            for account, ticker in pending:
                acc = self.engine.accounts
                n = min(acc.pos_available(account, ticker, Outcome.YES), acc.pos_available(account, ticker, Outcome.NO))
                if n > 0:
                    self.engine.merge_for(account, ticker, count_to_decimal(n))

    # --- views ---------------------------------------------------------------------------------------------

    def position_lots(self, account: str, ticker: str) -> int:
        acc = self.engine.accounts
        return acc.pos_total(account, ticker, Outcome.YES) - acc.pos_total(account, ticker, Outcome.NO)

    def user_id(self, account: str) -> str:
        return stable_uuid("user", account)

    def open_interest(self, ticker: str) -> Decimal:
        return self.engine.collateral_locked(ticker)
