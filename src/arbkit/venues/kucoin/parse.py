"""KuCoin wire shapes (msgspec) and the pure level-2 synchroniser.

Shapes follow the official SDK models (kucoin-universal-sdk @ 78c90c77,
generate/spot/*/model_*.py) and the doc examples in ../shared/fixtures/kucoin; checked 2026-12-04.
Numbers on the wire are strings and are decoded to Decimal (never float).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from arbkit.core.enums import InstrumentKind, Venue
from arbkit.core.fees import FeeSpec
from arbkit.core.instruments import Instrument
from arbkit.core.numbers import plain_units
from arbkit.venues.kucoin import constants as C


class KucoinError(Exception):
    """A KuCoin answer with a code other than 200000 (``status`` is the HTTP status)."""

    def __init__(self, status: int, code: str, msg: str, what: str = "") -> None:
        super().__init__(f"KuCoin {what}: HTTP {status} code {code}: {msg}")
        self.status = status
        self.code = code
        self.msg = msg

    @property
    def not_found(self) -> bool:
        m = (self.msg or "").lower()
        return any(k in m for k in C.NOT_FOUND_MARKERS)


class Envelope(msgspec.Struct):
    code: str
    data: Any = msgspec.UNSET  # an answer without ``data`` is not an answer (null is: "nothing")
    msg: str = ""


def unwrap(status: int, body: bytes, what: str = "") -> Any:
    """``data`` of a successful answer; KucoinError otherwise (also for an unreadable body)."""
    try:
        env = msgspec.json.decode(body, type=Envelope)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise KucoinError(status, "", f"unreadable answer: {exc}: {body[:200]!r}", what) from None
    if env.code != C.CODE_OK or status != 200:
        raise KucoinError(status, env.code, env.msg, what)
    if env.data is msgspec.UNSET:
        raise KucoinError(status, "", f"unreadable answer: no data: {body[:200]!r}", what)
    return env.data


def dec(value: Any, what: str = "number") -> Decimal:
    """A wire number (string or int) -> Decimal; ValueError for anything else (floats included)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"{what}: {value!r} is not an exact number")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{what}: {value!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{what}: {value!r} is not finite")
    return d


SEQ_MAX = 2**63 - 1  # books keep the sequence in an int64
MAX_AMOUNT = Decimal("1e24")  # far above any KuCoin price, size or balance: beyond it is garbage
MIN_EXPONENT = -18  # no KuCoin amount is finer than 1e-18


def amount(value: Any, what: str, *, positive: bool = True) -> Decimal:
    """A wire price/size/balance: ``dec`` plus sanity bounds (> 0, or >= 0 with ``positive``
    False; at most MAX_AMOUNT; no finer than 1e-18). ValueError otherwise."""
    d = dec(value, what)
    if (d <= 0 if positive else d < 0) or d > MAX_AMOUNT:
        raise ValueError(f"{what}: {value!r} is out of range")
    if d and d.normalize().as_tuple().exponent < MIN_EXPONENT:  # type: ignore[operator]
        raise ValueError(f"{what}: {value!r} is finer than 1e{MIN_EXPONENT}")
    return d


def digits_of(increment: Decimal) -> int:
    return max(0, -increment.normalize().as_tuple().exponent)  # type: ignore[operator]


BOOK_EXTRA_SIZE_DIGITS = 4
BOOK_MIN_SIZE_DIGITS = 8
BOOK_MAX_SIZE_DIGITS = 18


def book_digits(price_increment: Decimal, base_increment: Decimal) -> tuple[int, int]:
    """(price digits, size digits) of a level-2 book. Level sizes are finer than baseIncrement in
    real KuCoin data (the 2021 recording: CAPP-BTC baseIncrement 0.01 with 8-decimal levels,
    BCHSV-USDT 11 decimals; remainders of funds-sized orders), so sizes get
    ``max(base digits + 4, 8)`` decimals; a finer one makes the feed widen the book and resync."""
    return digits_of(price_increment), max(digits_of(base_increment) + BOOK_EXTRA_SIZE_DIGITS, BOOK_MIN_SIZE_DIGITS)


# --- REST shapes -----------------------------------------------------------------------------------


class TokenServer(msgspec.Struct, rename="camel"):
    endpoint: str
    ping_interval: int = 18000
    ping_timeout: int = 10000
    protocol: str = "websocket"
    encrypt: bool = True


class Token(msgspec.Struct, rename="camel"):
    token: str
    instance_servers: list[TokenServer]


class SymbolWire(msgspec.Struct, rename="camel"):
    symbol: str
    base_currency: str
    quote_currency: str
    base_increment: str
    price_increment: str
    base_min_size: str
    quote_increment: str = ""
    quote_min_size: str = "0"
    fee_currency: str = ""
    min_funds: str | None = None
    enable_trading: bool = True
    name: str = ""
    market: str = ""
    maker_fee_coefficient: str = "1"
    taker_fee_coefficient: str = "1"


class TradeFeeWire(msgspec.Struct, rename="camel"):
    symbol: str
    taker_fee_rate: str
    maker_fee_rate: str


class OrderWire(msgspec.Struct, rename="camel"):
    """GET /api/v1/hf/orders/{orderId} and /client-order/{clientOid}."""

    id: str
    symbol: str
    side: str
    type: str = "limit"
    price: str = "0"
    size: str = "0"
    deal_size: str = "0"
    deal_funds: str = "0"
    fee: str = "0"
    fee_currency: str = ""
    time_in_force: str = "GTC"
    post_only: bool = False
    client_oid: str = ""
    active: bool = False
    in_order_book: bool = False
    cancel_exist: bool = False
    cancelled_size: str = "0"
    remain_size: str = "0"
    created_at: int = 0
    last_updated_at: int = 0


class SyncOrderWire(msgspec.Struct, rename="camel"):
    """POST /api/v1/hf/orders/sync answer."""

    order_id: str
    client_oid: str = ""
    order_time: int = 0
    origin_size: str = "0"
    deal_size: str = "0"
    remain_size: str = "0"
    canceled_size: str = "0"
    status: str = "open"  # open | done
    match_time: int = 0


class FillWire(msgspec.Struct, rename="camel"):
    id: int | str
    symbol: str
    trade_id: int | str
    order_id: str
    side: str
    liquidity: str
    price: str
    size: str
    fee: str
    fee_currency: str
    created_at: int = 0
    funds: str = "0"
    fee_rate: str = "0"
    counter_order_id: str = ""


class FillsPage(msgspec.Struct, rename="camel"):
    items: list[FillWire]
    last_id: int | None = None


class AccountWire(msgspec.Struct):
    id: str
    currency: str
    type: str
    balance: str
    available: str
    holds: str


class BookWire(msgspec.Struct):
    sequence: str | int
    bids: list[list[str]]
    asks: list[list[str]]
    time: int = 0


# --- WS shapes ------------------------------------------------------------------------------------


class WsFrame(msgspec.Struct):
    type: str
    id: str | None = None
    topic: str = ""
    subject: str = ""
    data: Any = None
    code: int | str | None = None


class L2Changes(msgspec.Struct):
    asks: list[list[str]] = []
    bids: list[list[str]] = []


class L2Update(msgspec.Struct, rename="camel"):
    symbol: str
    sequence_start: int
    sequence_end: int
    changes: L2Changes
    time: int = 0


class Depth50(msgspec.Struct):
    """``/spotMarket/level2Depth50:SYM`` data (subject ``level2``): the best 50 asks and bids as
    ``[price, size]`` and ``timestamp`` ms; no sequence, no symbol (it is in the topic). Spec
    ``openapi-spot-public.json`` orderbookLevel50; example ``api_spot_public_test__orderbook_level50_resp_model.json``."""

    asks: list[list[str]]
    bids: list[list[str]]
    timestamp: int = 0


def depth_levels(rows: list[list[str]], what: str) -> list[tuple[Decimal, Decimal]]:
    """``[[price, size], ...]`` of a depth snapshot as Decimals; ValueError for a row that is not
    two positive numbers (a snapshot with one bad row is refused whole: the book keeps the last good one)."""
    out = []
    for row in rows:
        if len(row) < 2:
            raise ValueError(f"{what} row {row!r} is not [price, size]")
        p, q = amount(row[0], "price"), amount(row[1], "size")
        if p <= 0 or q <= 0:
            raise ValueError(f"{what} row {row!r}: price and size must be > 0")
        out.append((p, q))
    return out


class OrderChange(msgspec.Struct, rename="camel"):
    """/spotMarket/tradeOrdersV2 data (model_order_v2_event.py)."""

    symbol: str
    order_id: str
    type: str  # received | open | match | update | filled | canceled
    status: str = ""  # new | open | match | done
    side: str = ""
    client_oid: str = ""
    order_type: str = "limit"
    price: str | None = None
    size: str | None = None
    origin_size: str | None = None
    filled_size: str | None = None
    remain_size: str | None = None
    canceled_size: str | None = None
    match_price: str | None = None
    match_size: str | None = None
    trade_id: str | None = None
    liquidity: str | None = None
    fee_type: str | None = None
    ts: int = 0
    order_time: int = 0


class RelationContext(msgspec.Struct, rename="camel"):
    symbol: str = ""
    order_id: str = ""
    trade_id: str = ""


class BalanceChange(msgspec.Struct, rename="camel"):
    """/account/balance data (model_account_event.py; fixture api_spot_private_test__account_resp_model.json)."""

    currency: str
    total: str
    available: str
    hold: str
    account_id: str = ""
    relation_event: str = ""
    relation_context: RelationContext | None = None
    time: str | int = 0


# --- instruments -----------------------------------------------------------------------------------


def instrument_from_symbol(s: SymbolWire, taker_rate: Decimal | None = None,
                           maker_rate: Decimal | None = None) -> Instrument:
    """A core spot instrument from a /api/v2/symbols row; fee rates from /api/v1/trade-fees (the
    account's actual rates, already including the pair's coefficient) when given."""
    min_funds = amount(s.min_funds, "minFunds", positive=False) if s.min_funds not in (None, "") else Decimal(0)
    fee = FeeSpec(kind="spot", taker_rate=taker_rate if taker_rate is not None else Decimal(0),
                  maker_rate=maker_rate if maker_rate is not None else Decimal(0))
    return Instrument(
        venue=Venue.KUCOIN, symbol=s.symbol, kind=InstrumentKind.SPOT,
        tick_size=amount(s.price_increment, "priceIncrement"), size_increment=amount(s.base_increment, "baseIncrement"),
        min_size=amount(s.base_min_size, "baseMinSize", positive=False), min_notional=min_funds,
        quote=s.quote_currency, base=s.base_currency, market_id=s.symbol, fee=fee, title=s.name or s.symbol)


# --- level-2 synchronisation ------------------------------------------------------------------------

Change = tuple[bool, Decimal, Decimal, int]  # (is_bid, price, size, sequence)


def l2_changes(u: L2Update) -> list[Change]:
    """The changes of one l2update in sequence order. ``["0","0",seq]`` entries (price 0) only
    move the sequence on (seen in the 2021 recording); they are kept with price 0."""
    out: list[Change] = []
    if u.sequence_start > u.sequence_end or u.sequence_start < 0 or u.sequence_end > SEQ_MAX:
        raise ValueError(f"sequenceStart {u.sequence_start} / sequenceEnd {u.sequence_end}")
    for is_bid, rows in ((True, u.changes.bids), (False, u.changes.asks)):
        for row in rows:
            if len(row) < 3:
                raise ValueError(f"level-2 change {row!r} has no sequence")
            seq = row[2]
            if not isinstance(seq, str) or not seq.isdigit() or not u.sequence_start <= int(seq) <= u.sequence_end:
                raise ValueError(f"level-2 change {row!r}: sequence outside {u.sequence_start}..{u.sequence_end}")
            price, size = amount(row[0], "price", positive=False), amount(row[1], "size", positive=False)
            out.append((is_bid, price, size, int(seq)))
    out.sort(key=lambda c: c[3])
    return out


def _plain_changes(u: L2Update, book: Any) -> list[tuple[int, bool, int, int]] | None:
    """:func:`l2_changes` as (sequence, is_bid, price units, lots) for a message whose every number
    is a plain decimal the book holds exactly (what KuCoin sends); None sends the message through
    :func:`l2_changes` and the book's Decimal conversions, which accept or refuse every other form
    with their own errors (and so decide when a book must widen). Same changes, same order."""
    pd, sd = getattr(book, "price_digits", None), getattr(book, "size_digits", None)
    if pd is None or sd is None or u.sequence_start > u.sequence_end or u.sequence_start < 0 or u.sequence_end > SEQ_MAX:
        return None
    s0, s1 = u.sequence_start, u.sequence_end
    units = plain_units
    out: list[tuple[int, bool, int, int]] = []
    for is_bid, rows in ((True, u.changes.bids), (False, u.changes.asks)):
        for row in rows:
            if len(row) < 3:
                return None
            sq = row[2]
            if sq.__class__ is not str or not sq.isascii() or not sq.isdigit():
                return None
            seq = int(sq)
            ticks, lots = units(row[0], pd), units(row[1], sd)
            if ticks is None or lots is None or not s0 <= seq <= s1:
                return None
            out.append((seq, is_bid, ticks, lots))
    out.sort(key=_first)  # stable: equal sequences keep bids-then-asks, as l2_changes does
    return out


def _first(c: tuple) -> int:
    return c[0]


class L2Sync:
    """One symbol's book kept in sequence (KuCoin "Level-2 Market Data" procedure): subscribe and
    buffer, fetch a REST snapshot with its ``sequence``, drop buffered changes with sequence <= it,
    apply the rest in order; any message whose ``sequenceStart`` is beyond the next expected
    sequence is a gap and the book must be rebuilt from a fresh snapshot (``needs_snapshot``).

    ``book`` is a core CryptoBook; ``gaps`` counts gaps seen; ``applied`` counts changes applied.
    """

    __slots__ = ("book", "seq", "live", "buffer", "gaps", "applied", "max_buffer")

    def __init__(self, book: Any, max_buffer: int = 100_000) -> None:
        self.book = book
        self.seq = 0
        self.live = False
        self.buffer: list[L2Update] = []
        self.gaps = 0
        self.applied = 0
        self.max_buffer = max_buffer

    @property
    def needs_snapshot(self) -> bool:
        return not self.live

    def reset(self) -> None:
        """Back to buffering (after a gap or a reconnect); the book keeps nothing."""
        self.live = False
        self.buffer.clear()
        self.book.clear()
        self.seq = 0

    def on_update(self, u: L2Update, ts_ns: int = 0) -> bool:
        """Feed one l2update; returns False when a gap was found (the caller asks for a snapshot)."""
        if not self.live:
            if len(self.buffer) >= self.max_buffer:
                self.buffer.pop(0)
            self.buffer.append(u)
            return True
        return self._apply(u, ts_ns)

    def _apply(self, u: L2Update, ts_ns: int) -> bool:
        if u.sequence_end <= self.seq:
            return True  # already in the snapshot / seen
        if u.sequence_start > self.seq + 1:
            self.gaps += 1
            self.reset()
            return False
        book = self.book
        fast = _plain_changes(u, book)
        if fast is not None:  # the common case: integer units straight from the strings
            for seq, is_bid, ticks, lots in fast:
                if seq <= self.seq:
                    continue
                if ticks > 0:
                    book.apply_delta(is_bid, ticks, lots, seq, ts_ns)
                    self.applied += 1
                self.seq = seq
        else:
            for is_bid, price, size, seq in l2_changes(u):
                if seq <= self.seq:
                    continue
                if price > 0:
                    book.apply_delta(is_bid, book.to_tick(price), book.to_lots(size), seq, ts_ns)
                    self.applied += 1
                self.seq = seq
        self.seq = max(self.seq, u.sequence_end)
        book.sequence = self.seq
        return True

    def on_snapshot(self, sequence: int, bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]],
                    ts_ns: int = 0) -> bool:
        """Install a snapshot and replay the buffer; False when the buffer does not join the
        snapshot (a gap between them): the caller fetches again."""
        book = self.book
        book.apply_snapshot([(book.to_tick(p), book.to_lots(s)) for p, s in bids if s > 0],
                            [(book.to_tick(p), book.to_lots(s)) for p, s in asks if s > 0], sequence, ts_ns)
        self.seq = sequence
        self.live = True
        pending, self.buffer = self.buffer, []
        for u in pending:
            if not self._apply(u, ts_ns):
                return False
        return True


def parse_snapshot(data: Any) -> tuple[int, list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    b = msgspec.convert(data, BookWire)
    conv = lambda rows: [(dec(r[0], "price"), dec(r[1], "size")) for r in rows]  # noqa: E731
    return int(b.sequence), conv(b.bids), conv(b.asks)


def ms_to_ns(ms: int | str | None) -> int:
    try:
        v = int(ms or 0)
    except (TypeError, ValueError):
        return 0
    return v * 1_000_000 if v < 10**14 else v  # ``ts`` of order events is already in ns


__all__ = ["amount", "AccountWire", "BalanceChange", "BookWire", "Depth50", "depth_levels", "Envelope", "FillWire", "FillsPage", "KucoinError", "L2Changes",
           "L2Sync", "L2Update", "OrderChange", "OrderWire", "SymbolWire", "SyncOrderWire", "Token", "TokenServer",
           "TradeFeeWire", "WsFrame", "book_digits", "dec", "digits_of", "instrument_from_symbol", "l2_changes",
           "ms_to_ns", "parse_snapshot", "unwrap"]
