"""The simulated Polymarket venue's view of the matching engine.

Turns engine objects (markets, book views, orders, fills) into the venue's wire messages, and
keeps what the engine does not know about the venue: which API key owns an order, the venue's
trades (one trade per taker operation, with the maker orders it matched), and order-to-trade
links. Everything here is synchronous and deterministic; the aiohttp layer is in ``server.py``.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable

from arbkit.core.enums import Side
from arbkit.sim.events import Outcome, SimOrder, SimOrderStatus, SimTrade, TradeStatus
from arbkit.sim.polymarket import eip712
from arbkit.sim.polymarket import messages as m

INITIAL_CURSOR = "MA=="  # base64("0")
END_CURSOR = "LTE="  # base64("-1")
MAX_UINT256 = str((1 << 256) - 1)
COLLATERAL = "USDC"


def encode_cursor(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    """Offset of a ``next_cursor``; raises ValueError on a malformed cursor."""
    if not cursor:
        return 0
    if cursor == END_CURSOR:
        return -1
    value = int(base64.b64decode(cursor.encode(), validate=True).decode())
    if value < 0:
        raise ValueError("negative cursor")
    return value


def stable_uuid(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def tx_hash(match_id: str) -> str:
    return "0x" + hashlib.sha256(f"polymarket-sim-tx:{match_id}".encode()).hexdigest()


@dataclass(slots=True)
class Token:
    token_id: str
    market_id: str
    outcome: Outcome
    label: str  # "Yes" / "No" or the venue's outcome name


@dataclass(slots=True)
class MarketInfo:
    """A Polymarket binary market (condition) with its two tokens and descriptive fields."""

    condition_id: str
    question: str
    neg_risk: bool
    yes: Token
    no: Token
    description: str = ""
    slug: str = ""
    end_date_iso: str = ""
    question_id: str = ""
    neg_risk_market_id: str = ""
    neg_risk_request_id: str = ""
    event_id: str | None = None
    group_item_title: str = ""
    game_start_time: str | None = None
    tags: list[str] = field(default_factory=list)
    neg_risk_augmented: bool = False  # the event is augmented neg-risk (placeholders + explicit Other)

    def token(self, outcome: Outcome) -> Token:
        return self.yes if outcome is Outcome.YES else self.no


@dataclass(slots=True)
class VenueTrade:
    """One venue trade: a taker operation and the maker orders it matched (an engine match)."""

    id: str
    match_id: str
    market_id: str
    taker_order_id: str
    taker_account: str
    taker_symbol: str
    taker_outcome: Outcome
    taker_side: Side
    price: Decimal  # the taker order's limit price (own-outcome terms)
    ts_ns: int
    fills: list[SimTrade] = field(default_factory=list)
    status: TradeStatus = TradeStatus.MATCHED
    status_ts_ns: int = 0

    @property
    def size(self) -> Decimal:
        return sum((f.size for f in self.fills), Decimal(0))

    @property
    def transaction_hash(self) -> str:
        return tx_hash(self.match_id)

    def involves(self, account_id: str) -> bool:
        return self.taker_account == account_id or any(f.maker_account == account_id for f in self.fills)


REST_ORDER_STATUS_PREFIX = "ORDER_STATUS_"


class VenueState:
    """Markets, owners and trades of the simulated Polymarket venue."""

    def __init__(self, engine: Any, markets_meta: Iterable[Any] = (), fee_rate_bps: dict[str, int] | None = None) -> None:
        self.engine = engine
        self.markets: dict[str, MarketInfo] = {}
        self.tokens: dict[str, Token] = {}
        # Deposit wallets (POLY_1271): wallet (lower case) -> owner EOA (lower case), and back.
        self.deposit_wallets: dict[str, str] = {}
        self.deposit_wallet_of: dict[str, str] = {}
        # Owners created as new API users: only the deposit-wallet flow may trade for them.
        self.new_api_users: set[str] = set()
        self._fee_bps_override = fee_rate_bps or {}
        meta_by_market: dict[str, Any] = {}
        for sm in markets_meta:
            if getattr(sm, "venue", "polymarket") == "polymarket":
                meta_by_market[sm.market_id] = sm
        for spec in engine.markets():
            self._add_market(spec, meta_by_market.get(spec.market_id))
        self.owner_key: dict[str, str] = {}  # account id -> API key that owns its orders
        self.order_owner: dict[str, str] = {}  # order id -> API key (orders entered over REST)
        self.trades: dict[str, VenueTrade] = {}  # venue trade id -> trade, insertion = time order
        self._trade_by_match: dict[str, str] = {}
        self._trade_by_fill: dict[str, str] = {}
        self.order_trades: dict[str, list[str]] = {}
        self.last_trade: dict[str, tuple[Decimal, Side]] = {}  # token id -> (price, taker side in view)
        self._addr_cache: dict[str, str] = {}
        for t in engine.trades():
            self.record_fill(t)

    # --- markets ------------------------------------------------------------------------------

    def add_market(self, spec: Any, sm: Any | None) -> "MarketInfo":
        """A market listed while the venue runs (the scenario's listings)."""
        self._add_market(spec, sm)
        return self.markets[spec.market_id]

    def _add_market(self, spec: Any, sm: Any | None) -> None:
        meta: dict[str, Any] = dict(getattr(sm, "venue_meta", {}) or {}) if sm is not None else {}
        yes_label = meta.get("yes_outcome", "Yes")
        no_label = meta.get("no_outcome", "No")
        info = MarketInfo(
            condition_id=spec.market_id,
            question=meta.get("question") or getattr(sm, "title", "") or spec.title or spec.market_id,
            neg_risk=bool(spec.neg_risk),
            yes=Token(spec.yes_symbol, spec.market_id, Outcome.YES, yes_label),
            no=Token(spec.no_symbol, spec.market_id, Outcome.NO, no_label),
            description=meta.get("description") or getattr(sm, "rules", "") or "",
            slug=meta.get("slug", ""),
            end_date_iso=meta.get("end_date_iso") or getattr(sm, "close_time", "") or "",
            question_id=meta.get("question_id", ""),
            neg_risk_market_id=meta.get("neg_risk_market_id", ""),
            neg_risk_request_id=meta.get("neg_risk_request_id", ""),
            event_id=spec.event_id,
            group_item_title=meta.get("group_item_title") or getattr(sm, "outcome_label", "") or "",
            game_start_time=meta.get("game_start_time"),
            neg_risk_augmented=bool(meta.get("neg_risk_augmented", False)),
        )
        if info.neg_risk and not info.neg_risk_market_id and spec.event_id:
            info.neg_risk_market_id = "0x" + hashlib.sha256(f"negrisk:{spec.event_id}".encode()).hexdigest()
        if not info.question_id:
            info.question_id = "0x" + hashlib.sha256(f"question:{spec.market_id}".encode()).hexdigest()
        self.markets[spec.market_id] = info
        self.tokens[info.yes.token_id] = info.yes
        self.tokens[info.no.token_id] = info.no

    def spec(self, market_id: str) -> Any:
        return self.engine.market(market_id)

    def fee_rate_bps(self, market_id: str) -> int:
        if market_id in self._fee_bps_override:
            return self._fee_bps_override[market_id]
        fee = self.spec(market_id).fee
        if getattr(fee, "kind", "none") != "polymarket":
            return 0
        return int((fee.taker_rate * 10_000).to_integral_value())

    def fee_info(self, market_id: str) -> tuple[float, float]:
        """(rate, exponent) as the CLOB's market info ``fd`` gives them (floats are display only)."""
        fee = self.spec(market_id).fee
        if getattr(fee, "kind", "none") != "polymarket":
            return 0.0, 0.0
        return float(fee.taker_rate), float(fee.exponent)

    # --- owners -------------------------------------------------------------------------------

    def owner_of_account(self, account_id: str) -> str:
        key = self.owner_key.get(account_id)
        return key if key is not None else stable_uuid("owner", account_id)

    def owner_of_order(self, order: SimOrder) -> str:
        return self.order_owner.get(order.order_id) or self.owner_of_account(order.account_id)

    # --- books --------------------------------------------------------------------------------

    def levels(self, token: Token) -> tuple[list[m.Level], list[m.Level]]:
        """(bids ascending, asks descending): worst first, best last, as the venue lists them."""
        view = self.engine.book(token.market_id, token.outcome)
        bids = [m.Level(m.fmt(p), m.fmt(s)) for p, s in reversed(view.bids)]
        asks = [m.Level(m.fmt(p), m.fmt(s)) for p, s in reversed(view.asks)]
        return bids, asks

    def best(self, token: Token) -> tuple[Decimal | None, Decimal | None]:
        return self.engine.best(token.market_id, token.outcome)

    def last_trade_price(self, token: Token) -> str:
        lt = self.last_trade.get(token.token_id)
        return m.fmt(lt[0]) if lt else "0"

    def book_summary(self, token: Token, ts_ns: int) -> m.BookSummary:
        spec = self.spec(token.market_id)
        bids, asks = self.levels(token)
        return m.book_summary(
            token.market_id,
            token.token_id,
            ts_ns // 1_000_000,
            bids,
            asks,
            m.fmt(spec.min_size),
            m.fmt(spec.tick_size),
            bool(spec.neg_risk),
            self.last_trade_price(token),
        )

    def ws_book(self, token: Token, ts_ns: int) -> m.WsBook:
        s = self.book_summary(token, ts_ns)
        return m.WsBook("book", s.asset_id, s.market, s.bids, s.asks, s.timestamp, s.hash)

    # --- trades -------------------------------------------------------------------------------

    def record_fill(self, fill: SimTrade) -> tuple[VenueTrade, bool]:
        """Add one engine fill to its venue trade; returns (trade, created)."""
        if fill.trade_id in self._trade_by_fill:
            vt = self.trades[self._trade_by_fill[fill.trade_id]]
            return vt, False
        created = False
        tid = self._trade_by_match.get(fill.match_id)
        if tid is None:
            tid = stable_uuid("trade", fill.match_id)
            taker = self.engine.order(fill.taker_order_id)
            price = taker.price if taker is not None and taker.price is not None else fill.taker_price
            vt = VenueTrade(
                id=tid,
                match_id=fill.match_id,
                market_id=fill.market_id,
                taker_order_id=fill.taker_order_id,
                taker_account=fill.taker_account,
                taker_symbol=fill.taker_symbol,
                taker_outcome=fill.taker_outcome,
                taker_side=fill.taker_side,
                price=price,
                ts_ns=fill.ts_ns,
                status=fill.status,
                status_ts_ns=fill.status_ts_ns,
            )
            self.trades[tid] = vt
            self._trade_by_match[fill.match_id] = tid
            created = True
            self.order_trades.setdefault(fill.taker_order_id, []).append(tid)
        vt = self.trades[tid]
        vt.fills.append(fill)
        self._trade_by_fill[fill.trade_id] = tid
        ids = self.order_trades.setdefault(fill.maker_order_id, [])
        if tid not in ids:
            ids.append(tid)
        # Last trade price per token: the YES price and its mirror for NO.
        info = self.markets.get(fill.market_id)
        if info is not None:
            yes_side = fill.taker_side if fill.taker_outcome is Outcome.YES else fill.taker_side.opposite
            self.last_trade[info.yes.token_id] = (fill.price_yes, yes_side)
            self.last_trade[info.no.token_id] = (Decimal(1) - fill.price_yes, yes_side.opposite)
        return vt, created

    def trade_for_fill(self, trade_id: str) -> VenueTrade | None:
        tid = self._trade_by_fill.get(trade_id)
        return self.trades.get(tid) if tid else None

    def set_trade_status(self, fill: SimTrade, status: TradeStatus) -> VenueTrade | None:
        """Apply a fill's status change to its venue trade; returns it when the trade's status changed."""
        vt = self.trade_for_fill(fill.trade_id)
        if vt is None:
            vt, _ = self.record_fill(fill)
        if vt.status == status or vt.status is TradeStatus.FAILED:
            return None
        vt.status = status
        vt.status_ts_ns = fill.status_ts_ns
        return vt

    def _maker_orders(self, vt: VenueTrade) -> list[m.MakerOrder]:
        fee_bps = str(self.fee_rate_bps(vt.market_id))
        out = []
        for f in vt.fills:
            maker_order = self.engine.order(f.maker_order_id)
            owner = self.owner_of_order(maker_order) if maker_order is not None else self.owner_of_account(f.maker_account)
            tok = self.tokens.get(f.maker_symbol)
            out.append(
                m.MakerOrder(
                    asset_id=f.maker_symbol,
                    fee_rate_bps=fee_bps,
                    maker_address=self.address_of(f.maker_account),
                    matched_amount=m.fmt(f.size),
                    order_id=f.maker_order_id,
                    outcome=tok.label if tok else f.maker_outcome.value.title(),
                    owner=owner,
                    price=m.fmt(f.maker_price),
                    side=f.maker_side.value,
                )
            )
        return out

    def address_of(self, account_id: str) -> str:
        """The wallet address of an account, EIP-55 mixed case as the venue writes addresses."""
        addr = self._addr_cache.get(account_id)
        if addr is None:
            try:
                addr = eip712.to_checksum_address(account_id)
            except eip712.SignatureError:
                addr = account_id  # a background account that is not a wallet address
            self._addr_cache[account_id] = addr
        return addr

    def trade_body(self, vt: VenueTrade, viewer_account: str) -> m.Trade:
        tok = self.tokens.get(vt.taker_symbol)
        taker_order = self.engine.order(vt.taker_order_id)
        owner = self.owner_of_order(taker_order) if taker_order is not None else self.owner_of_account(vt.taker_account)
        return m.Trade(
            id=vt.id,
            taker_order_id=vt.taker_order_id,
            market=vt.market_id,
            asset_id=vt.taker_symbol,
            side=vt.taker_side.value,
            size=m.fmt(vt.size),
            fee_rate_bps=str(self.fee_rate_bps(vt.market_id)),
            price=m.fmt(vt.price),
            status=vt.status.value,
            match_time=str(vt.ts_ns // 1_000_000_000),
            last_update=str(max(vt.status_ts_ns, vt.ts_ns) // 1_000_000_000),
            outcome=tok.label if tok else vt.taker_outcome.value.title(),
            bucket_index=0,
            owner=owner,
            maker_address=self.address_of(vt.taker_account),
            transaction_hash=vt.transaction_hash,
            maker_orders=self._maker_orders(vt),
            trader_side="TAKER" if vt.taker_account == viewer_account else "MAKER",
        )

    def ws_trade(self, vt: VenueTrade, viewer_account: str, ts_ns: int) -> m.WsUserTrade:
        t = self.trade_body(vt, viewer_account)
        return m.WsUserTrade(
            asset_id=t.asset_id,
            bucket_index=t.bucket_index,
            event_type="trade",
            fee_rate_bps=t.fee_rate_bps,
            id=t.id,
            last_update=t.last_update,
            maker_address=t.maker_address,
            maker_orders=t.maker_orders,
            market=t.market,
            match_time=t.match_time,
            outcome=t.outcome,
            owner=t.owner,
            price=t.price,
            side=t.side,
            size=t.size,
            status=t.status,
            taker_order_id=t.taker_order_id,
            timestamp=str(ts_ns // 1_000_000),
            trade_owner=self.owner_of_account(viewer_account),
            trader_side=t.trader_side,
            transaction_hash=t.transaction_hash,
        )

    def trades_for(self, account_id: str) -> list[VenueTrade]:
        return [vt for vt in self.trades.values() if vt.involves(account_id)]

    # --- orders -------------------------------------------------------------------------------

    def order_status(self, order: SimOrder, prefix: str = "") -> str:
        """The order's status as the venue writes it. REST order rows use the V2 enum spelling the
        docs' examples show (``ORDER_STATUS_LIVE``, api-reference/trade/get-single-order-by-id and
        get-user-orders, checked 2026-12-04): pass ``prefix="ORDER_STATUS_"``. The remainder of an
        order closed by its market's resolution is ``CANCELED_MARKET_RESOLVED`` (same pages)."""
        if order.status is SimOrderStatus.OPEN:
            return prefix + "LIVE"
        if order.status is SimOrderStatus.FILLED:
            return prefix + "MATCHED"
        if "RESOLV" in str(order.reason or "").upper():
            return prefix + "CANCELED_MARKET_RESOLVED"
        return prefix + "CANCELED"

    def _outcome_label(self, order: SimOrder) -> str:
        tok = self.tokens.get(order.symbol)
        return tok.label if tok else order.outcome.value.title()

    def open_order_body(self, order: SimOrder) -> m.OpenOrder:
        return m.OpenOrder(
            associate_trades=list(self.order_trades.get(order.order_id, [])),
            id=order.order_id,
            status=self.order_status(order, REST_ORDER_STATUS_PREFIX),
            market=order.market_id,
            original_size=m.fmt(order.size),
            outcome=self._outcome_label(order),
            maker_address=str(order.meta.get("maker_address") or self.address_of(order.account_id)),
            owner=self.owner_of_order(order),
            price=m.fmt(order.price) if order.price is not None else "0",
            side=order.side.value,
            size_matched=m.fmt(order.filled),
            asset_id=order.symbol,
            expiration=str(order.meta.get("expiration", "0")),
            order_type=str(order.meta.get("order_type", _tif_to_order_type(order))),
            created_at=order.created_ns // 1_000_000_000,
        )

    def ws_order(self, order: SimOrder, kind: str, status: str, ts_ns: int) -> m.WsUserOrder:
        trades = self.order_trades.get(order.order_id)
        owner = self.owner_of_order(order)
        return m.WsUserOrder(
            asset_id=order.symbol,
            associate_trades=list(trades) if trades else None,
            created_at=str(order.created_ns // 1_000_000_000),
            event_type="order",
            expiration=str(order.meta.get("expiration", "0")),
            id=order.order_id,
            maker_address=str(order.meta.get("maker_address") or self.address_of(order.account_id)),
            market=order.market_id,
            order_owner=owner,
            order_type=str(order.meta.get("order_type", _tif_to_order_type(order))),
            original_size=m.fmt(order.size),
            outcome=self._outcome_label(order),
            owner=owner,
            price=m.fmt(order.price) if order.price is not None else "0",
            side=order.side.value,
            size_matched=m.fmt(order.filled),
            status=status,
            timestamp=str(ts_ns // 1_000_000),
            type=kind,
        )

    # --- CLOB market records --------------------------------------------------------------------

    def clob_market(self, info: MarketInfo) -> m.ClobMarket:
        spec = self.spec(info.condition_id)
        halted = self.engine.is_halted(info.condition_id)
        tokens = []
        winner = self.engine.resolved(info.condition_id)  # resolved: closed, price 1/0, winner flag (venue shape)
        for tok in (info.yes, info.no):
            lt = self.last_trade.get(tok.token_id)
            if winner is not None:
                tokens.append(m.Token(tok.token_id, tok.label, 1 if tok.outcome is winner else 0, tok.outcome is winner))
            else:
                tokens.append(m.Token(tok.token_id, tok.label, float(lt[0]) if lt else 0.5, False))
        return m.ClobMarket(
            enable_order_book=True,
            active=True,
            closed=winner is not None,
            archived=False,
            accepting_orders=not halted,
            accepting_order_timestamp=None,
            minimum_order_size=float(spec.min_size),
            minimum_tick_size=float(spec.tick_size),
            condition_id=info.condition_id,
            question_id=info.question_id,
            question=info.question,
            description=info.description,
            market_slug=info.slug,
            end_date_iso=info.end_date_iso,
            game_start_time=info.game_start_time,
            seconds_delay=0,
            fpmm="",
            maker_base_fee=0,
            taker_base_fee=self.fee_rate_bps(info.condition_id),
            notifications_enabled=False,
            neg_risk=info.neg_risk,
            neg_risk_market_id=info.neg_risk_market_id,
            neg_risk_request_id=info.neg_risk_request_id,
            icon="",
            image="",
            rewards=m.Rewards(rates=None, min_size=0, max_spread=0),
            is_50_50_outcome=False,
            tokens=tokens,
            tags=list(info.tags),
        )


def _tif_to_order_type(order: SimOrder) -> str:
    tif = order.tif.value
    return "FAK" if tif == "IOC" else tif
