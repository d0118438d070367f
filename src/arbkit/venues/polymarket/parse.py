"""Polymarket wire formats -> typed structs -> arbkit core values.

msgspec Structs decode the market channel, the user channel and the REST answers. Structs are
permissive (unknown fields ignored, most fields optional) because the venue adds fields and
omits others; what a consumer needs is checked where it is used. A message that cannot be
decoded is counted (a Prometheus counter by venue/source plus an in-object counter), logged with
a truncated sample and turned into a :class:`MessageMalformed` event: it never raises out of a
feed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
from decimal import Decimal
from typing import Any

import msgspec

from arbkit.core.enums import FillStatus, LiquiditySide, OrderStatus, Side, Venue
from arbkit.venues.common.malformed import MALFORMED_MESSAGES, SAMPLE_CHARS  # noqa: F401 - re-exported
from arbkit.venues.common.malformed import MalformedTracker as _MalformedTracker

log = logging.getLogger("arbkit.venues.polymarket.parse")

# --- market channel ---------------------------------------------------------------------------


class WsLevel(msgspec.Struct):
    price: str
    size: str


class WsPriceChange(msgspec.Struct):
    asset_id: str
    price: str
    size: str
    side: str
    hash: str = ""
    best_bid: str | None = None
    best_ask: str | None = None


class WsMarketMessage(msgspec.Struct):
    """Any market-channel event. ``kind`` tells which (inferred from the shape when the
    ``event_type`` field is missing, as in some captured samples)."""

    event_type: str = ""
    asset_id: str = ""
    market: str = ""
    bids: list[WsLevel] | None = None
    asks: list[WsLevel] | None = None
    buys: list[WsLevel] | None = None  # pre-2025 name of bids
    sells: list[WsLevel] | None = None  # pre-2025 name of asks
    price_changes: list[WsPriceChange] | None = None
    price: str | None = None
    size: str | None = None
    side: str | None = None
    hash: str = ""
    timestamp: str | int = ""
    old_tick_size: str | None = None
    new_tick_size: str | None = None
    tick_size: str | None = None  # some book messages carry the market's tick size
    fee_rate_bps: str | int | None = None
    best_bid: str | None = None
    best_ask: str | None = None
    spread: str | None = None
    assets_ids: list[str] | None = None
    winning_asset_id: str | None = None
    winning_outcome: str | None = None  # market_resolved: the winner's label ("Yes")
    # new_market (custom feature): id, question, market, slug, assets_ids, outcomes, condition_id,
    # active, clob_token_ids, order_price_min_tick_size, group_item_title, event_message
    id: str | None = None
    question: str | None = None
    slug: str | None = None
    outcomes: list[str] | None = None
    condition_id: str | None = None
    active: bool | None = None
    clob_token_ids: list[str] | None = None
    order_price_min_tick_size: str | None = None
    event_message: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        if self.event_type:
            return self.event_type
        if self.price_changes is not None:
            return "price_change"
        if self.bids is not None or self.asks is not None or self.buys is not None:
            return "book"
        if self.new_tick_size is not None:
            return "tick_size_change"
        if self.price is not None and self.side is not None and self.size is not None:
            return "last_trade_price"
        return ""

    def bid_levels(self) -> list[WsLevel]:
        return self.bids if self.bids is not None else (self.buys or [])

    def ask_levels(self) -> list[WsLevel]:
        return self.asks if self.asks is not None else (self.sells or [])


class WsChangeOnly(msgspec.Struct, gc=False):  # strings only: cannot form cycles
    """The fields of a price change the book needs (the hot-path decoder skips the rest)."""

    asset_id: str
    price: str
    size: str
    side: str


class WsChangesOnly(msgspec.Struct, gc=False):  # holds a list of untracked structs: no cycles
    """Hot-path view of a market message: price changes only (``price_changes`` is required, so
    a frame holding any other event fails this decode and takes the full
    :class:`WsMarketMessage` path)."""

    price_changes: list[WsChangeOnly]


MARKET_EVENT_KINDS = frozenset(
    {"book", "price_change", "tick_size_change", "last_trade_price", "best_bid_ask", "new_market", "market_resolved"}
)

_market_decoder = msgspec.json.Decoder(list[WsMarketMessage] | WsMarketMessage)


def decode_market_frame(raw: bytes | str) -> list[WsMarketMessage]:
    """Decode one market-channel frame (an event or a JSON array of events). Raises
    msgspec.DecodeError / ValidationError on malformed input (callers count it)."""
    out = _market_decoder.decode(raw)
    return out if isinstance(out, list) else [out]


# --- user channel -----------------------------------------------------------------------------


class WsMakerOrder(msgspec.Struct):
    order_id: str = ""
    owner: str = ""
    maker_address: str = ""
    matched_amount: str = "0"
    price: str = ""
    fee_rate_bps: str | int | None = None
    asset_id: str = ""
    outcome: str = ""
    side: str | None = None


class WsUserMessage(msgspec.Struct):
    """A user-channel ``order`` or ``trade`` event, also the REST open-order and trade rows."""

    event_type: str = ""
    type: str = ""  # order: PLACEMENT / UPDATE / CANCELLATION; trade: TRADE
    id: str = ""
    asset_id: str = ""
    market: str = ""
    side: str = ""
    price: str = ""
    status: str = ""
    owner: str = ""
    maker_address: str = ""
    outcome: str = ""
    timestamp: str | int = ""
    # order fields
    original_size: str | None = None
    size_matched: str | None = None
    order_type: str | None = None
    associate_trades: list[str] | None = None
    created_at: str | int | None = None
    expiration: str | int | None = None
    order_owner: str | None = None
    # trade fields
    size: str | None = None
    taker_order_id: str | None = None
    maker_orders: list[WsMakerOrder] | None = None
    trader_side: str | None = None
    fee_rate_bps: str | int | None = None
    match_time: str | int | None = None
    last_update: str | int | None = None
    transaction_hash: str | None = None
    trade_owner: str | None = None
    bucket_index: int | None = None

    @property
    def kind(self) -> str:
        if self.event_type:
            return self.event_type
        if self.type == "TRADE" or self.taker_order_id is not None or self.maker_orders is not None:
            return "trade"
        if self.original_size is not None or self.type in ("PLACEMENT", "UPDATE", "CANCELLATION"):
            return "order"
        return ""


_user_decoder = msgspec.json.Decoder(list[WsUserMessage] | WsUserMessage)


def decode_user_frame(raw: bytes | str) -> list[WsUserMessage]:
    out = _user_decoder.decode(raw)
    return out if isinstance(out, list) else [out]


# --- REST -------------------------------------------------------------------------------------


class RestBook(msgspec.Struct):
    """GET /book."""

    market: str = ""
    asset_id: str = ""
    bids: list[WsLevel] = msgspec.field(default_factory=list)
    asks: list[WsLevel] = msgspec.field(default_factory=list)
    timestamp: str | int = ""
    hash: str = ""
    min_order_size: str | None = None
    tick_size: str | None = None
    neg_risk: bool | None = None
    last_trade_price: str | None = None


class PostOrderResponse(msgspec.Struct):
    """POST /order (one element of POST /orders)."""

    success: bool = False
    orderID: str | None = None
    errorMsg: str | None = None
    error_msg: str | None = None
    error: str | None = None
    status: str = ""
    makingAmount: str = ""
    takingAmount: str = ""
    transactionsHashes: list[str] | None = None
    tradeIDs: list[str] | None = None

    @property
    def message(self) -> str:
        return self.errorMsg or self.error_msg or self.error or ""


class CancelResponse(msgspec.Struct):
    canceled: list[str] = msgspec.field(default_factory=list)
    not_canceled: dict[str, str] = msgspec.field(default_factory=dict)


class ErrorResponse(msgspec.Struct):
    error: str | None = None
    errorMsg: str | None = None


class Page(msgspec.Struct):
    data: list[WsUserMessage] = msgspec.field(default_factory=list)
    next_cursor: str = ""
    limit: int | None = None
    count: int | None = None


class BalanceAllowance(msgspec.Struct):
    balance: str = "0"
    allowance: str | None = None
    allowances: dict[str, str] | None = None


class MarketByToken(msgspec.Struct):
    """GET /markets-by-token/{token_id}."""

    condition_id: str


class TickSizeResponse(msgspec.Struct):
    """GET /tick-size (a JSON number: decoded straight to Decimal, never through float)."""

    minimum_tick_size: Decimal


class NegRiskResponse(msgspec.Struct):
    neg_risk: bool


class FeeRateResponse(msgspec.Struct):
    base_fee: str | int | None = None


class ClobToken(msgspec.Struct):
    token_id: str
    outcome: str = ""
    price: Decimal | None = None
    winner: bool | None = None


class ClobMarket(msgspec.Struct):
    """GET /markets/{condition_id} and the rows of the /markets pages."""

    condition_id: str
    tokens: list[ClobToken] = msgspec.field(default_factory=list)
    minimum_order_size: Decimal = Decimal(0)
    minimum_tick_size: Decimal = Decimal("0.01")
    neg_risk: bool = False
    maker_base_fee: int | None = None
    taker_base_fee: int | None = None
    accepting_orders: bool = True
    active: bool = True
    closed: bool = False
    enable_order_book: bool = True
    question: str = ""


class ClobMarketsPage(msgspec.Struct):
    data: list[ClobMarket] = msgspec.field(default_factory=list)
    next_cursor: str = ""
    limit: int | None = None
    count: int | None = None


class CompactToken(msgspec.Struct):
    t: str  # token id
    o: str = ""  # outcome


class CompactFee(msgspec.Struct):
    """``fd`` of /clob-markets: ``{r: feeRate, e: exponent, to: takerOnly}`` (docs.polymarket.com
    trading/fees "Fee Handling" and api-reference/markets/get-clob-market-info, checked 2026-12-04).
    Numbers are decoded from their JSON text straight to Decimal (a fractional ``e`` stays exact)."""

    r: Decimal = Decimal(0)  # rate
    e: Decimal = Decimal(1)  # exponent (may be fractional)
    to: bool = True  # taker only: False means makers pay the same curve

    def spec(self):
        from arbkit.core.fees import NO_FEE, polymarket_fee_spec

        if self.r <= 0:
            return NO_FEE
        return polymarket_fee_spec(self.r, self.e, self.to)


class ClobMarketInfo(msgspec.Struct):
    """GET /clob-markets/{condition_id}: compact market parameters (py-clob-client-v2)."""

    t: list[CompactToken | None] = msgspec.field(default_factory=list)
    mts: Decimal = Decimal("0.01")  # minimum tick size
    nr: bool = False  # neg risk
    fd: CompactFee | None = None  # fee details
    mos: Decimal | None = None  # minimum order size
    c: str = ""  # condition id


def decode(raw: bytes | str, type_: Any) -> Any:
    return msgspec.json.decode(raw, type=type_)


# --- values -----------------------------------------------------------------------------------


def side_of(text: str) -> Side:
    t = text.upper()
    if t == "BUY":
        return Side.BUY
    if t == "SELL":
        return Side.SELL
    raise ValueError(f"unknown side {text!r}")


def to_ns(value: str | int | float | None) -> int:
    """A venue timestamp (s, ms, µs or ns since the epoch, as int or digits; or ISO 8601) in ns.
    Empty / missing gives 0."""
    if value is None or value == "":
        return 0
    if isinstance(value, str):
        v = value.strip()
        if not v.isdigit():
            d = _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            if d.tzinfo is None:
                d = d.replace(tzinfo=_dt.timezone.utc)
            return int(d.timestamp()) * 1_000_000_000 + d.microsecond * 1000
        n = int(v)
    elif isinstance(value, float):
        raise TypeError("timestamps must be integers or strings")
    else:
        n = int(value)
    if n < 10**11:  # seconds
        return n * 1_000_000_000
    if n < 10**14:  # milliseconds
        return n * 1_000_000
    if n < 10**17:  # microseconds
        return n * 1000
    return n


def dec(text: str | int | None, default: Decimal | None = None) -> Decimal | None:
    """A wire number (string or int) as Decimal; ``""``/None gives ``default``."""
    if text is None or text == "":
        return default
    return Decimal(text) if isinstance(text, str) else Decimal(int(text))


def micro_units(text: str) -> Decimal:
    """A balance/allowance: integer strings are micro-units (6 decimals on chain), decimal
    strings are already whole units."""
    t = text.strip()
    if t.isdigit():
        return Decimal(int(t)).scaleb(-6)
    return Decimal(t)


class MalformedTracker(_MalformedTracker):
    """Malformed messages of one Polymarket source (``market``, ``user``); see common.malformed."""

    __slots__ = ()

    def __init__(self, source: str, venue: Venue = Venue.POLYMARKET) -> None:
        super().__init__(source, venue)


# --- our orders and fills ---------------------------------------------------------------------

# Trade (fill) statuses. docs.polymarket.com concepts/order-lifecycle and the user-channel pages
# (checked 2026-12-04): MATCHED -> MINED -> CONFIRMED, or RETRYING -> FAILED; V2 also reports
# MATCHED_NOT_BROADCASTED (matched, settlement transaction not yet sent). Each may arrive with the
# ``TRADE_STATUS_`` prefix of the V2 enums. Matched-but-unsettled states are provisional.
TRADE_STATUS = {
    "MATCHED": FillStatus.PROVISIONAL,
    "MATCHED_NOT_BROADCASTED": FillStatus.PROVISIONAL,
    "RETRYING": FillStatus.PROVISIONAL,
    "MINED": FillStatus.MINED,
    "CONFIRMED": FillStatus.CONFIRMED,
    "FAILED": FillStatus.FAILED,
}


class UnknownStatus(ValueError):
    """A status string the venue documents nowhere: the caller cannot tell the state (an alert,
    never a crash and never "not found")."""


def _plain(text: str, prefix: str) -> str:
    t = (text or "").strip().upper()
    return t[len(prefix):] if t.startswith(prefix) else t


def fill_status(text: str) -> FillStatus:
    """A trade status in any documented form (``MINED``, ``TRADE_STATUS_MINED``, lower case)."""
    try:
        return TRADE_STATUS[_plain(text, "TRADE_STATUS_")]
    except KeyError:
        raise UnknownStatus(f"unknown trade status {text!r}") from None


# Order statuses, every documented form (checked 2026-12-04):
# - GET /data/order and /data/orders (api-reference/trade/get-single-order-by-id, get-user-orders):
#   enum LIVE, INVALID, CANCELED_MARKET_RESOLVED, CANCELED, MATCHED; the examples show the V2 enum
#   spelling ``ORDER_STATUS_LIVE``.
# - POST /order answers (trading/orders/create "status"): live, matched, delayed, unmatched.
# - V2 enums seen in other V2 clients: ``ORDER_STATUS_*`` and ``UNMATCHED_<reason>``.
# UNMATCHED (and UNMATCHED_<reason>): the docs' "marketable, but failure delaying, placement
# successful", i.e. resting; treated as open so a live order is never forgotten (the engine cancels
# or re-asks). INVALID and CANCELED_MARKET_RESOLVED end the order.
_OPEN_STATUSES = frozenset({"LIVE", "OPEN", "DELAYED", "UNMATCHED", ""})
_CANCELED_STATUSES = frozenset({"CANCELED", "CANCELLED", "INVALID", "CANCELED_MARKET_RESOLVED", "EXPIRED"})


def order_status(msg: WsUserMessage, original: Decimal | None = None, matched: Decimal | None = None) -> OrderStatus:
    """Order state from an order event / open-order row. Raises :class:`UnknownStatus` (a
    ValueError) for a status no documentation names."""
    st = _plain(msg.status, "ORDER_STATUS_")
    if original is None:
        original = dec(msg.original_size, Decimal(0)) or Decimal(0)
    if matched is None:
        matched = dec(msg.size_matched, Decimal(0)) or Decimal(0)
    if st in _CANCELED_STATUSES or st.startswith("CANCELED_") or st.startswith("CANCELLED_") or msg.type == "CANCELLATION":
        return OrderStatus.CANCELED
    if st == "MATCHED" or (original > 0 and matched >= original):
        return OrderStatus.FILLED
    if st in _OPEN_STATUSES or st.startswith("UNMATCHED_"):
        return OrderStatus.PARTIALLY_FILLED if matched > 0 else OrderStatus.ACCEPTED
    raise UnknownStatus(f"unknown order status {msg.status!r}")


class OurFill(msgspec.Struct, frozen=True):
    """One of our fills inside a venue trade (for a taker: one per maker match)."""

    trade_id: str
    order_id: str
    asset_id: str
    side: Side
    price: Decimal
    quantity: Decimal
    liquidity: LiquiditySide
    status: FillStatus


def match_trade_id(trade_id: str, maker_order_id: str) -> str:
    """The id of our taker fill against one maker order: ``<trade id>:<maker order id>``. The
    user channel and REST /data/trades carry the same trade id and maker order ids, so both paths
    give the same id for the same match and a fill is never counted twice."""
    return f"{trade_id}:{maker_order_id}"


def taker_match_price(trade: WsUserMessage, mo: WsMakerOrder) -> Decimal:
    """The price of the taker's token in one match. A maker order on the taker's token trades at
    its own price; one on the complementary token (a mint of two buys, or a merge of two sells)
    at price q means the taker's token traded at ``1 - q``."""
    if not mo.price:
        raise ValueError(f"maker order {mo.order_id!r} without a price")
    q = Decimal(mo.price)
    if not Decimal(0) < q < Decimal(1):
        raise ValueError(f"maker order {mo.order_id!r} price {mo.price!r} outside (0, 1)")
    return q if mo.asset_id in ("", trade.asset_id) else Decimal(1) - q


def _taker_fills(trade: WsUserMessage, side: Side, status: FillStatus) -> list[OurFill]:
    """Our taker order's fills in a trade, at the real per-match prices.

    The top-level ``price`` of a trade is the taker order's limit price, not what it paid: a
    taker that sweeps several levels matches each maker order at that maker's price (better than
    or equal to its limit). So there is one fill per ``maker_orders`` entry, at that maker's price
    (mirrored for a complementary-token maker) for its ``matched_amount`` of shares. One fill per
    match rather than one at the average keeps every price exact (a size-weighted average of tick
    prices is often not a finite decimal) and lets the fee be computed per match, as the venue
    does. Only a trade without maker orders falls back to the top-level price and size."""
    makers = trade.maker_orders or []
    if not makers:
        return [OurFill(trade.id, trade.taker_order_id or "", trade.asset_id, side, Decimal(trade.price),
                        Decimal(trade.size or "0"), LiquiditySide.TAKER, status)]
    out: list[OurFill] = []
    for i, mo in enumerate(makers):
        qty = Decimal(mo.matched_amount)
        if qty == 0:  # a negative or NaN amount is junk: _checked_fill refuses it below
            continue
        out.append(OurFill(match_trade_id(trade.id, mo.order_id or str(i)), trade.taker_order_id or "",
                           trade.asset_id, side, taker_match_price(trade, mo), qty, LiquiditySide.TAKER, status))
    total = sum((f.quantity for f in out), Decimal(0))
    if trade.size and total != Decimal(trade.size):
        # The maker matches are what was traded; a different top-level size is reported, not guessed at.
        log.warning("trade %s: maker matches total %s but size is %s", trade.id, total, trade.size)
    return out


def our_fills(trade: WsUserMessage, owners: set[str], our_order_ids: set[str] | None = None) -> list[OurFill]:
    """Our side(s) of a trade event. ``owners`` are our API keys (and addresses, lower case);
    an order id in ``our_order_ids`` is ours too. The taker part is ours when ``trader_side``
    is TAKER (or the taker order is one of ours) and gives one fill per maker match (see
    :func:`_taker_fills`); maker parts are ours when their owner/maker address/order id is ours
    and are filled at that maker order's own price and ``matched_amount``."""
    if not trade.id:
        raise ValueError("trade without id")
    for what, text in (("price", trade.price), ("size", trade.size)):
        if text:  # junk in the trade's own numbers means the event cannot be trusted, even where unused
            v = Decimal(text)
            if not (v.is_finite() and 0 <= v <= (1 if what == "price" else _FILL_MAX_SHARES)
                    and v.scaleb(6) % 1 == 0):
                raise ValueError(f"trade {trade.id!r}: {what} {text!r} out of range")
    try:
        status = fill_status(trade.status or "MATCHED")
    except UnknownStatus:
        # A match the venue reports under a status nobody documents: still a match. Booked as
        # provisional (a later status settles it), with an alert, never dropped.
        log.error("ALERT Polymarket trade %s has an undocumented status %r: booked as provisional",
                  trade.id, trade.status)
        status = FillStatus.PROVISIONAL
    ids = our_order_ids or set()
    out: list[OurFill] = []
    taker_side = side_of(trade.side)
    taker_ours = (trade.taker_order_id in ids) or (
        trade.trader_side == "TAKER" and (trade.owner in owners or (trade.trade_owner or "") in owners or not owners)
    )
    if taker_ours and trade.taker_order_id:
        out.extend(_taker_fills(trade, taker_side, status))
    for mo in trade.maker_orders or ():
        if mo.order_id in ids or mo.owner in owners or mo.maker_address.lower() in owners:
            if mo.side:
                mside = side_of(mo.side)
            else:  # same token: the other side of the taker; complementary token: same side (mint/merge)
                mside = taker_side.opposite if mo.asset_id in ("", trade.asset_id) else taker_side
            out.append(OurFill(trade.id, mo.order_id, mo.asset_id or trade.asset_id, mside,
                               Decimal(mo.price or trade.price), Decimal(mo.matched_amount), LiquiditySide.MAKER,
                               status))
    return [_checked_fill(f) for f in out]


_FILL_MAX_SHARES = Decimal(10) ** 12  # more than all collateral in existence at any price: junk


def _checked_fill(f: OurFill) -> OurFill:
    """A fill whose price is in (0, 1) and whose quantity is positive, bounded and exact in
    micro-shares; anything else (NaN, Infinity, negative, 1e400, 1e-400) raises ValueError."""
    p, q = f.price, f.quantity
    if not (p.is_finite() and q.is_finite() and 0 < p < 1 and 0 < q <= _FILL_MAX_SHARES
            and p.as_tuple().exponent >= -8 and q.scaleb(6) == q.scaleb(6).to_integral_value()):
        raise ValueError(f"trade {f.trade_id!r}: fill price {p} quantity {q} out of range")
    return f


def orderbook_hash(book: dict) -> str:
    """The venue's order-book summary hash: SHA-1 of the compact JSON of ``market, asset_id,
    timestamp, hash (""), bids, asks, min_order_size, tick_size, neg_risk, last_trade_price`` in
    that key order (as py-clob-client-v2 computes it)."""
    payload = {
        "market": book.get("market"),
        "asset_id": book.get("asset_id"),
        "timestamp": book.get("timestamp"),
        "hash": "",
        "bids": [{"price": o["price"], "size": o["size"]} for o in (book.get("bids") or [])],
        "asks": [{"price": o["price"], "size": o["size"]} for o in (book.get("asks") or [])],
        "min_order_size": book.get("min_order_size"),
        "tick_size": book.get("tick_size"),
        "neg_risk": book.get("neg_risk"),
        "last_trade_price": book.get("last_trade_price"),
    }
    return hashlib.sha1(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def new_market_event(msg: WsMarketMessage, recv_ns: int) -> "MarketListed":
    """``new_market`` (market channel, with ``custom_feature_enabled``) as a core
    :class:`MarketListed` (docs.polymarket.com/market-data/websocket/overview: "new_market — new
    market created", a custom feature; fields as NautilusTrader's ``PolymarketNewMarket``: ``market``
    / ``condition_id``, ``assets_ids`` (= ``clob_token_ids``), ``outcomes`` index-aligned, ``question``,
    ``slug``, ``order_price_min_tick_size``, ``event_message {id, ticker, slug, title}``). YES is the
    asset whose outcome is "Yes" (else the first). Raises ValueError without a market or two assets."""
    from arbkit.core.events import MarketListed

    cid = msg.market or msg.condition_id or ""
    assets = [a for a in (msg.assets_ids or msg.clob_token_ids or []) if a]
    if not cid or len(assets) != 2:
        raise ValueError(f"new_market without a market or two assets ({cid!r}, {len(assets)} assets)")
    labels = [str(o).lower() for o in (msg.outcomes or [])]
    if len(labels) == 2 and labels[1] == "yes":
        assets.reverse()
    ev = msg.event_message or {}
    return MarketListed(venue=Venue.POLYMARKET, market_id=cid, instrument_ids=["polymarket:" + a for a in assets],
                        title=msg.question or "", event_id=str(ev.get("id") or ev.get("slug") or ""),
                        series=str(ev.get("ticker") or ev.get("slug") or msg.slug or ""), stage="new_market",
                        tick_size=msg.order_price_min_tick_size or "", ts_venue=to_ns(msg.timestamp), ts_recv=recv_ns,
                        correlation_id=f"listing:{cid}")


def market_resolved_event(msg: WsMarketMessage, recv_ns: int) -> "MarketResolved":
    """``market_resolved`` (market channel, with ``custom_feature_enabled``) as a core
    :class:`MarketResolved`: ``{event_type, id, market, assets_ids, winning_asset_id,
    winning_outcome, timestamp, tags}`` (docs.polymarket.com/market-data/websocket/market-channel;
    a real capture: ../shared/fixtures/polymarket/nautilus_trader/crates_test_data/ws_market_resolved_msg.json).
    The winner pays 1 per share, every other asset of the market 0. Raises ValueError when the
    message names no winner among its assets."""
    from arbkit.core.events import MarketResolved

    assets = [a for a in (msg.assets_ids or []) if a]
    win = msg.winning_asset_id or ""
    if not msg.market or not assets:
        raise ValueError("market_resolved without market or assets_ids")
    if win not in assets:
        raise ValueError(f"market_resolved: winning_asset_id {win!r} is not one of the market's assets")
    prefix = "polymarket:"
    one, zero = Decimal(1), Decimal(0)
    return MarketResolved(venue=Venue.POLYMARKET, market_id=msg.market, instrument_ids=[prefix + a for a in assets],
                          winning_instrument_id=prefix + win, winning_outcome=msg.winning_outcome or "",
                          payouts={prefix + a: (one if a == win else zero) for a in assets}, stage="resolved",
                          ts_venue=to_ns(msg.timestamp), ts_recv=recv_ns, correlation_id=f"resolution:{msg.market}")
