"""Spot matching engine for the KuCoin simulator: price-time priority per symbol, per-currency
accounts (total / hold), HF order records, fills with KuCoin's fee model, a per-symbol level-2
sequence. Exact (Decimal) and deterministic (ids from counters, time from the injected clock).

The binary-market engine (arbkit.sim.engine) keeps YES/NO books in 1e-4 price units and cannot
hold spot prices or base/quote settlement, so the spot venue has this engine; it offers the same
admin-facing surface (``accounts.create/exists/snapshot``, ``book``, ``orders``, ``open_orders``,
``trades``, ``on_time``, ``subscribe``, ``fault_exempt_accounts``, ``markets``) so the runner, the
scenario and the admin endpoint treat it like the others.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from sortedcontainers import SortedDict

from arbkit.core.clock import Clock
from arbkit.core.fees import spot_fee

log = logging.getLogger(__name__)
ZERO = Decimal(0)


class SpotReject(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


@dataclass(frozen=True)
class SpotMarket:
    symbol: str
    base: str
    quote: str
    price_increment: Decimal
    base_increment: Decimal
    base_min_size: Decimal
    quote_increment: Decimal
    quote_min_size: Decimal
    min_funds: Decimal
    fee_currency: str
    taker_rate: Decimal = Decimal("0.001")
    maker_rate: Decimal = Decimal("0.001")
    enable_trading: bool = True
    base_max_size: Decimal = Decimal("10000000000")
    quote_max_size: Decimal = Decimal("99999999")
    market: str = "USDS"


@dataclass
class SpotOrder:
    order_id: str
    client_oid: str
    account_id: str
    symbol: str
    side: str  # buy | sell
    price: Decimal
    size: Decimal
    tif: str
    post_only: bool
    created_ms: int
    created_ns: int
    deal_size: Decimal = ZERO
    deal_funds: Decimal = ZERO
    fee: Decimal = ZERO
    fee_currency: str = ""
    status: str = "OPEN"  # OPEN | FILLED | CANCELED | REJECTED
    cancelled_size: Decimal = ZERO
    hold: Decimal = ZERO  # what is still held for it (quote for buys, base for sells)
    updated_ms: int = 0
    expire_ns: int = 0
    in_book: bool = False
    type: str = "limit"  # limit | market
    funds: Decimal = ZERO  # a market buy by funds: the most it may spend, fee included

    @property
    def remaining(self) -> Decimal:
        return self.size - self.deal_size - self.cancelled_size

    @property
    def active(self) -> bool:
        return self.status == "OPEN"


@dataclass
class SpotTrade:
    trade_id: str
    symbol: str
    price: Decimal
    size: Decimal
    taker_order_id: str
    maker_order_id: str
    taker_account: str
    maker_account: str
    taker_side: str
    taker_fee: Decimal
    maker_fee: Decimal
    fee_currency: str
    ts_ns: int


@dataclass
class SpotEvent:
    """What the engine tells the server: ``kind`` = level | order | balance | trade."""

    kind: str
    symbol: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class SpotAccounts:
    """Per account, per currency: [total, hold] (available = total - hold)."""

    def __init__(self) -> None:
        self._b: dict[str, dict[str, list[Decimal]]] = {}
        self.on_change: Callable[[str, str, str, str], None] | None = None  # (account, currency, event, ctx)

    def create(self, account_id: str, balances: dict[str, Decimal] | None = None) -> None:
        acct = self._b.setdefault(account_id, {})
        for cur, amt in (balances or {}).items():
            acct.setdefault(cur, [ZERO, ZERO])[0] += Decimal(amt)

    def exists(self, account_id: str) -> bool:
        return account_id in self._b

    def account_ids(self) -> list[str]:
        return sorted(self._b)

    def deposit(self, account_id: str, currency: str, amount: Decimal) -> None:
        self._b.setdefault(account_id, {}).setdefault(currency, [ZERO, ZERO])[0] += amount

    def slot(self, account_id: str, currency: str) -> list[Decimal]:
        return self._b[account_id].setdefault(currency, [ZERO, ZERO])

    def available(self, account_id: str, currency: str) -> Decimal:
        t, h = self.slot(account_id, currency)
        return t - h

    def balances(self, account_id: str) -> list[dict[str, Any]]:
        return [{"currency": c, "total": str(t), "available": str(t - h), "hold": str(h)}
                for c, (t, h) in sorted(self._b.get(account_id, {}).items())]

    def snapshot(self, account_id: str) -> dict[str, Any]:
        return {"account_id": account_id, "balances": self.balances(account_id), "positions": []}

    def all_non_negative(self) -> bool:
        return all(t >= 0 and h >= 0 and t >= h for a in self._b.values() for t, h in a.values())


class _Book:
    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict(lambda p: -p)  # best (highest) first
        self.asks: SortedDict = SortedDict()
        self.seq = 0


class SpotEngine:
    def __init__(self, venue: str, clock: Clock, faults: Any = None, seq_start: int = 1_000_000) -> None:
        self.venue = venue
        self.clock = clock
        self.faults = faults
        self.accounts = SpotAccounts()
        self.fault_exempt_accounts: set[str] = set()
        self.spot_markets: dict[str, SpotMarket] = {}
        self._books: dict[str, _Book] = {}
        self._orders: dict[str, SpotOrder] = {}
        self._by_coid: dict[tuple[str, str], str] = {}
        self._trades: list[SpotTrade] = []
        self._listeners: list[Callable[[list[SpotEvent]], None]] = []
        self._ids = itertools.count(1)
        self._seq_start = seq_start
        self._pending: list[SpotEvent] = []

    # --- markets --------------------------------------------------------------------------------

    def add_spot_market(self, m: SpotMarket) -> None:
        self.spot_markets[m.symbol] = m
        b = _Book()
        b.seq = self._seq_start
        self._books[m.symbol] = b

    def markets(self) -> list:
        """Binary-market specs (the scenario's); a spot engine has none."""
        return []

    def market(self, symbol: str) -> SpotMarket:
        return self.spot_markets[symbol]

    def set_halted(self, market_id: str | None, halted: bool) -> None:
        for m in list(self.spot_markets.values()):
            if market_id in (None, m.symbol):
                self.spot_markets[m.symbol] = SpotMarket(**{**m.__dict__, "enable_trading": not halted})

    def is_halted(self, market_id: str | None = None) -> bool:
        return any(not m.enable_trading for m in self.spot_markets.values() if market_id in (None, m.symbol))

    # --- listeners ------------------------------------------------------------------------------

    def subscribe(self, fn: Callable[[list[SpotEvent]], None]) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def _flush(self) -> None:
        evs, self._pending = self._pending, []
        if not evs:
            return
        for fn in list(self._listeners):
            try:
                fn(evs)
            except Exception:  # noqa: BLE001
                log.exception("spot engine listener failed")

    # --- views ----------------------------------------------------------------------------------

    def book(self, symbol: str, outcome: Any = None, depth: int | None = None) -> dict[str, Any]:
        b = self._books.get(symbol)
        if b is None:
            raise KeyError(symbol)
        lv = lambda side: [[str(p), str(sum((o.remaining for o in q), ZERO))]  # noqa: E731
                           for p, q in itertools.islice(side.items(), depth)]
        return {"symbol": symbol, "bids": lv(b.bids), "asks": lv(b.asks), "seq": b.seq, "sequence": b.seq,
                "ts_ns": self.clock.now_ns()}

    def book_levels(self, symbol: str) -> tuple[int, list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        b = self._books[symbol]
        tot = lambda q: sum((o.remaining for o in q), ZERO)  # noqa: E731
        return b.seq, [(p, tot(q)) for p, q in b.bids.items()], [(p, tot(q)) for p, q in b.asks.items()]

    def order(self, order_id: str) -> SpotOrder | None:
        return self._orders.get(order_id)

    def order_by_client_id(self, account_id: str, client_oid: str) -> SpotOrder | None:
        oid = self._by_coid.get((account_id, client_oid))
        return self._orders.get(oid) if oid else None

    def _view(self, o: SpotOrder) -> dict[str, Any]:
        return {"order_id": o.order_id, "client_order_id": o.client_oid, "account_id": o.account_id,
                "symbol": o.symbol, "side": o.side.upper(), "price": str(o.price), "size": str(o.size),
                "filled": str(o.deal_size), "status": o.status, "created_ns": o.created_ns, "tif": o.tif}

    def open_orders(self, account_id: str | None = None, symbol: str | None = None) -> list[dict[str, Any]]:
        return [self._view(o) for o in self.open_order_objs(account_id, symbol)]

    def open_order_objs(self, account_id: str | None = None, symbol: str | None = None) -> list[SpotOrder]:
        return [o for o in self._orders.values() if o.active and (account_id is None or o.account_id == account_id)
                and (symbol is None or o.symbol == symbol)]

    def orders(self, account_id: str | None = None) -> list[dict[str, Any]]:
        return [self._view(o) for o in self._orders.values() if account_id is None or o.account_id == account_id]

    def trade_objs(self, account_id: str | None = None, symbol: str | None = None) -> list[SpotTrade]:
        return [t for t in self._trades if (account_id is None or account_id in (t.taker_account, t.maker_account))
                and (symbol is None or t.symbol == symbol)]

    def trades(self, account_id: str | None = None, market_id: str | None = None, since_ns: int = 0) -> list[dict]:
        return [{"trade_id": t.trade_id, "symbol": t.symbol, "size": str(t.size), "taker_price": str(t.price),
                 "maker_price": str(t.price), "price": str(t.price), "taker_order_id": t.taker_order_id,
                 "maker_order_id": t.maker_order_id, "taker_account": t.taker_account, "maker_account": t.maker_account,
                 "taker_side": t.taker_side.upper(), "taker_fee": str(t.taker_fee), "maker_fee": str(t.maker_fee),
                 "fee_currency": t.fee_currency, "ts_ns": t.ts_ns}
                for t in self.trade_objs(account_id, market_id) if t.ts_ns >= since_ns]

    # --- balances -------------------------------------------------------------------------------

    def _bal(self, account: str, currency: str, relation: str, symbol: str = "", order_id: str = "") -> None:
        t, h = self.accounts.slot(account, currency)
        self._pending.append(SpotEvent("balance", symbol, {
            "account": account, "currency": currency, "total": t, "available": t - h, "hold": h,
            "relationEvent": relation, "orderId": order_id}))

    def _hold(self, o: SpotOrder, amount: Decimal, m: SpotMarket) -> None:
        cur = m.quote if o.side == "buy" else m.base
        self.accounts.slot(o.account_id, cur)[1] += amount
        o.hold += amount
        self._bal(o.account_id, cur, "trade.hold", o.symbol, o.order_id)

    def _release(self, o: SpotOrder, m: SpotMarket) -> None:
        if o.hold:
            cur = m.quote if o.side == "buy" else m.base
            self.accounts.slot(o.account_id, cur)[1] -= o.hold
            o.hold = ZERO
            self._bal(o.account_id, cur, "trade.setted", o.symbol, o.order_id)

    # --- orders ---------------------------------------------------------------------------------

    def _new_id(self) -> str:
        n = next(self._ids)
        return f"{0x6720da3f + n:08x}{n:016x}"  # 24 hex characters, like KuCoin's ids

    def _validate(self, m: SpotMarket | None, side: str, price: Decimal, size: Decimal, tif: str) -> SpotMarket:
        if m is None:
            raise SpotReject("400100", "Unsupported trading pair.")
        if not m.enable_trading:
            raise SpotReject("400100", "Trading is suspended for this pair.")
        if side not in ("buy", "sell"):
            raise SpotReject("400100", "side invalid")
        if tif not in ("GTC", "IOC", "FOK", "GTT"):
            raise SpotReject("400100", "timeInForce invalid")
        if price <= 0 or price % m.price_increment != 0:
            raise SpotReject("400100", "Price increment invalid.")
        if size <= 0 or size % m.base_increment != 0:
            raise SpotReject("400100", "Order size increment invalid.")
        if size < m.base_min_size:
            raise SpotReject("400100", "Order size below the minimum requirement.")
        if size > m.base_max_size:
            raise SpotReject("400100", "Order size above the maximum requirement.")
        if price * size < max(m.min_funds, m.quote_min_size):
            raise SpotReject("400100", "Order funds below the minimum requirement.")
        return m

    def _validate_market(self, m: SpotMarket | None, side: str, size: Decimal | None, funds: Decimal | None) -> SpotMarket:
        """A market order (spec ``openapi-spot-order.json`` Add Order: "select one out of two: size
        or funds"; funds a multiple of quoteIncrement between quoteMinSize and quoteMaxSize; size a
        multiple of baseIncrement between baseMinSize and baseMaxSize; ``minFunds`` is the pair's
        minimum trading amount)."""
        if m is None:
            raise SpotReject("400100", "Unsupported trading pair.")
        if not m.enable_trading:
            raise SpotReject("400100", "Trading is suspended for this pair.")
        if side not in ("buy", "sell"):
            raise SpotReject("400100", "side invalid")
        if (size is None) == (funds is None):
            raise SpotReject("400100", "Market orders need exactly one of size or funds.")
        if funds is not None:
            if funds <= 0 or funds % m.quote_increment != 0:
                raise SpotReject("400100", "Order funds increment invalid.")
            if funds < max(m.quote_min_size, m.min_funds):
                raise SpotReject("400100", "Order funds below the minimum requirement.")
            if funds > m.quote_max_size:
                raise SpotReject("400100", "Order funds above the maximum requirement.")
        else:
            assert size is not None
            if size <= 0 or size % m.base_increment != 0:
                raise SpotReject("400100", "Order size increment invalid.")
            if size < m.base_min_size:
                raise SpotReject("400100", "Order size below the minimum requirement.")
            if size > m.base_max_size:
                raise SpotReject("400100", "Order size above the maximum requirement.")
        return m

    def submit_market(self, account_id: str, *, symbol: str, side: str, size: Decimal | None = None,
                      funds: Decimal | None = None, client_oid: str = "") -> SpotOrder:
        """A market order: takes the book now, never rests (the unfilled rest is canceled). A buy
        by ``funds`` spends at most ``funds`` including the fee when the fee is charged in the quote;
        a sell (or buy) by ``size`` trades at most ``size`` base."""
        try:
            return self._submit_market(account_id, symbol, side, size, funds, client_oid)
        finally:
            self._flush()

    def _submit_market(self, account_id: str, symbol: str, side: str, size: Decimal | None, funds: Decimal | None,
                       client_oid: str) -> SpotOrder:
        if not self.accounts.exists(account_id):
            raise SpotReject("400003", "KC-API-KEY not exists")
        m = self._validate_market(self.spot_markets.get(symbol), side, size, funds)
        if client_oid and (account_id, client_oid) in self._by_coid:
            raise SpotReject("400100", "The clientOid is duplicated, please change the clientOid")
        if self.faults is not None and account_id not in self.fault_exempt_accounts:
            hit = self.faults.order_fault(self.venue, f"{account_id} {symbol}", ("ORDER_REJECT",))
            if hit is not None:
                raise SpotReject("400100", hit.spec.message or "Order rejected (injected fault)")
        book = self._books[symbol]
        hold_cur = m.quote if side == "buy" else m.base
        if funds is not None:
            need = funds
        elif side == "buy":
            # a buy by size holds what that size costs walking the book now (fee included)
            assert size is not None
            need = self._cost_of(book, m, account_id, size)
        else:
            assert size is not None
            need = size
        if self.accounts.available(account_id, hold_cur) < need:
            raise SpotReject("200004", "Balance insufficient!")
        planned = self._plan_funds(book, m, account_id, funds) if funds is not None else size
        assert planned is not None
        now_ns = self.clock.now_ns()
        bound = Decimal("Infinity") if side == "buy" else ZERO
        o = SpotOrder(order_id=self._new_id(), client_oid=client_oid, account_id=account_id, symbol=symbol, side=side,
                      price=bound, size=planned, tif="IOC", post_only=False, created_ms=now_ns // 1_000_000,
                      created_ns=now_ns, fee_currency=m.fee_currency, updated_ms=now_ns // 1_000_000,
                      type="market", funds=funds or ZERO)
        self._orders[o.order_id] = o
        if client_oid:
            self._by_coid[(account_id, client_oid)] = o.order_id
        self._hold(o, need, m)
        self._order_event(o, "received", "new")
        if planned > 0:
            self._match(o, m, book)
        if o.remaining > 0 or o.active:
            self._cancel(o, m, "market remainder")
            if o.deal_size == 0:
                o.status = "CANCELED"  # nothing to take (an empty book, or funds below one increment)
        o.price = ZERO  # a market order has no price (KuCoin's record shows 0)
        return o

    def _cost_of(self, book: "_Book", m: SpotMarket, account_id: str, size: Decimal) -> Decimal:
        left, cost = size, ZERO
        for price, q in book.asks.items():
            for mk in q:
                if mk.account_id == account_id or left <= 0:
                    continue
                take = min(left, mk.remaining)
                fee, _ = spot_fee(price, take, m.taker_rate, m.fee_currency, m.base, m.quote)
                cost += price * take + (fee if m.fee_currency == m.quote else ZERO)
                left -= take
        return cost

    def _plan_funds(self, book: "_Book", m: SpotMarket, account_id: str, funds: Decimal) -> Decimal:
        """Base quantity a market buy of ``funds`` takes: walk the asks, at each maker the most on
        baseIncrement whose cost (and quote fee) fits in what is left."""
        left, qty = funds, ZERO
        fee_in_quote = m.fee_currency == m.quote
        for price, q in book.asks.items():
            for mk in q:
                if mk.account_id == account_id:
                    continue  # self-trade prevention cancels it during the match
                unit = price * (1 + m.taker_rate) if fee_in_quote else price
                can = (left / unit // m.base_increment) * m.base_increment
                while can > 0:  # the exact fee (not the rate bound) decides
                    fee, _ = spot_fee(price, can, m.taker_rate, m.fee_currency, m.base, m.quote)
                    if price * can + (fee if fee_in_quote else ZERO) <= left:
                        break
                    can -= m.base_increment
                take = min(can, mk.remaining)
                if take <= 0:
                    return qty
                fee, _ = spot_fee(price, take, m.taker_rate, m.fee_currency, m.base, m.quote)
                left -= price * take + (fee if fee_in_quote else ZERO)
                qty += take
                if take < mk.remaining:
                    return qty
        return qty

    def submit(self, account_id: str, *, symbol: str, side: str, price: Decimal, size: Decimal, tif: str = "GTC",
               post_only: bool = False, client_oid: str = "", cancel_after_s: int = 0) -> SpotOrder:
        """Place an order (SpotReject when refused; the record of a refused order is kept only when
        it reached the engine)."""
        try:
            return self._submit(account_id, symbol, side, price, size, tif, post_only, client_oid, cancel_after_s)
        finally:
            self._flush()

    def _submit(self, account_id: str, symbol: str, side: str, price: Decimal, size: Decimal, tif: str,
                post_only: bool, client_oid: str, cancel_after_s: int) -> SpotOrder:
        if not self.accounts.exists(account_id):
            raise SpotReject("400003", "KC-API-KEY not exists")
        m = self._validate(self.spot_markets.get(symbol), side, price, size, tif)
        if client_oid and (account_id, client_oid) in self._by_coid and \
                self._orders[self._by_coid[(account_id, client_oid)]].active:
            raise SpotReject("400100", "The clientOid is duplicated, please change the clientOid")
        if self.faults is not None and account_id not in self.fault_exempt_accounts:
            hit = self.faults.order_fault(self.venue, f"{account_id} {symbol}", ("ORDER_REJECT",))
            if hit is not None:
                raise SpotReject("400100", hit.spec.message or "Order rejected (injected fault)")
        now_ns = self.clock.now_ns()
        o = SpotOrder(order_id=self._new_id(), client_oid=client_oid, account_id=account_id, symbol=symbol, side=side,
                      price=price, size=size, tif=tif, post_only=post_only, created_ms=now_ns // 1_000_000,
                      created_ns=now_ns, fee_currency=m.fee_currency, updated_ms=now_ns // 1_000_000,
                      expire_ns=now_ns + cancel_after_s * 1_000_000_000 if tif == "GTT" and cancel_after_s else 0)
        need = price * size * (1 + m.taker_rate) if side == "buy" else size
        if self.accounts.available(account_id, m.quote if side == "buy" else m.base) < need:
            raise SpotReject("200004", "Balance insufficient!")
        self._orders[o.order_id] = o
        if client_oid:
            self._by_coid[(account_id, client_oid)] = o.order_id
        self._hold(o, need, m)
        self._order_event(o, "received", "new")
        book = self._books[symbol]
        crosses = self._crosses(o, book)
        if post_only and crosses:
            self._cancel(o, m, "post only")  # KuCoin cancels a postOnly order that would take
            return o
        if tif == "FOK" and self._fillable(o, book) < size:
            self._cancel(o, m, "FOK")
            return o
        self._match(o, m, book)
        if o.remaining > 0:
            if tif in ("IOC", "FOK"):
                self._cancel(o, m, tif)
            else:
                self._rest(o, book)
                self._order_event(o, "open", "open")
        return o

    def _crosses(self, o: SpotOrder, book: _Book) -> bool:
        side = book.asks if o.side == "buy" else book.bids
        if not side:
            return False
        best = side.keys()[0]
        return best <= o.price if o.side == "buy" else best >= o.price

    def _fillable(self, o: SpotOrder, book: _Book) -> Decimal:
        side = book.asks if o.side == "buy" else book.bids
        total = ZERO
        for p, q in side.items():
            if (o.side == "buy" and p > o.price) or (o.side == "sell" and p < o.price):
                break
            total += sum((x.remaining for x in q if x.account_id != o.account_id), ZERO)
        return total

    def _level_changed(self, symbol: str, is_bid: bool, price: Decimal) -> None:
        b = self._books[symbol]
        side = b.bids if is_bid else b.asks
        q = side.get(price)
        total = sum((x.remaining for x in q), ZERO) if q else ZERO
        b.seq += 1
        self._pending.append(SpotEvent("level", symbol, {"is_bid": is_bid, "price": price, "size": total, "seq": b.seq}))

    def _rest(self, o: SpotOrder, book: _Book) -> None:
        side = book.bids if o.side == "buy" else book.asks
        side.setdefault(o.price, deque()).append(o)
        o.in_book = True
        self._level_changed(o.symbol, o.side == "buy", o.price)

    def _unrest(self, o: SpotOrder) -> None:
        if not o.in_book:
            return
        book = self._books[o.symbol]
        side = book.bids if o.side == "buy" else book.asks
        q = side.get(o.price)
        if q is not None:
            try:
                q.remove(o)
            except ValueError:
                pass
            if not q:
                del side[o.price]
        o.in_book = False
        self._level_changed(o.symbol, o.side == "buy", o.price)

    def _match(self, taker: SpotOrder, m: SpotMarket, book: _Book) -> None:
        side = book.asks if taker.side == "buy" else book.bids
        while taker.remaining > 0 and side:
            price, q = side.peekitem(0)
            if (taker.side == "buy" and price > taker.price) or (taker.side == "sell" and price < taker.price):
                break
            maker = q[0]
            if maker.account_id == taker.account_id:
                # self-trade prevention: KuCoin's default (no stp) would match; the simulator cancels the
                # resting order (stp=CO) so a strategy never trades with itself unnoticed
                q.popleft()
                if not q:
                    del side[price]
                maker.in_book = False
                self._level_changed(m.symbol, maker.side == "buy", price)
                self._cancel(maker, m, "self-trade prevention")
                continue
            qty = min(taker.remaining, maker.remaining)
            self._fill(taker, maker, m, price, qty)
            if maker.remaining == 0:
                q.popleft()
                if not q:
                    del side[price]
                maker.in_book = False
            self._level_changed(m.symbol, maker.side == "buy", price)

    def _fill(self, taker: SpotOrder, maker: SpotOrder, m: SpotMarket, price: Decimal, qty: Decimal) -> None:
        now = self.clock.now_ns()
        tid = str(11029373945659392 + next(self._ids))
        t_fee, _ = spot_fee(price, qty, m.taker_rate, m.fee_currency, m.base, m.quote)
        m_fee, _ = spot_fee(price, qty, m.maker_rate, m.fee_currency, m.base, m.quote)
        for o, fee, liq in ((taker, t_fee, "taker"), (maker, m_fee, "maker")):
            self._settle(o, m, price, qty, fee)
            o.deal_size += qty
            o.deal_funds += price * qty
            o.fee += fee
            o.updated_ms = now // 1_000_000
            if o.remaining == 0:
                o.status = "FILLED"
                self._release(o, m)
            self._order_event(o, "match", "match" if o.remaining > 0 else "done", match=(price, qty, tid, liq))
            if o.remaining == 0:
                self._order_event(o, "filled", "done")
        self._trades.append(SpotTrade(trade_id=tid, symbol=m.symbol, price=price, size=qty,
                                      taker_order_id=taker.order_id, maker_order_id=maker.order_id,
                                      taker_account=taker.account_id, maker_account=maker.account_id,
                                      taker_side=taker.side, taker_fee=t_fee, maker_fee=m_fee,
                                      fee_currency=m.fee_currency, ts_ns=now))
        self._pending.append(SpotEvent("trade", m.symbol, {"price": price, "size": qty, "side": taker.side,
                                                           "tradeId": tid, "makerOrderId": maker.order_id,
                                                           "takerOrderId": taker.order_id}))

    def _settle(self, o: SpotOrder, m: SpotMarket, price: Decimal, qty: Decimal, fee: Decimal) -> None:
        a = o.account_id
        funds = price * qty
        fee_quote = fee if m.fee_currency == m.quote else ZERO
        fee_base = fee if m.fee_currency == m.base else ZERO
        if o.side == "buy":
            cost = funds + fee_quote
            slot = self.accounts.slot(a, m.quote)
            use = min(cost, o.hold)
            slot[1] -= use
            o.hold -= use
            slot[0] -= cost
            self.accounts.slot(a, m.base)[0] += qty - fee_base
        else:
            slot = self.accounts.slot(a, m.base)
            slot[1] -= qty
            o.hold -= qty
            slot[0] -= qty + fee_base
            self.accounts.slot(a, m.quote)[0] += funds - fee_quote
        self._bal(a, m.quote, "trade.setted", m.symbol, o.order_id)
        self._bal(a, m.base, "trade.setted", m.symbol, o.order_id)

    def _order_event(self, o: SpotOrder, type_: str, status: str, match: tuple | None = None) -> None:
        d = {"account": o.account_id, "symbol": o.symbol, "orderId": o.order_id, "clientOid": o.client_oid,
             "side": o.side, "orderType": o.type, "type": type_, "status": status,
             "price": str(o.price) if o.type == "limit" else "0",
             "size": str(o.size), "originSize": str(o.size), "filledSize": str(o.deal_size),
             "remainSize": str(o.remaining), "canceledSize": str(o.cancelled_size), "orderTime": o.created_ms,
             "ts": self.clock.now_ns()}
        if match is not None:
            price, qty, tid, liq = match
            d.update({"matchPrice": str(price), "matchSize": str(qty), "tradeId": tid, "liquidity": liq,
                      "feeType": "takerFee" if liq == "taker" else "makerFee"})
        self._pending.append(SpotEvent("order", o.symbol, d))

    def _cancel(self, o: SpotOrder, m: SpotMarket, reason: str) -> None:
        self._unrest(o)
        o.cancelled_size = o.size - o.deal_size
        o.status = "CANCELED" if o.deal_size < o.size else "FILLED"
        o.updated_ms = self.clock.now_ns() // 1_000_000
        self._release(o, m)
        self._order_event(o, "canceled", "done")

    def cancel(self, account_id: str, order_id: str) -> SpotOrder:
        try:
            o = self._orders.get(order_id)
            if o is None or o.account_id != account_id or not o.active:
                raise SpotReject("400100", "order_not_exist_or_not_allow_to_cancel")
            self._cancel(o, self.spot_markets[o.symbol], "user")
            return o
        finally:
            self._flush()

    def cancel_all(self, account_id: str, symbol: str | None = None) -> list[SpotOrder]:
        out = []
        for o in self.open_order_objs(account_id, symbol):
            out.append(self.cancel(account_id, o.order_id))
        return out

    def on_time(self) -> None:
        now = self.clock.now_ns()
        for o in [o for o in self._orders.values() if o.active and o.expire_ns and o.expire_ns <= now]:
            self._cancel(o, self.spot_markets[o.symbol], "cancelAfter")
        self._flush()


__all__ = ["SpotAccounts", "SpotEngine", "SpotEvent", "SpotMarket", "SpotOrder", "SpotReject", "SpotTrade"]
