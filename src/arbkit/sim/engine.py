"""The simulator's matching engine: one central limit order book per binary market.

One ``MatchingEngine`` per simulated venue. Each binary market has ONE book held in YES terms:
BUY YES @p and SELL NO @q rest as YES bids (at p and 1-q); SELL YES @p and BUY NO @q rest as
YES asks. Crossing a YES bid with a YES ask is a transfer (same outcome changes hands), a mint
(BUY YES vs BUY NO: both pay, a complete set is created) or a merge (SELL YES vs SELL NO: both
deliver, the set is redeemed). The YES and NO books a venue shows are two views of that book.

Exact and deterministic: prices are integer units of 1e-4, sizes integer lots of 0.01, cash
integer units of 1e-6; ids come from counters; time comes from the injected clock. The public
contract is documented in notes/sim_engine_api.md (kept in sync with this file).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import uuid
from collections import deque
from decimal import Decimal
from enum import Enum
from typing import Any, Callable, Iterable

import msgspec
from sortedcontainers import SortedDict

from arbkit.core.clock import NS, Clock
from arbkit.core.enums import LiquiditySide, Side
from arbkit.core.fees import NO_FEE, FeeSpec, fee_for
from arbkit.sim.accounts import (
    CASH_UNIT,
    SIZE_UNIT,
    Accounts,
    cash_to_units,
    lots_to_size,
    size_to_lots,
    units_to_cash,
)
from arbkit.sim.events import (
    BalanceChanged,
    BookLevelChanged,
    MarketResolved,
    MarketStatusChanged,
    MatchKind,
    OrderKind,
    OrderUpdated,
    OrderUpdateKind,
    Outcome,
    SimEvent,
    SimOrder,
    SimOrderStatus,
    SimTrade,
    TickSizeChanged,
    Tif,
    TradeExecuted,
    TradeStatus,
    TradeStatusChanged,
)

log = logging.getLogger(__name__)

__all__ = [
    "PRICE_UNIT",
    "PRICE_ONE",
    "SIZE_UNIT",
    "CASH_UNIT",
    "price_to_units",
    "units_to_price",
    "size_to_lots",
    "lots_to_size",
    "cash_to_units",
    "units_to_cash",
    "Outcome",
    "OrderKind",
    "Tif",
    "SimOrderStatus",
    "OrderUpdateKind",
    "MatchKind",
    "TradeStatus",
    "SimOrder",
    "SimTrade",
    "RejectCode",
    "StpMode",
    "SettlementConfig",
    "MarketSpec",
    "OrderParams",
    "SubmitOutcome",
    "CancelOutcome",
    "BookView",
    "MatchingEngine",
]

PRICE_UNIT = Decimal("0.0001")
PRICE_ONE = 10_000  # 1.0 in price units


def price_to_units(price: Decimal) -> int:
    q, r = divmod(price, PRICE_UNIT)
    if r != 0:
        raise ValueError(f"price {price} is not a multiple of {PRICE_UNIT}")
    return int(q)


def units_to_price(units: int) -> Decimal:
    """Price units -> Decimal with exactly 4 decimals (servers format for their wire)."""
    return Decimal(units).scaleb(-4)


_fmt_price = units_to_price


class RejectCode(str, Enum):
    UNKNOWN_MARKET = "UNKNOWN_MARKET"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    INVALID_ORDER = "INVALID_ORDER"
    INVALID_PRICE_TICK = "INVALID_PRICE_TICK"
    PRICE_OUT_OF_RANGE = "PRICE_OUT_OF_RANGE"
    INVALID_SIZE_INCREMENT = "INVALID_SIZE_INCREMENT"
    SIZE_BELOW_MIN = "SIZE_BELOW_MIN"
    NOTIONAL_BELOW_MIN = "NOTIONAL_BELOW_MIN"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    INSUFFICIENT_POSITION = "INSUFFICIENT_POSITION"
    POST_ONLY_WOULD_CROSS = "POST_ONLY_WOULD_CROSS"
    FOK_NOT_FILLABLE = "FOK_NOT_FILLABLE"
    SELF_TRADE = "SELF_TRADE"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    DUPLICATE_ORDER_ID = "DUPLICATE_ORDER_ID"
    EXPIRATION_IN_PAST = "EXPIRATION_IN_PAST"
    MARKET_HALTED = "MARKET_HALTED"
    FAULT_REJECT = "FAULT_REJECT"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ORDER_NOT_OPEN = "ORDER_NOT_OPEN"
    NOT_OWNER = "NOT_OWNER"


class StpMode(str, Enum):
    CANCEL_RESTING = "CANCEL_RESTING"
    REJECT_TAKER = "REJECT_TAKER"


class SettlementConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How trades settle. ``instant``: born CONFIRMED (Kalshi). Otherwise MATCHED, then MINED and
    CONFIRMED after these many clock seconds (Polymarket on-chain settlement)."""

    instant: bool = False
    mined_after_s: Decimal = Decimal(2)
    confirmed_after_s: Decimal = Decimal(4)


class MarketSpec(msgspec.Struct, frozen=True, kw_only=True):
    market_id: str
    yes_symbol: str
    no_symbol: str
    tick_size: Decimal = Decimal("0.01")
    size_increment: Decimal = Decimal("0.01")
    min_size: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    fee: FeeSpec = NO_FEE
    currency: str = "USDC"
    event_id: str | None = None
    neg_risk: bool = False
    title: str = ""


class OrderParams(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    symbol: str
    side: Side
    size: Decimal
    price: Decimal | None = None
    kind: OrderKind = OrderKind.LIMIT
    tif: Tif = Tif.GTC
    post_only: bool = False
    expire_at_ns: int = 0
    client_order_id: str = ""
    order_id: str | None = None
    max_notional: Decimal | None = None
    reduce_only: bool = False
    stp: StpMode | None = None  # per-order self-trade rule (Kalshi self_trade_prevention_type); None = venue's
    meta: dict = msgspec.field(default_factory=dict)


class SubmitOutcome(msgspec.Struct, kw_only=True):
    accepted: bool
    order: SimOrder | None
    code: RejectCode | None = None
    message: str = ""
    trades: list[SimTrade] = msgspec.field(default_factory=list)


class CancelOutcome(msgspec.Struct, kw_only=True):
    ok: bool
    order: SimOrder | None
    code: RejectCode | None = None
    message: str = ""


class BookView(msgspec.Struct, frozen=True, kw_only=True):
    market_id: str
    symbol: str
    outcome: Outcome
    bids: list[tuple[Decimal, Decimal]]  # best first
    asks: list[tuple[Decimal, Decimal]]  # best first
    seq: int
    ts_ns: int


# --- internal state ------------------------------------------------------------------------------


class _Order:
    __slots__ = (
        "order_id",
        "client_order_id",
        "account_id",
        "market",
        "symbol",
        "outcome",
        "side",
        "kind",
        "tif",
        "post_only",
        "price_u",
        "bound_u",
        "is_bid",
        "yes_price_u",
        "size_l",
        "filled_l",
        "status",
        "reason",
        "created_ns",
        "updated_ns",
        "expire_at_ns",
        "notional_u",
        "fees_u",
        "meta",
        "res_cash_u",
        "res_pos_l",
        "max_notional_u",
        "resting",
        "stp",
    )

    def __init__(self) -> None:
        self.resting = False

    @property
    def remaining_l(self) -> int:
        return self.size_l - self.filled_l


class _Level:
    __slots__ = ("total", "orders")

    def __init__(self) -> None:
        self.total = 0
        self.orders: deque[_Order] = deque()


class _Market:
    __slots__ = ("spec", "tick_u", "inc_l", "min_l", "min_notional_u", "bids", "asks", "seq", "halted", "collateral_u", "last_ts",
                 "resolved")

    def __init__(self, spec: MarketSpec) -> None:
        self.spec = spec
        self.tick_u = price_to_units(spec.tick_size)
        self.inc_l = size_to_lots(spec.size_increment)
        self.min_l = size_to_lots(spec.min_size) if spec.min_size else 0
        self.min_notional_u = cash_to_units(spec.min_notional) if spec.min_notional else 0
        self.bids: SortedDict = SortedDict()  # yes price units -> _Level; best = last
        self.asks: SortedDict = SortedDict()  # best = first
        self.seq = 0
        self.halted = False
        self.collateral_u = 0  # cash locked by minted complete sets
        self.last_ts = 0
        self.resolved: Outcome | None = None  # the winner, once the market resolved


class _TradeRec:
    __slots__ = ("trade", "doomed", "reversal")

    def __init__(self, trade: SimTrade, doomed: bool, reversal: list[tuple]) -> None:
        self.trade = trade
        self.doomed = doomed
        self.reversal = reversal


_HALF = Decimal("0.5")


class _Reject(Exception):
    def __init__(self, code: RejectCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MatchingEngine:
    """Order books, accounts and settlement of one simulated venue."""

    def __init__(
        self,
        venue: str,
        clock: Clock,
        *,
        stp: StpMode = StpMode.CANCEL_RESTING,
        settlement: SettlementConfig | None = None,
        faults: Any = None,
        order_id_style: str = "uuid",
        auto_net: bool = False,
        fee_fn: Callable[..., Decimal] | None = None,
    ) -> None:
        self.venue = venue
        self.clock = clock
        self.stp = stp
        self.settlement = settlement or SettlementConfig()
        self.faults = faults
        self.order_id_style = order_id_style
        self.auto_net = auto_net
        self.fault_exempt_accounts: set[str] = set()
        self.fee_fn = fee_fn
        self.accounts = Accounts()
        self.fees_collected: dict[str, int] = {}  # currency -> cash units
        self.halted = False
        self.listener_errors = 0
        self._markets: dict[str, _Market] = {}
        self._symbols: dict[str, tuple[_Market, Outcome]] = {}
        self._orders: dict[str, _Order] = {}
        self._resting: dict[str, _Order] = {}  # open orders on a book, in arrival order
        self._coids: dict[tuple[str, str], str] = {}  # (account, client id) -> order id, live orders
        self._trades: list[_TradeRec] = []
        self._trade_index: dict[str, _TradeRec] = {}
        self._order_seq = itertools.count(1)
        self._trade_seq = itertools.count(1)
        self._op_seq = 0
        self._expiries: list[tuple[int, int, str]] = []
        self._settle: list[tuple[int, int, str, TradeStatus]] = []
        self._timer_seq = itertools.count()
        self._listeners: list[Callable[[list[SimEvent]], None]] = []
        self._batch: list[SimEvent] = []
        self._touched: dict[tuple[str, bool, int], int] = {}  # (market, is_bid, yes price) -> old total
        self._touched_cash: dict[tuple[str, str], None] = {}
        self._in_op = False
        self._now = 0
        self._id_ns = hashlib.sha256(venue.encode()).digest()

    # --- markets ---------------------------------------------------------------------------------

    def add_market(self, spec: MarketSpec) -> None:
        if spec.market_id in self._markets:
            raise ValueError(f"market {spec.market_id!r} already exists")
        if spec.yes_symbol in self._symbols or spec.no_symbol in self._symbols or spec.yes_symbol == spec.no_symbol:
            raise ValueError(f"symbols of market {spec.market_id!r} are not unique")
        m = _Market(spec)
        if m.tick_u <= 0 or m.inc_l <= 0:
            raise ValueError(f"market {spec.market_id!r}: tick and size increment must be positive")
        self._markets[spec.market_id] = m
        self._symbols[spec.yes_symbol] = (m, Outcome.YES)
        self._symbols[spec.no_symbol] = (m, Outcome.NO)
        self.accounts.symbols[(spec.market_id, Outcome.YES)] = spec.yes_symbol
        self.accounts.symbols[(spec.market_id, Outcome.NO)] = spec.no_symbol

    def market(self, market_id: str) -> MarketSpec:
        return self._markets[market_id].spec

    def markets(self) -> list[MarketSpec]:
        return [m.spec for m in self._markets.values()]

    def event_markets(self, event_id: str) -> list[MarketSpec]:
        """The binary markets of one (neg-risk) event, in the order they were added."""
        return [m.spec for m in self._markets.values() if m.spec.event_id == event_id]

    def resolve(self, symbol: str) -> tuple[MarketSpec, Outcome]:
        m, o = self._symbols[symbol]
        return m.spec, o

    def symbol_of(self, market_id: str, outcome: Outcome) -> str:
        spec = self._markets[market_id].spec
        return spec.yes_symbol if outcome is Outcome.YES else spec.no_symbol

    def _market_of(self, market_or_symbol: str) -> tuple[_Market, Outcome | None]:
        m = self._markets.get(market_or_symbol)
        if m is not None:
            return m, None
        m2, o = self._symbols[market_or_symbol]
        return m2, o

    def set_tick_size(self, market_id: str, tick: Decimal) -> None:
        """Change a market's tick (Polymarket tick_size_change); ValueError for an invalid tick."""
        m = self._markets[market_id]
        if tick <= 0 or tick >= 1 or tick % PRICE_UNIT:
            raise ValueError(f"tick size {tick} must be in (0, 1) and a multiple of {PRICE_UNIT}")
        self._begin()
        try:
            old = m.spec.tick_size
            m.spec = msgspec.structs.replace(m.spec, tick_size=tick)
            m.tick_u = price_to_units(tick)
            self._emit(TickSizeChanged, market_id=market_id, old_tick=old, new_tick=tick)
        finally:
            self._end()

    def set_halted(self, market_id: str | None, halted: bool) -> None:
        self._begin()
        try:
            if market_id is None:
                self.halted = halted
            else:
                self._markets[market_id].halted = halted
            self._emit(MarketStatusChanged, market_id=market_id, halted=halted)
        finally:
            self._end()

    def _faults_apply(self, account_id: str) -> bool:
        """Order/trade faults target client accounts; background traders never use them up."""
        return self.faults is not None and account_id not in self.fault_exempt_accounts

    def is_halted(self, market_id: str | None = None) -> bool:
        if self.halted:
            return True
        if self.faults is not None and self.faults.is_halted(self.venue):
            return True
        return bool(market_id and self._markets[market_id].halted)

    # --- listeners --------------------------------------------------------------------------------

    def subscribe(self, fn: Callable[[list[SimEvent]], None]) -> Callable[[], None]:
        self._listeners.append(fn)

        def unsubscribe() -> None:
            if fn in self._listeners:
                self._listeners.remove(fn)

        return unsubscribe

    def _begin(self) -> None:
        if self._in_op:
            raise RuntimeError("re-entrant engine call (a listener must not submit or cancel synchronously)")
        self._in_op = True
        self._op_seq += 1
        self._now = self.clock.now_ns()
        self._batch = []
        self._touched = {}
        self._touched_cash = {}

    def _end(self) -> None:
        try:
            self._flush_levels()
            for acct, cur in self._touched_cash:
                s = self.accounts._cash_slot(acct, cur)
                self._emit(
                    BalanceChanged,
                    account_id=acct,
                    currency=cur,
                    total=units_to_cash(s[0]),
                    available=units_to_cash(s[0] - s[1]),
                )
        finally:
            self._in_op = False
        batch, self._batch = self._batch, []
        if batch:
            for fn in list(self._listeners):
                try:
                    fn(batch)
                except Exception:  # a broken listener must not break matching
                    self.listener_errors += 1
                    log.exception("sim engine listener failed")

    def _emit(self, cls: type, **fields: Any) -> None:
        self._batch.append(cls(venue=self.venue, ts_ns=self._now, op=self._op_seq, **fields))

    def _touch(self, m: _Market, is_bid: bool, price_u: int, old_total: int) -> None:
        key = (m.spec.market_id, is_bid, price_u)
        if key not in self._touched:
            self._touched[key] = old_total

    def _flush_levels(self) -> None:
        changed: dict[str, list[tuple[bool, int, int]]] = {}
        for (mid, is_bid, price_u), old in self._touched.items():
            m = self._markets[mid]
            book = m.bids if is_bid else m.asks
            lvl = book.get(price_u)
            new = lvl.total if lvl is not None else 0
            if new != old:
                changed.setdefault(mid, []).append((is_bid, price_u, new))
        for mid, levels in changed.items():
            m = self._markets[mid]
            m.seq += 1
            m.last_ts = self._now
            spec = m.spec
            for is_bid, price_u, total in levels:
                size = lots_to_size(total)
                self._emit(
                    BookLevelChanged,
                    market_id=mid,
                    symbol=spec.yes_symbol,
                    outcome=Outcome.YES,
                    side=Side.BUY if is_bid else Side.SELL,
                    price=_fmt_price(price_u),
                    size=size,
                    seq=m.seq,
                )
            for is_bid, price_u, total in levels:
                self._emit(
                    BookLevelChanged,
                    market_id=mid,
                    symbol=spec.no_symbol,
                    outcome=Outcome.NO,
                    side=Side.SELL if is_bid else Side.BUY,
                    price=_fmt_price(PRICE_ONE - price_u),
                    size=lots_to_size(total),
                    seq=m.seq,
                )

    # --- ids --------------------------------------------------------------------------------------

    def _new_id(self, kind: str, n: int) -> str:
        if kind == "order" and self.order_id_style == "hex":
            return "0x" + hashlib.sha256(self._id_ns + b"order" + n.to_bytes(8, "big")).hexdigest()
        if self.order_id_style == "seq":
            return f"{kind[0]}{n}"
        tag = 1 if kind == "order" else 2
        hi = int.from_bytes(self._id_ns[:6], "big")
        # Deterministic, RFC 4122-shaped (version 4 bits set) so clients that parse uuids accept it.
        raw = (hi << 80) | (tag << 64) | n
        raw &= ~(0xF000 << 64)
        raw |= 0x4000 << 64
        raw &= ~(0xC000 << 48)
        raw |= 0x8000 << 48
        return str(uuid.UUID(int=raw))

    # --- queries ------------------------------------------------------------------------------------

    def book(self, market_or_symbol: str, outcome: Outcome | None = None, depth: int | None = None) -> BookView:
        m, sym_outcome = self._market_of(market_or_symbol)
        outcome = outcome or sym_outcome or Outcome.YES
        bids = [(p, lvl.total) for p, lvl in reversed(m.bids.items()) if lvl.total > 0]
        asks = [(p, lvl.total) for p, lvl in m.asks.items() if lvl.total > 0]
        if depth is not None:
            bids, asks = bids[:depth], asks[:depth]
        if outcome is Outcome.YES:
            vb = [(_fmt_price(p), lots_to_size(t)) for p, t in bids]
            va = [(_fmt_price(p), lots_to_size(t)) for p, t in asks]
            sym = m.spec.yes_symbol
        else:
            vb = [(_fmt_price(PRICE_ONE - p), lots_to_size(t)) for p, t in asks]
            va = [(_fmt_price(PRICE_ONE - p), lots_to_size(t)) for p, t in bids]
            sym = m.spec.no_symbol
        return BookView(market_id=m.spec.market_id, symbol=sym, outcome=outcome, bids=vb, asks=va, seq=m.seq, ts_ns=m.last_ts)

    def best(self, market_or_symbol: str, outcome: Outcome | None = None) -> tuple[Decimal | None, Decimal | None]:
        m, sym_outcome = self._market_of(market_or_symbol)
        outcome = outcome or sym_outcome or Outcome.YES
        bb = m.bids.peekitem(-1)[0] if m.bids else None
        ba = m.asks.peekitem(0)[0] if m.asks else None
        if outcome is Outcome.YES:
            return (_fmt_price(bb) if bb is not None else None, _fmt_price(ba) if ba is not None else None)
        return (
            _fmt_price(PRICE_ONE - ba) if ba is not None else None,
            _fmt_price(PRICE_ONE - bb) if bb is not None else None,
        )

    def order(self, order_id: str) -> SimOrder | None:
        o = self._orders.get(order_id)
        return self._snap(o) if o is not None else None

    def order_by_client_id(self, account_id: str, client_order_id: str) -> SimOrder | None:
        oid = self._coids.get((account_id, client_order_id))
        if oid is None:
            for o in reversed(list(self._orders.values())):
                if o.account_id == account_id and o.client_order_id == client_order_id:
                    return self._snap(o)
            return None
        return self.order(oid)

    def open_orders(self, account_id: str | None = None, market_id: str | None = None, symbol: str | None = None) -> list[SimOrder]:
        out = []
        for o in self._resting.values():
            if account_id is not None and o.account_id != account_id:
                continue
            if market_id is not None and o.market.spec.market_id != market_id:
                continue
            if symbol is not None and o.symbol != symbol:
                continue
            out.append(self._snap(o))
        return out

    def orders(self, account_id: str | None = None) -> list[SimOrder]:
        return [self._snap(o) for o in self._orders.values() if account_id is None or o.account_id == account_id]

    def trades(self, account_id: str | None = None, market_id: str | None = None, since_ns: int = 0) -> list[SimTrade]:
        out = []
        for rec in self._trades:
            t = rec.trade
            if t.ts_ns < since_ns:
                continue
            if account_id is not None and account_id not in (t.taker_account, t.maker_account):
                continue
            if market_id is not None and t.market_id != market_id:
                continue
            out.append(t)
        return out

    def trade(self, trade_id: str) -> SimTrade | None:
        rec = self._trade_index.get(trade_id)
        return rec.trade if rec else None

    def collateral_locked(self, market_id: str) -> Decimal:
        return units_to_cash(self._markets[market_id].collateral_u)

    def fees_total(self, currency: str) -> Decimal:
        return units_to_cash(self.fees_collected.get(currency, 0))

    def _snap(self, o: _Order) -> SimOrder:
        filled = o.filled_l
        avg = None
        if filled:
            # notional in cash units / lots = price in (cash units per lot) = price units; exact division may not be
            avg = (units_to_cash(o.notional_u) / lots_to_size(filled)).quantize(PRICE_UNIT)
        live = o.status is SimOrderStatus.OPEN
        return SimOrder(
            order_id=o.order_id,
            client_order_id=o.client_order_id,
            account_id=o.account_id,
            market_id=o.market.spec.market_id,
            symbol=o.symbol,
            outcome=o.outcome,
            side=o.side,
            kind=o.kind,
            tif=o.tif,
            post_only=o.post_only,
            price=_fmt_price(o.price_u) if o.price_u is not None else None,
            size=lots_to_size(o.size_l),
            filled=lots_to_size(filled),
            remaining=lots_to_size(o.remaining_l) if live else Decimal("0.00"),
            status=o.status,
            reason=o.reason,
            created_ns=o.created_ns,
            updated_ns=o.updated_ns,
            expire_at_ns=o.expire_at_ns,
            avg_price=avg,
            fees_paid=units_to_cash(o.fees_u),
            meta=o.meta,
        )

    # --- funding --------------------------------------------------------------------------------------

    def _fee_u(self, spec: FeeSpec, own_price_u: int, lots: int, liq: LiquiditySide) -> int:
        if spec.kind == "none" or lots <= 0:
            return 0
        fee = fee_for(spec, _fmt_price(own_price_u), lots_to_size(lots), liq)
        q, r = divmod(fee, CASH_UNIT)
        return int(q) + (1 if r > 0 else 0)  # never undercharge by sub-micro dust

    def _fee_bound_u(self, o: _Order, lots: int) -> int:
        spec = o.market.spec.fee
        if spec.kind == "none" or lots <= 0 or (spec.taker_rate == 0 and spec.maker_rate == 0):
            return 0
        half = PRICE_ONE // 2
        if o.side is Side.BUY:
            worst = min(o.bound_u, half)
        else:
            worst = max(o.bound_u, half)
        return max(
            self._fee_u(spec, worst, lots, LiquiditySide.TAKER),
            self._fee_u(spec, worst, lots, LiquiditySide.MAKER),
        )

    def _cash_res_for(self, o: _Order, lots: int, spent_u: int) -> int:
        """Cash an order with ``lots`` remaining and ``spent_u`` notional already paid can still need."""
        if lots <= 0:
            return 0
        res = self._fee_bound_u(o, lots)
        if o.side is Side.BUY:
            notional = o.bound_u * lots
            if o.max_notional_u is not None:
                notional = min(notional, max(0, o.max_notional_u - spent_u))
            res += notional
        return res

    def _set_reservation(self, o: _Order, lots: int) -> None:
        """Bring the order's reservation to what ``lots`` remaining needs (only ever lowers it)."""
        cur = o.market.spec.currency
        new_cash = self._cash_res_for(o, lots, o.notional_u)
        if new_cash < o.res_cash_u:
            self.accounts.release_cash(o.account_id, cur, o.res_cash_u - new_cash)
            o.res_cash_u = new_cash
            self._touched_cash[(o.account_id, cur)] = None
        if o.side is Side.SELL:
            new_pos = lots if lots > 0 else 0
            if new_pos < o.res_pos_l:
                self.accounts.release_pos(o.account_id, o.market.spec.market_id, o.outcome, o.res_pos_l - new_pos)
                o.res_pos_l = new_pos

    # --- submit ------------------------------------------------------------------------------------------

    def submit(self, params: OrderParams) -> SubmitOutcome:
        self.on_time()
        self._begin()
        try:
            return self._submit(params)
        finally:
            self._end()

    def _reject(self, o: _Order | None, code: RejectCode, message: str) -> SubmitOutcome:
        if o is None:
            return SubmitOutcome(accepted=False, order=None, code=code, message=message)
        o.status = SimOrderStatus.REJECTED
        o.reason = code.value
        o.updated_ns = self._now
        snap = self._snap(o)
        self._emit(OrderUpdated, order=snap, update=OrderUpdateKind.REJECTED)
        return SubmitOutcome(accepted=False, order=snap, code=code, message=message)

    def _submit(self, p: OrderParams) -> SubmitOutcome:
        entry = self._symbols.get(p.symbol)
        if entry is None:
            return self._reject(None, RejectCode.UNKNOWN_MARKET, f"unknown market/token {p.symbol!r}")
        m, outcome = entry
        if not self.accounts.exists(p.account_id):
            return self._reject(None, RejectCode.UNKNOWN_ACCOUNT, f"unknown account {p.account_id!r}")

        o = _Order()
        n = next(self._order_seq)
        o.order_id = p.order_id or self._new_id("order", n)
        o.client_order_id = p.client_order_id
        o.account_id = p.account_id
        o.market = m
        o.symbol = p.symbol
        o.outcome = outcome
        o.side = p.side
        o.kind = p.kind
        o.tif = p.tif
        o.post_only = p.post_only
        o.price_u = None
        o.bound_u = 0
        o.size_l = 0
        o.filled_l = 0
        o.status = SimOrderStatus.OPEN
        o.reason = ""
        o.created_ns = o.updated_ns = self._now
        o.expire_at_ns = p.expire_at_ns
        o.notional_u = 0
        o.fees_u = 0
        o.meta = dict(p.meta)
        o.res_cash_u = 0
        o.res_pos_l = 0
        o.max_notional_u = None
        o.stp = p.stp or self.stp
        if p.order_id is not None and p.order_id in self._orders:
            # Keep the original order intact: report the duplicate without registering it.
            return SubmitOutcome(
                accepted=False,
                order=self._snap(self._orders[p.order_id]),
                code=RejectCode.DUPLICATE_ORDER_ID,
                message=f"order {p.order_id} already exists",
            )
        self._orders[o.order_id] = o
        try:
            self._validate(o, m, p)
        except _Reject as r:
            return self._reject(o, r.code, r.message)
        return self._execute_new(o, m, p)

    def _validate(self, o: _Order, m: _Market, p: OrderParams) -> None:
        spec = m.spec
        if not isinstance(p.side, Side):
            raise _Reject(RejectCode.INVALID_ORDER, f"invalid side {p.side!r}")
        if p.kind is OrderKind.MARKET and p.tif not in (Tif.IOC, Tif.FOK):
            raise _Reject(RejectCode.INVALID_ORDER, "a market order must be IOC/FAK or FOK")
        if p.post_only and p.tif not in (Tif.GTC, Tif.GTD):
            raise _Reject(RejectCode.INVALID_ORDER, "post-only needs GTC or GTD")
        if p.kind is OrderKind.LIMIT and p.price is None:
            raise _Reject(RejectCode.INVALID_ORDER, "a limit order needs a price")
        if p.max_notional is not None and p.side is not Side.BUY:
            raise _Reject(RejectCode.INVALID_ORDER, "max_notional applies to BUY orders only")
        if p.reduce_only and p.side is not Side.SELL:
            raise _Reject(RejectCode.INVALID_ORDER, "reduce_only applies to SELL orders only")
        if p.tif is Tif.GTD:
            if p.expire_at_ns <= self._now:
                raise _Reject(RejectCode.EXPIRATION_IN_PAST, f"expiration {p.expire_at_ns} is not after now {self._now}")
        # size
        try:
            size_l = size_to_lots(p.size)
        except (ValueError, ArithmeticError):
            raise _Reject(RejectCode.INVALID_SIZE_INCREMENT, f"size {p.size} is not a multiple of {spec.size_increment}") from None
        if size_l <= 0:
            raise _Reject(RejectCode.INVALID_ORDER, f"size must be positive, got {p.size}")
        if size_l % m.inc_l:
            raise _Reject(RejectCode.INVALID_SIZE_INCREMENT, f"size {p.size} is not a multiple of {spec.size_increment}")
        if p.reduce_only:
            held = self.accounts.pos_available(o.account_id, spec.market_id, o.outcome)
            size_l = min(size_l, held - held % m.inc_l)
            if size_l <= 0:
                raise _Reject(RejectCode.INSUFFICIENT_POSITION, "reduce-only order with no position to reduce")
        if size_l < m.min_l:
            raise _Reject(RejectCode.SIZE_BELOW_MIN, f"size {p.size} below the minimum {spec.min_size}")
        o.size_l = size_l
        # price
        if p.price is not None:
            try:
                price_u = price_to_units(p.price)
            except (ValueError, ArithmeticError):
                raise _Reject(RejectCode.INVALID_PRICE_TICK, f"price {p.price} is not on the {spec.tick_size} tick grid") from None
            if price_u <= 0 or price_u >= PRICE_ONE:
                raise _Reject(RejectCode.PRICE_OUT_OF_RANGE, f"price {p.price} outside ({spec.tick_size}, {1 - spec.tick_size})")
            if price_u % m.tick_u:
                raise _Reject(RejectCode.INVALID_PRICE_TICK, f"price {p.price} is not on the {spec.tick_size} tick grid")
            if price_u < m.tick_u or price_u > PRICE_ONE - m.tick_u:
                raise _Reject(RejectCode.PRICE_OUT_OF_RANGE, f"price {p.price} outside [{spec.tick_size}, {1 - spec.tick_size}]")
            o.price_u = price_u
            o.bound_u = price_u
        else:
            o.bound_u = PRICE_ONE - m.tick_u if p.side is Side.BUY else m.tick_u
        if m.min_notional_u and o.bound_u * size_l < m.min_notional_u and p.kind is OrderKind.LIMIT:
            raise _Reject(RejectCode.NOTIONAL_BELOW_MIN, f"notional below the minimum {spec.min_notional}")
        if p.max_notional is not None:
            try:
                o.max_notional_u = cash_to_units(p.max_notional)
            except (ValueError, ArithmeticError):
                raise _Reject(RejectCode.INVALID_ORDER, f"max_notional {p.max_notional} has more than 6 decimals") from None
            if o.max_notional_u <= 0:
                raise _Reject(RejectCode.INVALID_ORDER, "max_notional must be positive")
        # own-terms -> YES-terms side of the unified book
        o.is_bid = (o.outcome is Outcome.YES) == (p.side is Side.BUY)
        o.yes_price_u = o.bound_u if o.outcome is Outcome.YES else PRICE_ONE - o.bound_u
        # venue state
        if self.is_halted(spec.market_id):
            raise _Reject(RejectCode.MARKET_HALTED, "trading is halted")
        if p.client_order_id and (o.account_id, p.client_order_id) in self._coids:
            raise _Reject(RejectCode.DUPLICATE_CLIENT_ORDER_ID, f"client order id {p.client_order_id!r} is in use")
        if self._faults_apply(o.account_id):
            hit = self.faults.order_fault(self.venue, f"{o.account_id} {o.symbol}", kinds=("ORDER_REJECT",))
            if hit is not None:
                raise _Reject(RejectCode.FAULT_REJECT, hit.spec.message or "order rejected (injected fault)")

    def _execute_new(self, o: _Order, m: _Market, p: OrderParams) -> SubmitOutcome:
        spec = m.spec
        cur = spec.currency
        # funding: reserve what the whole order can need
        if o.side is Side.SELL:
            if not self.accounts.reserve_pos(o.account_id, spec.market_id, o.outcome, o.size_l):
                return self._reject(o, RejectCode.INSUFFICIENT_POSITION, "not enough balance / allowance: shares")
            o.res_pos_l = o.size_l
        need = self._cash_res_for(o, o.size_l, 0)
        if not self.accounts.reserve_cash(o.account_id, cur, need):
            if o.res_pos_l:
                self.accounts.release_pos(o.account_id, spec.market_id, o.outcome, o.res_pos_l)
                o.res_pos_l = 0
            return self._reject(o, RejectCode.INSUFFICIENT_BALANCE, f"not enough balance / allowance: {cur}")
        o.res_cash_u = need
        self._touched_cash[(o.account_id, cur)] = None

        crosses = self._crosses(o, m)
        if o.post_only and crosses:
            self._release_all(o)
            return self._reject(o, RejectCode.POST_ONLY_WOULD_CROSS, "post-only order would cross the book")
        # partial-fill fault caps what this taker may take (asked only when it would take)
        cap_l = o.size_l
        if crosses and self._faults_apply(o.account_id):
            hit = self.faults.order_fault(self.venue, f"{o.account_id} {o.symbol}", kinds=("PARTIAL_FILL_ONLY",))
            if hit is not None:
                frac = Decimal(str(hit.spec.fill_fraction))
                cap_l = int(Decimal(o.size_l) * frac)
                cap_l -= cap_l % m.inc_l
        if o.tif is Tif.FOK:
            if min(cap_l, self._fillable(o, m)) < o.size_l:
                self._release_all(o)
                return self._reject(o, RejectCode.FOK_NOT_FILLABLE, "FOK order cannot be filled in full")

        if o.client_order_id:
            self._coids[(o.account_id, o.client_order_id)] = o.order_id
        trades: list[SimTrade] = []
        stop_reason = ""
        if crosses:
            stop_reason = self._match(o, m, cap_l, trades)
        if o.status is SimOrderStatus.REJECTED:
            return SubmitOutcome(accepted=False, order=self._snap(o), code=RejectCode.SELF_TRADE, message="self-trade prevented", trades=[])

        if o.remaining_l == 0:
            pass  # filled; fill updates already emitted
        elif stop_reason or o.kind is OrderKind.MARKET or o.tif in (Tif.IOC, Tif.FOK) or o.filled_l >= cap_l < o.size_l:
            reason = stop_reason or ("NO_MATCH" if not trades else "IOC_REMAINDER")
            if not stop_reason and cap_l < o.size_l and o.filled_l >= cap_l:
                reason = "FAULT"
            self._finish(o, SimOrderStatus.CANCELED, reason, OrderUpdateKind.CANCELED)
        else:
            self._rest(o, m)
        return SubmitOutcome(accepted=True, order=self._snap(o), trades=trades)

    def _release_all(self, o: _Order) -> None:
        self._set_reservation(o, 0)

    def _crosses(self, taker: _Order, m: _Market) -> bool:
        if taker.is_bid:
            if not m.asks:
                return False
            return m.asks.peekitem(0)[0] <= taker.yes_price_u
        if not m.bids:
            return False
        return m.bids.peekitem(-1)[0] >= taker.yes_price_u

    def _fillable(self, taker: _Order, m: _Market) -> int:
        """How many lots a taker could take right now (FOK pre-check), honouring STP and max notional."""
        total = 0
        spent = 0
        book = m.asks if taker.is_bid else m.bids
        keys = book.keys() if taker.is_bid else reversed(book.keys())
        for price_u in keys:
            if taker.is_bid and price_u > taker.yes_price_u:
                break
            if not taker.is_bid and price_u < taker.yes_price_u:
                break
            own_price = price_u if taker.outcome is Outcome.YES else PRICE_ONE - price_u
            for mk in book[price_u].orders:
                if mk.account_id == taker.account_id:
                    if taker.stp is StpMode.REJECT_TAKER:
                        return total
                    continue
                q = mk.remaining_l
                if taker.max_notional_u is not None:
                    q = min(q, (taker.max_notional_u - spent) // own_price)
                    q -= q % m.inc_l
                    if q <= 0:
                        return total
                total += q
                spent += q * own_price
                if total >= taker.size_l:
                    return total
        return total

    def _rest(self, o: _Order, m: _Market) -> None:
        book = m.bids if o.is_bid else m.asks
        lvl = book.get(o.yes_price_u)
        if lvl is None:
            lvl = book[o.yes_price_u] = _Level()
        self._touch(m, o.is_bid, o.yes_price_u, lvl.total)
        lvl.orders.append(o)
        lvl.total += o.remaining_l
        o.resting = True
        self._resting[o.order_id] = o
        if o.tif is Tif.GTD:
            heapq.heappush(self._expiries, (o.expire_at_ns, next(self._timer_seq), o.order_id))
        self._emit(OrderUpdated, order=self._snap(o), update=OrderUpdateKind.PLACED)

    def _unrest(self, o: _Order) -> None:
        if not o.resting:
            return
        m = o.market
        book = m.bids if o.is_bid else m.asks
        lvl = book[o.yes_price_u]
        self._touch(m, o.is_bid, o.yes_price_u, lvl.total)
        lvl.orders.remove(o)
        lvl.total -= o.remaining_l
        if not lvl.orders:
            del book[o.yes_price_u]
        o.resting = False
        self._resting.pop(o.order_id, None)

    def _finish(self, o: _Order, status: SimOrderStatus, reason: str, update: OrderUpdateKind) -> None:
        self._unrest(o)
        o.status = status
        o.reason = reason
        o.updated_ns = self._now
        self._set_reservation(o, 0)
        if o.client_order_id:
            self._coids.pop((o.account_id, o.client_order_id), None)
        self._emit(OrderUpdated, order=self._snap(o), update=update)

    # --- matching ------------------------------------------------------------------------------------------

    def _match(self, taker: _Order, m: _Market, cap_l: int, trades: list[SimTrade]) -> str:
        """Walk the opposite side; returns a stop reason ('' when it simply ran out of crossing depth)."""
        book = m.asks if taker.is_bid else m.bids
        match_id = ""
        while taker.filled_l < cap_l and book:
            price_u, lvl = book.peekitem(0) if taker.is_bid else book.peekitem(-1)
            if taker.is_bid and price_u > taker.yes_price_u:
                break
            if not taker.is_bid and price_u < taker.yes_price_u:
                break
            maker = lvl.orders[0]
            if maker.tif is Tif.GTD and maker.expire_at_ns <= self._now:
                self._finish(maker, SimOrderStatus.EXPIRED, "EXPIRED", OrderUpdateKind.EXPIRED)
                continue
            if maker.account_id == taker.account_id:
                if taker.stp is StpMode.CANCEL_RESTING:
                    self._finish(maker, SimOrderStatus.CANCELED, "SELF_TRADE", OrderUpdateKind.CANCELED)
                    continue
                if taker.filled_l == 0:
                    self._set_reservation(taker, 0)
                    if taker.client_order_id:
                        self._coids.pop((taker.account_id, taker.client_order_id), None)
                    self._reject(taker, RejectCode.SELF_TRADE, "order would trade with the same account")
                    return "SELF_TRADE"
                return "SELF_TRADE"
            own_price = price_u if taker.outcome is Outcome.YES else PRICE_ONE - price_u
            q = min(cap_l - taker.filled_l, maker.remaining_l)
            if taker.max_notional_u is not None:
                room = (taker.max_notional_u - taker.notional_u) // own_price
                room -= room % m.inc_l
                q = min(q, room)
                if q <= 0:
                    return "MAX_NOTIONAL"
            if not match_id:
                match_id = self._new_id("trade", next(self._trade_seq))
            status = self._fill(taker, maker, m, price_u, q, match_id, trades)
            if status == "taker":
                return "INSUFFICIENT_BALANCE"
            # status == "maker": maker was canceled for funding; keep walking
        return ""

    def _party_cost(self, o: _Order, own_price_u: int, q: int, fee_u: int) -> int:
        """Cash the party must have available (after releasing its reservation for q) to do the fill."""
        if o.side is Side.BUY:
            return max(0, own_price_u * q + fee_u)
        return max(0, fee_u - own_price_u * q)

    def _party_fee(self, o: _Order, spec: FeeSpec, own_price_u: int, q: int, liq: LiquiditySide) -> int:
        """Fee of one fill for one party, in cash units: the venue hook if installed, else the core formula."""
        if self.fee_fn is None:
            return self._fee_u(spec, own_price_u, q, liq)
        delta = own_price_u * q * (-1 if o.side is Side.BUY else 1)
        fee = self.fee_fn(self._snap(o), spec, _fmt_price(own_price_u), lots_to_size(q), liq, units_to_cash(delta))
        fq, r = divmod(Decimal(fee), CASH_UNIT)
        if r != 0:
            raise ValueError(f"fee hook returned {fee}, not a multiple of {CASH_UNIT}")
        return int(fq)

    def _auto_net(self, account_id: str, m: _Market) -> None:
        """Redeem held YES+NO pairs of one market for collateral (Kalshi nets positions)."""
        acc = self.accounts
        mid = m.spec.market_id
        k = min(acc.pos_available(account_id, mid, Outcome.YES), acc.pos_available(account_id, mid, Outcome.NO))
        if k <= 0:
            return
        acc.debit_pos(account_id, mid, Outcome.YES, k)
        acc.debit_pos(account_id, mid, Outcome.NO, k)
        acc.credit_cash(account_id, m.spec.currency, PRICE_ONE * k)
        m.collateral_u -= PRICE_ONE * k
        self._touched_cash[(account_id, m.spec.currency)] = None

    def _fill(self, taker: _Order, maker: _Order, m: _Market, price_u: int, q: int, match_id: str, trades: list[SimTrade]) -> str:
        spec = m.spec
        cur = spec.currency
        acc = self.accounts
        t_price = price_u if taker.outcome is Outcome.YES else PRICE_ONE - price_u
        m_price = price_u if maker.outcome is Outcome.YES else PRICE_ONE - price_u
        # funding check (per-fill fee rounding can exceed the pro-rata reservation); maker first,
        # so a venue fee hook is only asked for the taker once the maker can pay
        fees: dict[int, int] = {}
        for party, price, liq in ((maker, m_price, LiquiditySide.MAKER), (taker, t_price, LiquiditySide.TAKER)):
            fee = self._party_fee(party, spec.fee, price, q, liq)
            fees[id(party)] = fee
            release = party.res_cash_u - min(
                party.res_cash_u, self._cash_res_for(party, party.remaining_l - q, party.notional_u + price * q)
            )
            if acc.cash_available(party.account_id, cur) + release < self._party_cost(party, price, q, fee):
                if party is maker:
                    self._finish(maker, SimOrderStatus.CANCELED, "INSUFFICIENT_BALANCE", OrderUpdateKind.CANCELED)
                    return "maker"
                return "taker"
        t_fee, m_fee = fees[id(taker)], fees[id(maker)]
        doomed = False
        if not self.settlement.instant and (self._faults_apply(taker.account_id) or self._faults_apply(maker.account_id)):
            subject = f"{taker.account_id} {maker.account_id} {spec.market_id}"
            doomed = self.faults.trade_fault(self.venue, subject) is not None
        reversal: list[tuple] = []

        # book bookkeeping for the maker
        self._touch(m, maker.is_bid, maker.yes_price_u, m.bids[price_u].total if maker.is_bid else m.asks[price_u].total)
        lvl = (m.bids if maker.is_bid else m.asks)[price_u]
        lvl.total -= q

        mid = spec.market_id
        for party, price, fee in ((taker, t_price, t_fee), (maker, m_price, m_fee)):
            new_rem = party.remaining_l - q
            if party.side is Side.SELL:
                # the shares were reserved by the order: deliver them from the reservation
                acc.debit_pos(party.account_id, mid, party.outcome, q, from_reserved=True)
                party.res_pos_l -= q
            party.notional_u += price * q
            self._set_reservation(party, new_rem)
            if party.side is Side.BUY:
                cost = price * q + fee
                if cost >= 0:
                    acc.debit_cash(party.account_id, cur, cost)
                else:  # a fee rebate larger than the notional (venue fee hook)
                    acc.credit_cash(party.account_id, cur, -cost)
                acc.credit_pos(party.account_id, mid, party.outcome, q, held=doomed)
                reversal.append(("buy", party.account_id, party.outcome, cost, q))
            else:
                net = price * q - fee
                if net >= 0:
                    acc.credit_cash(party.account_id, cur, net, held=doomed)
                else:
                    acc.debit_cash(party.account_id, cur, -net)
                reversal.append(("sell", party.account_id, party.outcome, net, q))
            self._touched_cash[(party.account_id, cur)] = None
            party.filled_l += q
            party.fees_u += fee
            party.updated_ns = self._now
        self.fees_collected[cur] = self.fees_collected.get(cur, 0) + t_fee + m_fee

        if taker.side is Side.BUY and maker.side is Side.BUY:
            kind = MatchKind.MINT
            m.collateral_u += PRICE_ONE * q
        elif taker.side is Side.SELL and maker.side is Side.SELL:
            kind = MatchKind.MERGE
            m.collateral_u -= PRICE_ONE * q
        else:
            kind = MatchKind.TRANSFER
        reversal.append(("kind", kind, q, t_fee + m_fee))

        trade_id = self._new_id("trade", next(self._trade_seq))
        status = TradeStatus.CONFIRMED if self.settlement.instant else TradeStatus.MATCHED
        trade = SimTrade(
            trade_id=trade_id,
            market_id=spec.market_id,
            match_id=match_id,
            price_yes=_fmt_price(price_u),
            size=lots_to_size(q),
            kind=kind,
            taker_order_id=taker.order_id,
            taker_account=taker.account_id,
            taker_symbol=taker.symbol,
            taker_outcome=taker.outcome,
            taker_side=taker.side,
            taker_price=_fmt_price(t_price),
            taker_fee=units_to_cash(t_fee),
            maker_order_id=maker.order_id,
            maker_account=maker.account_id,
            maker_symbol=maker.symbol,
            maker_outcome=maker.outcome,
            maker_side=maker.side,
            maker_price=_fmt_price(m_price),
            maker_fee=units_to_cash(m_fee),
            status=status,
            ts_ns=self._now,
            status_ts_ns=self._now,
            currency=cur,
        )
        rec = _TradeRec(trade, doomed, reversal)
        self._trades.append(rec)
        self._trade_index[trade_id] = rec
        trades.append(trade)
        if not self.settlement.instant:
            mined_at = self._now + int(self.settlement.mined_after_s * NS)
            heapq.heappush(
                self._settle,
                (mined_at, next(self._timer_seq), trade_id, TradeStatus.FAILED if doomed else TradeStatus.MINED),
            )
        self._emit(TradeExecuted, trade=trade)

        # order updates: maker first (it was on the book), then taker
        for party in (maker, taker):
            if party.remaining_l == 0:
                if party is maker:
                    lvl.orders.popleft()
                    maker.resting = False
                    self._resting.pop(maker.order_id, None)
                    if not lvl.orders:
                        book = m.bids if maker.is_bid else m.asks
                        del book[price_u]
                party.status = SimOrderStatus.FILLED
                party.reason = "FILLED"
                if party.client_order_id:
                    self._coids.pop((party.account_id, party.client_order_id), None)
                upd = OrderUpdateKind.FILLED
            else:
                upd = OrderUpdateKind.PARTIALLY_FILLED
            self._emit(
                OrderUpdated,
                order=self._snap(party),
                update=upd,
                fill_size=lots_to_size(q),
                fill_price=_fmt_price(t_price if party is taker else m_price),
                trade_id=trade_id,
            )
        if self.auto_net:
            for acct in dict.fromkeys((maker.account_id, taker.account_id)):
                self._auto_net(acct, m)
        return ""

    # --- cancels -------------------------------------------------------------------------------------------

    def cancel(self, account_id: str, order_id: str, reason: str = "USER") -> CancelOutcome:
        self.on_time()
        self._begin()
        try:
            return self._cancel(account_id, order_id, reason)
        finally:
            self._end()

    def _cancel(self, account_id: str, order_id: str, reason: str) -> CancelOutcome:
        o = self._orders.get(order_id)
        if o is None:
            return CancelOutcome(ok=False, order=None, code=RejectCode.ORDER_NOT_FOUND, message=f"order {order_id} not found")
        if o.account_id != account_id:
            return CancelOutcome(ok=False, order=None, code=RejectCode.NOT_OWNER, message=f"order {order_id} belongs to another account")
        if o.status is not SimOrderStatus.OPEN:
            return CancelOutcome(ok=False, order=self._snap(o), code=RejectCode.ORDER_NOT_OPEN, message=f"order {order_id} is {o.status.value}")
        self._finish(o, SimOrderStatus.CANCELED, reason, OrderUpdateKind.CANCELED)
        return CancelOutcome(ok=True, order=self._snap(o))

    def cancel_many(self, account_id: str, order_ids: Iterable[str]) -> dict[str, CancelOutcome]:
        self.on_time()
        self._begin()
        try:
            return {oid: self._cancel(account_id, oid, "USER") for oid in order_ids}
        finally:
            self._end()

    def cancel_all(self, account_id: str, market_id: str | None = None, symbol: str | None = None) -> list[SimOrder]:
        self.on_time()
        self._begin()
        try:
            out = []
            for o in list(self._resting.values()):
                if o.account_id != account_id:
                    continue
                if market_id is not None and o.market.spec.market_id != market_id:
                    continue
                if symbol is not None and o.symbol != symbol:
                    continue
                self._finish(o, SimOrderStatus.CANCELED, "USER", OrderUpdateKind.CANCELED)
                out.append(self._snap(o))
            return out
        finally:
            self._end()

    # --- time ------------------------------------------------------------------------------------------------

    def on_time(self) -> None:
        """Expire GTD orders and move trade settlement on, as far as the clock says."""
        now = self.clock.now_ns()
        due_exp = bool(self._expiries) and self._expiries[0][0] <= now
        due_set = bool(self._settle) and self._settle[0][0] <= now
        if not (due_exp or due_set) or self._in_op:
            return
        self._begin()
        try:
            while self._expiries and self._expiries[0][0] <= now:
                _, _, oid = heapq.heappop(self._expiries)
                o = self._orders.get(oid)
                if o is not None and o.status is SimOrderStatus.OPEN:
                    self._finish(o, SimOrderStatus.EXPIRED, "EXPIRED", OrderUpdateKind.EXPIRED)
            while self._settle and self._settle[0][0] <= now:
                due, _, tid, nxt = heapq.heappop(self._settle)
                self._advance_trade(tid, nxt, due)
        finally:
            self._end()

    def _advance_trade(self, trade_id: str, status: TradeStatus, due_ns: int) -> None:
        rec = self._trade_index[trade_id]
        reason = ""
        if status is TradeStatus.FAILED:
            self._reverse(rec)
            reason = "transaction failed (injected fault)"
        rec.trade = msgspec.structs.replace(rec.trade, status=status, status_ts_ns=self._now, fail_reason=reason)
        self._emit(TradeStatusChanged, trade=rec.trade, status=status)
        if status is TradeStatus.MINED:
            conf_at = rec.trade.ts_ns + int(self.settlement.confirmed_after_s * NS)
            heapq.heappush(self._settle, (max(conf_at, due_ns), next(self._timer_seq), trade_id, TradeStatus.CONFIRMED))

    def _reverse(self, rec: _TradeRec) -> None:
        t = rec.trade
        cur = t.currency
        acc = self.accounts
        mid = t.market_id
        for item in rec.reversal:
            if item[0] == "buy":
                _, acct, outcome, paid, q = item
                acc.debit_pos(acct, mid, outcome, q, from_reserved=True)  # held since the match
                if paid >= 0:
                    acc.credit_cash(acct, cur, paid)
                else:
                    acc.debit_cash(acct, cur, -paid)
                self._touched_cash[(acct, cur)] = None
            elif item[0] == "sell":
                _, acct, outcome, net, q = item
                if net >= 0:
                    acc.debit_cash(acct, cur, net, from_reserved=True)
                else:
                    acc.credit_cash(acct, cur, -net)
                acc.credit_pos(acct, mid, outcome, q)
                self._touched_cash[(acct, cur)] = None
            elif item[0] == "kind":
                _, kind, q, fees = item
                m = self._markets[mid]
                if kind is MatchKind.MINT:
                    m.collateral_u -= PRICE_ONE * q
                elif kind is MatchKind.MERGE:
                    m.collateral_u += PRICE_ONE * q
                self.fees_collected[cur] -= fees

    # --- seeding helpers (scenarios, tests) -------------------------------------------------------------

    def mint_for(self, account_id: str, market_id: str, size: Decimal) -> None:
        """Split collateral into a complete set for an account (costs ``size`` cash, gives ``size``
        YES and ``size`` NO), as the venue's split does. Keeps cash + collateral conserved."""
        m = self._markets[market_id]
        lots = size_to_lots(size)
        cur = m.spec.currency
        self._begin()
        try:
            self.accounts.debit_cash(account_id, cur, PRICE_ONE * lots)
            self.accounts.credit_pos(account_id, market_id, Outcome.YES, lots)
            self.accounts.credit_pos(account_id, market_id, Outcome.NO, lots)
            m.collateral_u += PRICE_ONE * lots
            self._touched_cash[(account_id, cur)] = None
        finally:
            self._end()

    def merge_for(self, account_id: str, market_id: str, size: Decimal) -> None:
        """Redeem complete sets back into collateral."""
        m = self._markets[market_id]
        lots = size_to_lots(size)
        cur = m.spec.currency
        self._begin()
        try:
            if self.accounts.pos_available(account_id, market_id, Outcome.YES) < lots or self.accounts.pos_available(
                account_id, market_id, Outcome.NO
            ) < lots:
                raise ValueError(f"{account_id}: not enough complete sets of {market_id} to merge {size}")
            self.accounts.debit_pos(account_id, market_id, Outcome.YES, lots)
            self.accounts.debit_pos(account_id, market_id, Outcome.NO, lots)
            self.accounts.credit_cash(account_id, cur, PRICE_ONE * lots)
            m.collateral_u -= PRICE_ONE * lots
            self._touched_cash[(account_id, cur)] = None
        finally:
            self._end()

    # --- resolution ------------------------------------------------------------------------------

    def resolved(self, market_id: str) -> Outcome | None:
        return self._markets[market_id].resolved

    def resolve_market(self, market_id: str, winner: Outcome, *, cash_settle: bool) -> None:
        """The market's outcome is known: it halts for good, every open order in it is canceled
        (reason ``MARKET_RESOLVED``) and, with ``cash_settle`` (Kalshi), every holder is paid 1 per
        winning share at once and both outcome positions are closed. Without it (Polymarket) the
        shares stay until redeemed (:meth:`redeem_for`)."""
        m = self._markets[market_id]
        if m.resolved is not None:
            raise ValueError(f"{market_id} already resolved ({m.resolved.value})")
        for o in list(self.open_orders(market_id=market_id)):
            self.cancel(o.account_id, o.order_id, reason="MARKET_RESOLVED")
        self._begin()
        try:
            m.halted = True
            m.resolved = winner
            self._emit(MarketStatusChanged, market_id=market_id, halted=True)
            if cash_settle:
                for acct in self.accounts.account_ids():
                    self._settle_account(acct, m)
            self._emit(MarketResolved, market_id=market_id, winner=winner, cash_settled=cash_settle)
        finally:
            self._end()

    def _settle_account(self, account_id: str, m: _Market) -> int:
        """Pay 1 per winning share, burn both outcome positions; returns the cash units paid."""
        mid, cur = m.spec.market_id, m.spec.currency
        win = self.accounts.pos_total(account_id, mid, m.resolved)
        lose_outcome = Outcome.NO if m.resolved is Outcome.YES else Outcome.YES
        lose = self.accounts.pos_total(account_id, mid, lose_outcome)
        if not win and not lose:
            return 0
        if win:
            self.accounts.debit_pos(account_id, mid, m.resolved, win)
        if lose:
            self.accounts.debit_pos(account_id, mid, lose_outcome, lose)
        paid = PRICE_ONE * win
        if paid:
            self.accounts.credit_cash(account_id, cur, paid)
            m.collateral_u -= paid
            self._touched_cash[(account_id, cur)] = None
        return paid

    def redeem_for(self, account_id: str, market_id: str) -> int:
        """Redeem an account's tokens of a resolved market (the CTF's ``redeemPositions``): winners
        pay 1 each, losers are burned for nothing. Returns the cash units paid (0 is a valid
        answer, as on chain). Refused (ValueError) while the market is unresolved."""
        m = self._markets[market_id]
        if m.resolved is None:
            raise ValueError(f"{market_id} is not resolved: nothing is redeemable")
        self._begin()
        try:
            return self._settle_account(account_id, m)
        finally:
            self._end()

    def pending_timers(self) -> int:
        return len(self._expiries) + len(self._settle)
