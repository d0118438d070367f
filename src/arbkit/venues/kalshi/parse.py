"""Kalshi wire -> arbkit types, for both schemas.

Kalshi removed the legacy integer fields (prices in cents, integer counts) on 2026-03-12; the
current schema has only ``*_dollars`` price strings (up to 4 decimals) and ``*_fp`` count strings
(2 decimals). Recorded payloads from before carry both. Every Struct here accepts either shape:
the fixed-point field wins, the legacy integer is the fallback, and when both are present they
must agree to within the legacy unit (the integer is a whole-cent / whole-contract view of a finer
value; anything further apart is a message contradicting itself: malformed, not guessed about).

Direction (docs.kalshi.com "Order direction (outcome_side and book_side)", checked 2026-12-04):
orders and fills carry ``outcome_side`` (yes|no: the outcome the user is now long) and ``book_side``
(bid|ask; bid = yes, ask = no, always); public trades carry ``taker_outcome_side`` /
``taker_book_side``. The legacy ``side``/``action`` (and WS ``purchased_side``, ``is_yes``, trades'
``taker_side``) are deprecated and optional here: when present they must agree with the new
fields. buy-yes and sell-no both give ``outcome_side=yes``; buy-no and sell-yes give ``no``, so
the new fields do not say which of the two an order was: the gateway knows (it built the order)
and passes that intent in; without it a fill/order is read as a BUY of its outcome (the same
exposure, since Kalshi nets YES against NO in one position). Prices: ``yes_price_dollars`` is the
YES-book price; the NO price is $1 minus it.

Inside, prices are integer units of $0.0001 (``PRICE_ONE_UNITS`` = $1) and counts integer lots of
0.01 contract; Decimal only at the boundary. Nothing goes through float.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from typing import Any

import msgspec

from arbkit.core.enums import FillStatus, LiquiditySide, OrderStatus, Side, Venue
from arbkit.core.events import OrderFilled
from arbkit.core.numbers import parse_units
from arbkit.core.book import MAX_LOTS
from arbkit.core.orders import OrderState
from arbkit.venues.common.malformed import MALFORMED_MESSAGES, SAMPLE_CHARS  # noqa: F401 - re-exported
from arbkit.venues.common.malformed import MalformedTracker as _MalformedTracker
from arbkit.venues.kalshi import constants as C

VENUE = Venue.KALSHI
PREFIX = "kalshi:"


class MalformedTracker(_MalformedTracker):
    """Malformed messages of one Kalshi source (``market``, ``user``); see common.malformed."""

    __slots__ = ()

    def __init__(self, source: str) -> None:
        super().__init__(source, VENUE)


# --- numbers ----------------------------------------------------------------------------------


_price_cache: dict[str, int] = {}
_count_cache: dict[str, int] = {}
_CACHE_MAX = 100_000


def price_units(text: str) -> int:
    """A ``*_dollars`` price string -> $0.0001 units, exact (``"0.4200"`` -> 4200)."""
    v = _price_cache.get(text)
    if v is not None:
        return v
    v = parse_units(text, C.PRICE_DIGITS)
    if not 0 <= v <= C.PRICE_ONE_UNITS:
        raise ValueError(f"price {text!r} outside [0, 1]")
    if len(_price_cache) < _CACHE_MAX:  # prices repeat: at most 10,001 of them are valid
        _price_cache[text] = v
    return v


def count_lots(text: str, signed: bool = False) -> int:
    """A ``*_fp`` count string -> 0.01-contract lots (``"13.00"`` -> 1300)."""
    v = _count_cache.get(text)
    if v is None:
        v = parse_units(text, C.COUNT_DIGITS)
        if not -MAX_LOTS <= v <= MAX_LOTS:  # beyond what any book or position can hold: junk
            raise ValueError(f"count {text!r} out of range")
        if len(_count_cache) >= _CACHE_MAX:
            _count_cache.clear()
        _count_cache[text] = v
    if v < 0 and not signed:
        raise ValueError(f"negative count {text!r}")
    return v


_MAX_MONEY = Decimal(10) ** 15  # dollars: more than any account or fee; beyond it a number is junk


def money(text: str) -> Decimal:
    """A ``*_dollars`` / ``fee_cost`` money string -> Decimal (up to 6 decimals in fee maths)."""
    d = Decimal(text.strip())
    if not d.is_finite() or abs(d) > _MAX_MONEY:
        raise ValueError(f"not a finite amount: {text!r}")
    return d


def units_to_price(units: int) -> Decimal:
    return Decimal(f"{units}e-{C.PRICE_DIGITS}")


def lots_to_count(lots: int) -> Decimal:
    return Decimal(f"{lots}e-{C.COUNT_DIGITS}")


def fmt_price(price: Decimal) -> str:
    """Decimal dollars -> the 4-decimal wire string (refuses anything finer)."""
    units = price_units(format(price, "f"))
    return f"{units // C.PRICE_ONE_UNITS}.{units % C.PRICE_ONE_UNITS:04d}"


def fmt_count(count: Decimal) -> str:
    lots = count_lots(format(count, "f"))
    return f"{lots // C.LOTS_PER_CONTRACT}.{lots % C.LOTS_PER_CONTRACT:02d}"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def pick_price(dollars: str | None, cents: int | None, what: str, fixed: str | None = None) -> int | None:
    """$0.0001 units from the fixed-point field, else the legacy integer cents; both must agree."""
    units = None
    for text in (dollars, fixed):
        if text is not None and text != "":
            u = price_units(text)
            if units is not None and u != units:
                raise ValueError(f"{what}: fixed-point fields disagree ({dollars!r} vs {fixed!r})")
            units = u
    if cents is not None:
        if not _is_int(cents):
            raise ValueError(f"{what}: legacy cents must be an integer, got {cents!r}")
        u = cents * 100
        if units is None:
            units = u
        elif abs(u - units) >= 100:  # the legacy integer is a whole-cent view of a finer price
            raise ValueError(f"{what}: {dollars or fixed!r} and legacy {cents} cents disagree")
    return units


def pick_count(fp: str | None, legacy: int | None, what: str, signed: bool = False) -> int | None:
    """0.01 lots from the ``_fp`` field, else the legacy integer count; both must agree."""
    lots = count_lots(fp, signed) if fp is not None and fp != "" else None
    if legacy is not None:
        if not _is_int(legacy):
            raise ValueError(f"{what}: legacy count must be an integer, got {legacy!r}")
        u = legacy * C.LOTS_PER_CONTRACT
        if not -MAX_LOTS <= u <= MAX_LOTS:
            raise ValueError(f"{what}: legacy count {legacy} out of range")
        if lots is None:
            lots = u
        elif abs(u - lots) >= C.LOTS_PER_CONTRACT:  # the legacy integer is a whole-contract view
            raise ValueError(f"{what}: {fp!r} and legacy {legacy} disagree")
    return lots


def pick_money(dollars: str | None, cents: int | None, what: str) -> Decimal | None:
    if dollars is not None and dollars != "":
        d = money(dollars)
        # The legacy integer is a whole-cent view (balances are floored to the cent) of the exact amount.
        if cents is not None and _is_int(cents) and abs(Decimal(cents) - d * 100) >= 1:
            raise ValueError(f"{what}: {dollars!r} and legacy {cents} cents disagree")
        return d
    if cents is not None:
        if not _is_int(cents) or abs(cents) > _MAX_MONEY * 100:
            raise ValueError(f"{what}: legacy cents must be an integer in range, got {cents!r}")
        return Decimal(cents) / 100
    return None


_UTC = _dt.timezone.utc
_second_cache: dict[str, int] = {}


def parse_time_ns(value: str | int | None) -> int:
    """RFC3339 text or unix seconds -> ns since the epoch (0 when absent)."""
    if value.__class__ is not str:
        if value is None:
            return 0
        if _is_int(value):
            return int(value) * 1_000_000_000  # type: ignore[arg-type]
        raise ValueError(f"not a timestamp: {value!r}")
    text: str = value  # type: ignore[assignment]
    if not text:
        return 0
    # Fast path for Kalshi's own form "YYYY-MM-DDTHH:MM:SS[.fffffffff]Z" (every delta carries one):
    # the whole-second part repeats, so it is converted once.
    if len(text) >= 20 and text[10] == "T" and text[-1] == "Z" and text[19] in ".Z":
        head = text[:19]
        secs = _second_cache.get(head)
        if secs is None:
            secs = int(_dt.datetime.fromisoformat(head).replace(tzinfo=_UTC).timestamp())
            if len(_second_cache) > 4096:
                _second_cache.clear()
            _second_cache[head] = secs
        frac = text[20:-1]
        if text[19] == "Z":
            return secs * 1_000_000_000
        if frac.isdigit() and len(frac) <= 9:
            return secs * 1_000_000_000 + int(frac.ljust(9, "0"))
    frac_ns = 0
    # Keep every fractional digit (fromisoformat stops at microseconds).
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        frac_ns = int((digits + "000000000")[:9]) if digits else 0
        text = head + rest[i:]
    dt = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + frac_ns


# --- WebSocket --------------------------------------------------------------------------------

LevelWire = list[str | int]


class WsBody(msgspec.Struct, kw_only=True):
    """The union of every Kalshi WS ``msg`` body we read (unknown fields are ignored)."""

    market_ticker: str | None = None
    market_id: str | None = None
    # orderbook_snapshot: current [[price_dollars, count_fp]]; legacy [[cents, count]] / [[dollars, count]]
    yes_dollars_fp: list[LevelWire] | None = None
    no_dollars_fp: list[LevelWire] | None = None
    yes_dollars: list[LevelWire] | None = None
    no_dollars: list[LevelWire] | None = None
    yes: list[LevelWire] | None = None
    no: list[LevelWire] | None = None
    # orderbook_delta
    price_dollars: str | None = None
    delta_fp: str | None = None
    price: int | None = None  # legacy cents (delta and ticker)
    delta: int | None = None  # legacy integer delta
    side: str | None = None
    client_order_id: str | None = None
    ts: int | str | None = None
    ts_ms: int | None = None
    # trade / fill / user_order
    trade_id: str | None = None
    order_id: str | None = None
    yes_price_dollars: str | None = None
    no_price_dollars: str | None = None
    yes_price_fixed: str | None = None
    yes_price: int | None = None
    no_price: int | None = None
    count_fp: str | None = None
    count: int | None = None
    taker_side: str | None = None  # deprecated (trades): taker_outcome_side / taker_book_side
    taker_outcome_side: str | None = None
    taker_book_side: str | None = None
    outcome_side: str | None = None
    book_side: str | None = None
    is_yes: bool | None = None  # deprecated (user_order)
    no_price_fixed: str | None = None
    is_taker: bool | None = None
    action: str | None = None
    fee_cost: str | None = None
    post_position_fp: str | None = None
    purchased_side: str | None = None
    ticker: str | None = None
    status: str | None = None
    fill_count_fp: str | None = None
    remaining_count_fp: str | None = None
    initial_count_fp: str | None = None
    fill_count: int | None = None
    remaining_count: int | None = None
    initial_count: int | None = None
    created_time: str | None = None
    last_update_time: str | None = None
    # ticker
    yes_bid_dollars: str | None = None
    yes_ask_dollars: str | None = None
    # market_lifecycle_v2: market_lifecycle_v2 (event_type) and event_fee_update
    event_type: str | None = None
    event_ticker: str | None = None
    fee_type_override: str | None = None
    fee_multiplier_override: Decimal | None = None
    # market_lifecycle_v2 created (open_ts, close_ts, additional_metadata) / activated (is_deactivated)
    open_ts: int | None = None
    close_ts: int | None = None
    additional_metadata: dict[str, Any] | None = None
    is_deactivated: bool | None = None
    # market_lifecycle_v2 determined / settled
    result: str | None = None
    settlement_value: str | None = None
    determination_ts: int | None = None
    settled_ts: int | None = None
    # control: subscribed / error
    channel: str | None = None
    sid: int | None = None
    code: int | None = None
    msg: str | None = None


class WsFrame(msgspec.Struct, kw_only=True):
    type: str = ""
    id: int | None = None
    sid: int | None = None
    seq: int | None = None
    msg: WsBody | None = None
    market_tickers: list[str] | None = None


_ws_decoder = msgspec.json.Decoder(WsFrame)


def decode_ws(raw: bytes | str) -> WsFrame:
    """One WS frame (Kalshi sends one JSON object per frame). Raises msgspec errors on junk."""
    return _ws_decoder.decode(raw)


def body_ticker(body: WsBody) -> str:
    t = body.market_ticker or body.ticker
    if not t:
        raise ValueError("message without market_ticker")
    return t


def body_ts_ns(body: WsBody) -> int:
    if body.ts_ms is not None:
        return body.ts_ms * 1_000_000
    return parse_time_ns(body.ts)


def _levels(rows: list[LevelWire] | None, legacy_cents: bool, what: str, int_counts: bool = True) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for row in rows or ():
        if len(row) != 2:
            raise ValueError(f"{what}: level {row!r} is not [price, count]")
        p, q = row
        if isinstance(p, str):
            pu = price_units(p)
        elif _is_int(p) and legacy_cents:
            pu = p * 100
        else:
            raise ValueError(f"{what}: bad price {p!r}")
        if isinstance(q, str):
            lots = count_lots(q)
        elif _is_int(q) and int_counts:  # legacy whole contracts; a *_fp level's count is a string
            if not 0 <= q <= MAX_LOTS // C.LOTS_PER_CONTRACT:
                raise ValueError(f"{what}: count {q} out of range")
            lots = q * C.LOTS_PER_CONTRACT
        else:
            raise ValueError(f"{what}: bad count {q!r}")
        if not 0 <= pu <= C.PRICE_ONE_UNITS:
            raise ValueError(f"{what}: price {p!r} outside [0, 1]")
        out.append((pu, lots))
    return out


def snapshot_levels(body: WsBody | "OrderbookSide") -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(yes bids, no bids) as ($0.0001 units, lots) from any snapshot shape."""
    sides = []
    for fp, dollars, cents, name in (
        (body.yes_dollars_fp, body.yes_dollars, body.yes, "yes"),
        (body.no_dollars_fp, body.no_dollars, body.no, "no"),
    ):
        if fp is not None:
            sides.append(_levels(fp, False, name, int_counts=False))
        elif dollars is not None:
            sides.append(_levels(dollars, False, name))
        else:
            sides.append(_levels(cents, True, name))
    return sides[0], sides[1]


def delta_of(body: WsBody) -> tuple[bool, int, int]:
    """(is_yes, price units, signed lot change) of an orderbook_delta."""
    side = body.side
    if side == "yes":
        is_yes = True
    elif side == "no":
        is_yes = False
    else:
        raise ValueError(f"orderbook_delta side must be yes/no, got {side!r}")
    pu = pick_price(body.price_dollars, body.price, "orderbook_delta price")
    lots = pick_count(body.delta_fp, body.delta, "orderbook_delta delta", signed=True)
    if pu is None or lots is None:
        raise ValueError("orderbook_delta without price or delta")
    return is_yes, pu, lots


# --- fills ------------------------------------------------------------------------------------


_LEGACY_OUTCOME = {("yes", "buy"): "yes", ("no", "sell"): "yes", ("no", "buy"): "no", ("yes", "sell"): "no"}
BOOK_OF_OUTCOME = {"yes": "bid", "no": "ask"}
OUTCOME_OF_BOOK = {"bid": "yes", "ask": "no"}


def legacy_outcome(side: str, action: str) -> str:
    """The ``outcome_side`` of a legacy (side, action) pair: buy-yes/sell-no -> yes; buy-no/sell-yes -> no."""
    try:
        return _LEGACY_OUTCOME[(side, action)]
    except KeyError:
        raise ValueError(f"side/action must be yes|no / buy|sell, got {side!r}/{action!r}") from None


def outcome_of(outcome_side: str | None, book_side: str | None, side: str | None = None, action: str | None = None,
               what: str = "order") -> str:
    """The outcome (yes|no) a message positions its owner for: ``outcome_side``, else ``book_side``,
    else the deprecated ``side``/``action``. Fields that are present must agree."""
    out: str | None = None
    if outcome_side is not None:
        if outcome_side not in ("yes", "no"):
            raise ValueError(f"{what}: outcome_side must be yes/no, got {outcome_side!r}")
        out = outcome_side
    if book_side is not None:
        b = OUTCOME_OF_BOOK.get(book_side)
        if b is None:
            raise ValueError(f"{what}: book_side must be bid/ask, got {book_side!r}")
        if out is not None and b != out:
            raise ValueError(f"{what}: outcome_side {outcome_side!r} and book_side {book_side!r} disagree")
        out = b
    if side is not None or action is not None:
        if side is not None and action is not None:
            legacy = legacy_outcome(side, action)
            if out is not None and legacy != out:
                raise ValueError(f"{what}: deprecated side/action {side}/{action} contradict outcome {out!r}")
            out = out or legacy
        elif out is None:
            raise ValueError(f"{what}: only one of the deprecated side/action and no outcome_side/book_side")
    if out is None:
        raise ValueError(f"{what}: no direction (outcome_side / book_side)")
    return out


def default_intent(outcome: str, side: str | None, action: str | None) -> tuple[str, str]:
    """(side, action) to book a message under when the gateway does not know the order: the
    deprecated pair when the venue still sends it, else a BUY of the outcome."""
    if side in ("yes", "no") and action in ("buy", "sell"):
        return side, action  # type: ignore[return-value]
    return outcome, "buy"


def check_intent(outcome: str, side: str, action: str, what: str) -> tuple[str, str]:
    """Validate that our (side, action) intent is consistent with the venue's outcome."""
    if legacy_outcome(side, action) != outcome:
        raise ValueError(f"{what}: the venue reports outcome_side={outcome!r}, which a {action} of {side} "
                         f"cannot produce")
    return side, action


class ParsedFill(msgspec.Struct, frozen=True, kw_only=True):
    """One of our fills, venue-neutral (from the WS ``fill`` channel or REST /portfolio/fills).

    ``side``/``action`` are the instrument and direction the fill is booked under: our own intent
    when the gateway supplied it (:meth:`with_intent`), else :func:`default_intent`."""

    trade_id: str
    order_id: str
    ticker: str
    side: str  # yes | no: which contract the fill is booked on
    action: str  # buy | sell
    yes_price_units: int
    count_lots: int
    is_taker: bool
    fee: Decimal | None
    ts_ns: int
    client_order_id: str = ""
    outcome_side: str = ""  # what the venue said (yes|no)

    @property
    def instrument_id(self) -> str:
        return f"{PREFIX}{self.ticker}:{self.side}"

    @property
    def price(self) -> Decimal:
        """The fill price in the booked contract's terms."""
        u = self.yes_price_units if self.side == "yes" else C.PRICE_ONE_UNITS - self.yes_price_units
        return units_to_price(u)

    @property
    def quantity(self) -> Decimal:
        return lots_to_count(self.count_lots)

    def with_intent(self, side: str, action: str) -> "ParsedFill":
        """This fill booked as our order's (side, action); ValueError when the venue's outcome
        contradicts it (a fill that cannot be ours as we sent it)."""
        if self.outcome_side:
            check_intent(self.outcome_side, side, action, f"fill {self.trade_id}")
        return msgspec.structs.replace(self, side=side, action=action)

    def to_event(self, client_order_id: str = "", ts_recv: int = 0, correlation_id: str = "") -> OrderFilled:
        return OrderFilled(
            venue=VENUE, instrument_id=self.instrument_id, client_order_id=client_order_id or self.client_order_id,
            venue_order_id=self.order_id, trade_id=self.trade_id,
            side=Side.BUY if self.action == "buy" else Side.SELL, price=self.price, quantity=self.quantity,
            fee=self.fee if self.fee is not None else Decimal(0), fee_currency="USD",
            liquidity=LiquiditySide.TAKER if self.is_taker else LiquiditySide.MAKER,
            status=FillStatus.CONFIRMED, ts_venue=self.ts_ns, ts_recv=ts_recv, correlation_id=correlation_id)


def trade_taker_outcome(body: Any) -> str | None:
    """The taker's outcome of a public trade: ``taker_outcome_side``, else ``taker_book_side``,
    else the deprecated ``taker_side``; None when none is given. Present fields must agree."""
    vals = []
    t = getattr(body, "taker_outcome_side", None)
    if t is not None:
        if t not in ("yes", "no"):
            raise ValueError(f"trade taker_outcome_side {t!r}")
        vals.append(t)
    b = getattr(body, "taker_book_side", None)
    if b is not None:
        if b not in OUTCOME_OF_BOOK:
            raise ValueError(f"trade taker_book_side {b!r}")
        vals.append(OUTCOME_OF_BOOK[b])
    legacy = getattr(body, "taker_side", None)
    if legacy is not None:
        if legacy not in ("yes", "no"):
            raise ValueError(f"trade taker_side {legacy!r}")
        vals.append(legacy)
    if len(set(vals)) > 1:
        raise ValueError(f"trade taker sides disagree: {vals}")
    return vals[0] if vals else None


def _yes_units(yes_d: str | None, yes_c: int | None, yes_fixed: str | None, no_d: str | None, no_c: int | None,
               what: str, no_fixed: str | None = None) -> int:
    yes = pick_price(yes_d, yes_c, f"{what} yes price", yes_fixed)
    no = pick_price(no_d, no_c, f"{what} no price", no_fixed)
    if yes is None and no is None:
        raise ValueError(f"{what} without a price")
    if yes is not None and no is not None and yes + no != C.PRICE_ONE_UNITS:
        raise ValueError(f"{what}: yes and no prices do not add up to $1")
    return yes if yes is not None else C.PRICE_ONE_UNITS - no  # type: ignore[operator]


def fill_from_ws(body: WsBody) -> ParsedFill:
    outcome = outcome_of(body.outcome_side, body.book_side, body.side, body.action, "fill")
    if body.purchased_side is not None and body.purchased_side != outcome:
        raise ValueError(f"fill: deprecated purchased_side {body.purchased_side!r} contradicts outcome {outcome!r}")
    side, action = default_intent(outcome, body.side, body.action)
    if not body.trade_id or not body.order_id:
        raise ValueError("fill without trade_id/order_id")
    lots = pick_count(body.count_fp, body.count, "fill count")
    if lots is None or lots <= 0:
        raise ValueError("fill without a positive count")
    return ParsedFill(
        trade_id=body.trade_id, order_id=body.order_id, ticker=body_ticker(body), side=side, action=action,
        yes_price_units=_yes_units(body.yes_price_dollars, body.yes_price, body.yes_price_fixed, body.no_price_dollars,
                                   body.no_price, "fill", body.no_price_fixed),
        count_lots=lots, is_taker=bool(body.is_taker), fee=money(body.fee_cost) if body.fee_cost else None,
        ts_ns=body_ts_ns(body), client_order_id=body.client_order_id or "", outcome_side=outcome)


# --- REST -------------------------------------------------------------------------------------


class ErrorBody(msgspec.Struct, kw_only=True):
    code: str = ""
    message: str = ""
    details: str = ""


class ErrorEnvelope(msgspec.Struct, kw_only=True):
    """Either shape: ``{"error": {code, message, details}}`` or the flat ``ErrorResponse``
    ``{code, message, details}`` of the V2 routes (official SDK 3.34.0 models/error_response.py)."""

    error: ErrorBody | str | None = None
    code: str | None = None
    message: str | None = None
    details: str | None = None


class PriceRangeWire(msgspec.Struct, kw_only=True):
    start: str
    end: str
    step: str


class MarketWire(msgspec.Struct, kw_only=True):
    ticker: str
    event_ticker: str = ""
    market_type: str = "binary"
    title: str = ""
    subtitle: str = ""
    yes_sub_title: str = ""
    no_sub_title: str = ""
    status: str = ""
    open_time: str | None = None
    close_time: str | None = None
    expiration_time: str | None = None
    latest_expiration_time: str | None = None
    rules_primary: str = ""
    rules_secondary: str = ""
    price_level_structure: str | None = None
    price_ranges: list[PriceRangeWire] | None = None
    fractional_trading_enabled: bool | None = None
    tick_size: int | None = None  # legacy: cents
    can_close_early: bool | None = None
    result: str = ""
    yes_bid_dollars: str | None = None
    yes_ask_dollars: str | None = None
    no_bid_dollars: str | None = None
    no_ask_dollars: str | None = None
    last_price_dollars: str | None = None
    yes_bid: int | None = None
    yes_ask: int | None = None
    no_bid: int | None = None
    no_ask: int | None = None
    last_price: int | None = None
    volume_fp: str | None = None
    volume: int | None = None
    open_interest_fp: str | None = None
    open_interest: int | None = None
    notional_value_dollars: str | None = None
    notional_value: int | None = None

    def quotes(self) -> dict[str, int | None]:
        """Top-of-book summary fields in $0.0001 units (both schemas, checked for agreement)."""
        return {
            "yes_bid": pick_price(self.yes_bid_dollars, self.yes_bid, "yes_bid"),
            "yes_ask": pick_price(self.yes_ask_dollars, self.yes_ask, "yes_ask"),
            "no_bid": pick_price(self.no_bid_dollars, self.no_bid, "no_bid"),
            "no_ask": pick_price(self.no_ask_dollars, self.no_ask, "no_ask"),
            "last_price": pick_price(self.last_price_dollars, self.last_price, "last_price"),
        }

    def volume_lots(self) -> int | None:
        return pick_count(self.volume_fp, self.volume, "volume")

    def open_interest_lots(self) -> int | None:
        return pick_count(self.open_interest_fp, self.open_interest, "open_interest")


class MarketEnvelope(msgspec.Struct, kw_only=True):
    market: MarketWire


class MarketsPage(msgspec.Struct, kw_only=True):
    markets: list[MarketWire] = []
    cursor: str | None = ""


class SettlementSourceWire(msgspec.Struct, kw_only=True):
    name: str = ""
    url: str = ""


class SeriesWire(msgspec.Struct, kw_only=True):
    ticker: str
    title: str = ""
    category: str = ""
    frequency: str = ""
    fee_type: str = "quadratic"
    fee_multiplier: Decimal = Decimal(1)  # JSON number or string; decoded without float
    settlement_sources: list[SettlementSourceWire] | None = None
    tags: list[str] | None = None
    contract_url: str = ""
    contract_terms_url: str = ""


class SeriesEnvelope(msgspec.Struct, kw_only=True):
    series: SeriesWire


class SeriesList(msgspec.Struct, kw_only=True):
    series: list[SeriesWire] | None = None


class EventWire(msgspec.Struct, kw_only=True):
    event_ticker: str
    series_ticker: str = ""
    title: str = ""
    sub_title: str = ""
    category: str = ""
    mutually_exclusive: bool = False
    # Event-level fee overrides (official SDK 3.34.0 models/event_data.py): when present they take
    # precedence over the series' fee_type / fee_multiplier for this event's markets.
    fee_type_override: str | None = None
    fee_multiplier_override: Decimal | None = None


class EventEnvelope(msgspec.Struct, kw_only=True):
    event: EventWire
    markets: list[MarketWire] | None = None


class EventsPage(msgspec.Struct, kw_only=True):
    events: list[EventWire] = []
    cursor: str | None = ""


class OrderbookSide(msgspec.Struct, kw_only=True):
    yes_dollars_fp: list[LevelWire] | None = None
    no_dollars_fp: list[LevelWire] | None = None
    yes_dollars: list[LevelWire] | None = None
    no_dollars: list[LevelWire] | None = None
    yes: list[LevelWire] | None = None
    no: list[LevelWire] | None = None


class OrderbookEnvelope(msgspec.Struct, kw_only=True):
    orderbook_fp: OrderbookSide | None = None
    orderbook: OrderbookSide | None = None

    def levels(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        if self.orderbook_fp is not None:
            # current shape: orderbook_fp.{yes_dollars,no_dollars} are [[price_dollars, count_fp]]
            return snapshot_levels(self.orderbook_fp)
        if self.orderbook is not None:
            return snapshot_levels(self.orderbook)
        raise ValueError("orderbook response without orderbook_fp / orderbook")


class OrderWire(msgspec.Struct, kw_only=True):
    order_id: str
    ticker: str
    status: str
    outcome_side: str | None = None
    book_side: str | None = None
    side: str | None = None  # deprecated
    action: str | None = None  # deprecated
    client_order_id: str | None = None
    type: str | None = None
    yes_price_dollars: str | None = None
    no_price_dollars: str | None = None
    yes_price: int | None = None
    no_price: int | None = None
    fill_count_fp: str | None = None
    remaining_count_fp: str | None = None
    initial_count_fp: str | None = None
    fill_count: int | None = None
    remaining_count: int | None = None
    initial_count: int | None = None
    created_time: str | None = None
    last_update_time: str | None = None
    expiration_time: str | None = None
    taker_fees_dollars: str | None = None
    maker_fees_dollars: str | None = None
    taker_fees: int | None = None
    maker_fees: int | None = None
    taker_fill_cost_dollars: str | None = None
    maker_fill_cost_dollars: str | None = None
    time_in_force: str | None = None

    def counts(self) -> tuple[int, int, int]:
        """(initial, filled, remaining) lots, both schemas."""
        filled = pick_count(self.fill_count_fp, self.fill_count, "fill_count") or 0
        remaining = pick_count(self.remaining_count_fp, self.remaining_count, "remaining_count") or 0
        initial = pick_count(self.initial_count_fp, self.initial_count, "initial_count")
        if initial is None:
            initial = filled + remaining
        return initial, filled, remaining

    def yes_units(self) -> int:
        return _yes_units(self.yes_price_dollars, self.yes_price, None, self.no_price_dollars, self.no_price, "order")

    def outcome(self) -> str:
        return outcome_of(self.outcome_side, self.book_side, self.side, self.action, f"order {self.order_id}")

    def intent(self, known: tuple[str, str] | None = None) -> tuple[str, str]:
        """(side, action) to report this order under: ``known`` (what we sent) checked against the
        venue's outcome, else :func:`default_intent`."""
        out = self.outcome()
        if known is not None:
            return check_intent(out, known[0], known[1], f"order {self.order_id}")
        return default_intent(out, self.side, self.action)

    def fees(self) -> Decimal:
        t = pick_money(self.taker_fees_dollars, self.taker_fees, "taker_fees") or Decimal(0)
        m = pick_money(self.maker_fees_dollars, self.maker_fees, "maker_fees") or Decimal(0)
        return t + m


def order_status(wire: OrderWire, filled_lots: int) -> OrderStatus:
    s = wire.status
    if s == "resting":
        return OrderStatus.PARTIALLY_FILLED if filled_lots > 0 else OrderStatus.ACCEPTED
    if s == "executed":
        return OrderStatus.FILLED
    if s == "canceled":
        return OrderStatus.CANCELED
    if s == "pending":
        return OrderStatus.PENDING
    raise ValueError(f"unknown Kalshi order status {s!r}")


def order_state(wire: OrderWire, intent: tuple[str, str] | None = None) -> OrderState:
    """The venue's view of one order as a core OrderState (instrument ``kalshi:T:<side>``);
    ``intent`` is our (side, action) when we know the order (see :meth:`OrderWire.intent`)."""
    from arbkit.core.enums import TimeInForce

    side, action = wire.intent(intent)
    initial, filled, _ = wire.counts()
    yes = wire.yes_units()
    own = yes if side == "yes" else C.PRICE_ONE_UNITS - yes
    tif = C.TIME_IN_FORCE_FROM_WIRE.get(wire.time_in_force or "", "GTC")
    return OrderState(
        venue=VENUE, instrument_id=f"{PREFIX}{wire.ticker}:{side}", client_order_id=wire.client_order_id or "",
        venue_order_id=wire.order_id, side=Side.BUY if action == "buy" else Side.SELL, price=units_to_price(own),
        quantity=lots_to_count(initial), filled_quantity=lots_to_count(filled), status=order_status(wire, filled),
        time_in_force=TimeInForce(tif), ts_created=parse_time_ns(wire.created_time))


class OrderEnvelope(msgspec.Struct, kw_only=True):
    order: OrderWire


class AmendEnvelope(msgspec.Struct, kw_only=True):
    order: OrderWire
    old_order: OrderWire | None = None


class OrdersPage(msgspec.Struct, kw_only=True):
    orders: list[OrderWire] = []
    cursor: str | None = ""


class CancelEnvelope(msgspec.Struct, kw_only=True):
    order: OrderWire
    reduced_by_fp: str | None = None
    reduced_by: int | None = None

    def reduced_lots(self) -> int:
        return pick_count(self.reduced_by_fp, self.reduced_by, "reduced_by") or 0


class BatchCreateItem(msgspec.Struct, kw_only=True):
    order: OrderWire | None = None
    error: ErrorBody | None = None
    client_order_id: str | None = None


class BatchCreateEnvelope(msgspec.Struct, kw_only=True):
    orders: list[BatchCreateItem]


class BatchCancelItem(msgspec.Struct, kw_only=True):
    order_id: str = ""
    order: OrderWire | None = None
    error: ErrorBody | None = None
    reduced_by_fp: str | None = None
    reduced_by: int | None = None


class BatchCancelEnvelope(msgspec.Struct, kw_only=True):
    orders: list[BatchCancelItem]


class CreateOrderV2Response(msgspec.Struct, kw_only=True):
    """POST /portfolio/events/orders answer (flat; official SDK 3.34.0 create_order_v2_response.py)."""

    order_id: str
    fill_count: str
    remaining_count: str
    ts_ms: int
    client_order_id: str | None = None
    average_fill_price: str | None = None
    average_fee_paid: str | None = None

    def filled_lots(self) -> int:
        return count_lots(self.fill_count)

    def remaining_lots(self) -> int:
        return count_lots(self.remaining_count)


class CancelOrderV2Response(msgspec.Struct, kw_only=True):
    """DELETE /portfolio/events/orders/{order_id} answer (flat; cancel_order_v2_response.py)."""

    order_id: str
    reduced_by: str
    ts_ms: int
    client_order_id: str | None = None


class BatchCreateV2Item(msgspec.Struct, kw_only=True):
    order_id: str | None = None
    client_order_id: str | None = None
    fill_count: str | None = None
    remaining_count: str | None = None
    average_fill_price: str | None = None
    average_fee_paid: str | None = None
    ts_ms: int | None = None
    error: ErrorBody | None = None


class BatchCreateV2Envelope(msgspec.Struct, kw_only=True):
    orders: list[BatchCreateV2Item]


class BatchCancelV2Item(msgspec.Struct, kw_only=True):
    order_id: str
    reduced_by: str = "0.00"
    client_order_id: str | None = None
    ts_ms: int | None = None
    error: ErrorBody | None = None


class BatchCancelV2Envelope(msgspec.Struct, kw_only=True):
    orders: list[BatchCancelV2Item]


class FillWire(msgspec.Struct, kw_only=True):
    order_id: str
    outcome_side: str | None = None
    book_side: str | None = None
    side: str | None = None  # deprecated
    action: str | None = None  # deprecated
    trade_id: str | None = None
    fill_id: str | None = None
    ticker: str | None = None
    market_ticker: str | None = None
    count_fp: str | None = None
    count: int | None = None
    yes_price_dollars: str | None = None
    no_price_dollars: str | None = None
    yes_price_fixed: str | None = None
    no_price_fixed: str | None = None
    yes_price: int | None = None
    no_price: int | None = None
    is_taker: bool | None = None
    ts: int | None = None
    created_time: str | None = None
    fee_cost: str | None = None
    client_order_id: str | None = None

    def parsed(self) -> ParsedFill:
        outcome = outcome_of(self.outcome_side, self.book_side, self.side, self.action, "fill")
        side, action = default_intent(outcome, self.side, self.action)
        tid = self.trade_id or self.fill_id
        if not tid:
            raise ValueError("fill without trade_id/fill_id")
        ticker = self.ticker or self.market_ticker
        if not ticker:
            raise ValueError("fill without ticker")
        lots = pick_count(self.count_fp, self.count, "fill count")
        if lots is None or lots <= 0:
            raise ValueError("fill without a positive count")
        ts = parse_time_ns(self.created_time) if self.created_time else parse_time_ns(self.ts)
        return ParsedFill(
            trade_id=tid, order_id=self.order_id, ticker=ticker, side=side, action=action,
            yes_price_units=_yes_units(self.yes_price_dollars, self.yes_price, self.yes_price_fixed,
                                       self.no_price_dollars, self.no_price, "fill", self.no_price_fixed),
            count_lots=lots, is_taker=bool(self.is_taker), fee=money(self.fee_cost) if self.fee_cost else None,
            ts_ns=ts, client_order_id=self.client_order_id or "", outcome_side=outcome)


class FillsPage(msgspec.Struct, kw_only=True):
    fills: list[FillWire] = []
    cursor: str | None = ""


class MarketPositionWire(msgspec.Struct, kw_only=True):
    ticker: str
    position_fp: str | None = None
    position: int | None = None
    market_exposure_dollars: str | None = None
    market_exposure: int | None = None
    realized_pnl_dollars: str | None = None
    realized_pnl: int | None = None
    fees_paid_dollars: str | None = None
    fees_paid: int | None = None
    total_traded_dollars: str | None = None
    total_traded: int | None = None
    resting_orders_count: int | None = None

    def position_lots(self) -> int:
        """Signed: > 0 long YES, < 0 long NO (Kalshi nets the two sides of a market)."""
        return pick_count(self.position_fp, self.position, "position", signed=True) or 0

    def exposure(self) -> Decimal | None:
        return pick_money(self.market_exposure_dollars, self.market_exposure, "market_exposure")

    def fees_paid_amount(self) -> Decimal | None:
        return pick_money(self.fees_paid_dollars, self.fees_paid, "fees_paid")


class EventPositionWire(msgspec.Struct, kw_only=True):
    event_ticker: str
    event_exposure_dollars: str | None = None
    event_exposure: int | None = None
    fees_paid_dollars: str | None = None
    fees_paid: int | None = None
    total_cost_dollars: str | None = None
    total_cost: int | None = None


class PositionsPage(msgspec.Struct, kw_only=True):
    market_positions: list[MarketPositionWire] = []
    event_positions: list[EventPositionWire] = []
    cursor: str | None = ""


class BalanceWire(msgspec.Struct, kw_only=True):
    balance: int | None = None  # cents
    balance_dollars: str | None = None
    portfolio_value: int | None = None
    updated_ts: int | None = None

    def amount(self) -> Decimal:
        d = pick_money(self.balance_dollars, self.balance, "balance")
        if d is None:
            raise ValueError("balance response without balance")
        return d


class ExchangeStatusWire(msgspec.Struct, kw_only=True):
    exchange_active: bool
    trading_active: bool
    exchange_estimated_resume_time: str | None = None


class TradeWire(msgspec.Struct, kw_only=True):
    trade_id: str
    ticker: str | None = None
    market_ticker: str | None = None
    yes_price_dollars: str | None = None
    no_price_dollars: str | None = None
    yes_price: int | None = None
    no_price: int | None = None
    count_fp: str | None = None
    count: int | None = None
    taker_side: str | None = None  # deprecated
    taker_outcome_side: str | None = None
    taker_book_side: str | None = None
    created_time: str | None = None
    ts: int | None = None

    def taker_outcome(self) -> str | None:
        return trade_taker_outcome(self)

    def yes_units(self) -> int:
        return _yes_units(self.yes_price_dollars, self.yes_price, None, self.no_price_dollars, self.no_price, "trade")

    def lots(self) -> int:
        lots = pick_count(self.count_fp, self.count, "trade count")
        if lots is None:
            raise ValueError("trade without count")
        return lots


class TradesPage(msgspec.Struct, kw_only=True):
    trades: list[TradeWire] = []
    cursor: str | None = ""


class SettlementWire(msgspec.Struct, kw_only=True):
    ticker: str
    market_result: str = ""
    yes_count_fp: str | None = None
    no_count_fp: str | None = None
    yes_count: int | None = None
    no_count: int | None = None
    revenue: int | None = None
    fee_cost: str | None = None
    settled_time: str | None = None

    def counts(self) -> tuple[int, int]:
        return (pick_count(self.yes_count_fp, self.yes_count, "yes_count") or 0,
                pick_count(self.no_count_fp, self.no_count, "no_count") or 0)


class SettlementsPage(msgspec.Struct, kw_only=True):
    settlements: list[SettlementWire] = []
    cursor: str | None = ""


def decode(raw: bytes | str, type_: Any) -> Any:
    return msgspec.json.decode(raw, type=type_)


def error_of(raw: bytes) -> ErrorBody:
    """The error of a refusal, nested under ``"error"`` or flat; the code is kept either way (an
    ErrorBody with only a message when the body is not JSON)."""
    try:
        env = msgspec.json.decode(raw, type=ErrorEnvelope)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ErrorBody(message=raw[:200].decode("utf-8", "replace"))
    if isinstance(env.error, ErrorBody) and (env.error.code or env.error.message):
        return env.error
    if env.code or env.message:
        return ErrorBody(code=env.code or "", message=env.message or "", details=env.details or "")
    if isinstance(env.error, str):
        return ErrorBody(code=env.error, message=env.message or env.error)
    return env.error if isinstance(env.error, ErrorBody) else ErrorBody()


LIFECYCLE_RESOLVED = ("determined", "settled")
LIFECYCLE_LISTED = ("created", "activated")


def lifecycle_listing(body: WsBody, recv_ns: int) -> "MarketListed | None":
    """A ``market_lifecycle_v2`` ``created`` (``{market_ticker, event_type, open_ts, close_ts,
    additional_metadata{title, event_ticker, ...}}``) or ``activated`` (``is_deactivated`` false)
    message as :class:`MarketListed`, else None. The event and series tickers come from the
    metadata when present, else from the ticker's own ``SERIES-EVENT-MARKET`` shape."""
    from arbkit.core.events import MarketListed

    if body.event_type not in LIFECYCLE_LISTED or (body.event_type == "activated" and body.is_deactivated):
        return None
    ticker = body_ticker(body)
    if not ticker:
        raise ValueError(f"{body.event_type} without market_ticker")
    meta = body.additional_metadata or {}
    event_ticker = str(meta.get("event_ticker") or body.event_ticker or ticker.rsplit("-", 1)[0])
    close = ""
    if body.close_ts:
        close = _dt.datetime.fromtimestamp(int(body.close_ts), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return MarketListed(venue=Venue.KALSHI, market_id=ticker, instrument_ids=[f"kalshi:{ticker}:yes", f"kalshi:{ticker}:no"],
                        title=str(meta.get("title") or meta.get("name") or ""), event_id=event_ticker,
                        series=event_ticker.split("-", 1)[0], stage=body.event_type or "", close_time=close,
                        ts_venue=int(body.open_ts or 0) * 1_000_000_000, ts_recv=recv_ns,
                        correlation_id=f"listing:{ticker}")


def lifecycle_resolution(body: WsBody, ts_venue_ns: int, recv_ns: int) -> "MarketResolved | None":
    """A ``market_lifecycle_v2`` message as :class:`MarketResolved` when it says the outcome is
    known (``determined``: ``{market_ticker, event_type, result, settlement_value,
    determination_ts}``; ``settled``: ``{market_ticker, event_type[, settled_ts]}``), else None
    (created, activated, close_date_updated, ... are not resolutions).

    Payout per YES contract = ``settlement_value`` (dollars, e.g. "1.0000"; a scalar market may pay a
    fraction) else 1 for ``result`` yes and 0 for no; NO pays 1 - that. A ``settled`` message carries
    no result: its payouts are empty (the determined one, or the market's REST ``result``, has them).
    Raises ValueError on a determined message that names no result."""
    from arbkit.core.events import MarketResolved

    if body.event_type not in LIFECYCLE_RESOLVED:
        return None
    ticker = body_ticker(body)
    yes_id, no_id = f"kalshi:{ticker}:yes", f"kalshi:{ticker}:no"
    payouts: dict[str, Decimal] = {}
    winner: str | None = None
    result = (body.result or "").lower()
    if body.settlement_value not in (None, ""):
        v = Decimal(body.settlement_value)
        if not (v.is_finite() and 0 <= v <= 1):
            raise ValueError(f"settlement_value {body.settlement_value!r} is not within 0..1")
        payouts = {yes_id: v, no_id: Decimal(1) - v}
    elif result in ("yes", "no"):
        payouts = {yes_id: Decimal(result == "yes"), no_id: Decimal(result == "no")}
    elif body.event_type == "determined":
        raise ValueError(f"determined without result or settlement_value ({ticker})")
    if payouts:
        if payouts[yes_id] == 1:
            winner = yes_id
        elif payouts[no_id] == 1:
            winner = no_id
    ts = body.determination_ts if body.event_type == "determined" else body.settled_ts
    return MarketResolved(venue=Venue.KALSHI, market_id=ticker, instrument_ids=[yes_id, no_id],
                          winning_instrument_id=winner, winning_outcome=result, payouts=payouts,
                          stage=body.event_type, ts_venue=(ts * 1_000_000_000 if ts else ts_venue_ns), ts_recv=recv_ns,
                          correlation_id=f"resolution:{ticker}")
