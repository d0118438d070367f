"""Instruments: what can be traded, with the venue's increments, minimums and fee model."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from arbkit.core.enums import InstrumentKind, Side, TimeInForce, Venue
from arbkit.core.fees import NO_FEE, FeeSpec
from arbkit.core.numbers import quantize_down

InstrumentId = str  # "<venue>:<symbol>", e.g. "polymarket:7123…", "kalshi:KXBTC-25-T100:yes", "kucoin:BTC-USDT"


def instrument_id(venue: Venue | str, symbol: str) -> InstrumentId:
    v = venue.value if isinstance(venue, Venue) else venue
    return f"{v}:{symbol}"


def split_instrument_id(iid: InstrumentId) -> tuple[Venue, str]:
    v, _, sym = iid.partition(":")
    return Venue(v), sym


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """One tradable thing on one venue.

    Outcome shares (Polymarket tokens, one side of a Kalshi market) are priced in collateral per
    share in (0, 1); ``complement`` is the other outcome of the same binary market, so a book for
    one implies the other (ask(YES) = 1 - bid(NO)). Spot pairs are ``base``/``quote``.
    """

    venue: Venue
    symbol: str  # venue-native id (Polymarket token id, "TICKER:yes" on Kalshi, "BTC-USDT" on KuCoin)
    kind: InstrumentKind
    tick_size: Decimal
    size_increment: Decimal
    min_size: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    quote: str = "USD"  # settlement/collateral currency for outcomes, quote currency for spot
    base: str | None = None  # spot only
    outcome: str | None = None  # "YES"/"NO" or the outcome's name
    market_id: str | None = None  # condition id / Kalshi market ticker / spot symbol
    event_id: str | None = None  # the event a group of markets belongs to (neg-risk, Kalshi event)
    complement: str | None = None  # symbol of the other outcome of a binary market
    neg_risk: bool = False
    fee: FeeSpec = NO_FEE
    title: str = ""

    @property
    def id(self) -> InstrumentId:
        return instrument_id(self.venue, self.symbol)

    @property
    def complement_id(self) -> InstrumentId | None:
        return instrument_id(self.venue, self.complement) if self.complement else None

    @property
    def price_decimals(self) -> int:
        return max(0, -self.tick_size.normalize().as_tuple().exponent)  # type: ignore[operator]

    @property
    def size_decimals(self) -> int:
        return max(0, -self.size_increment.normalize().as_tuple().exponent)  # type: ignore[operator]

    def round_size(self, size: Decimal) -> Decimal:
        """Sizes are always rounded down to the increment: never send more than intended."""
        return quantize_down(size, self.size_increment)

    def price_to_ticks(self, price: Decimal) -> int:
        q, r = divmod(price, self.tick_size)
        if r != 0:
            raise ValueError(f"{price} is not on the {self.tick_size} tick grid of {self.id}")
        return int(q)

    def ticks_to_price(self, ticks: int) -> Decimal:
        return (self.tick_size * ticks).quantize(self.tick_size)

    def signable_quantity(self, side: Side, quantity: Decimal, price: Decimal,
                          time_in_force: TimeInForce = TimeInForce.IOC) -> Decimal:
        """The largest quantity <= ``quantity`` (on the size grid) that the venue can take
        exactly at ``price``: Polymarket signs amounts whose precision it limits (an IOC buy's
        collateral to the cent), so some share counts cannot be sent at some prices (issue 11
        item 7). Sizing asks this before an intent is approved; other venues take any on-grid size.
        The rule is the venue package's pure function (no I/O), imported where it is needed."""
        q = self.round_size(quantity)
        if self.venue is not Venue.POLYMARKET or self.kind is not InstrumentKind.OUTCOME or q <= 0:
            return q
        from arbkit.venues.polymarket.amounts import ioc_order_amounts, representable_quantity

        if time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            try:
                ioc_order_amounts(side, q, price, self.tick_size)
                return q
            except ValueError:
                pass
        return min(q, representable_quantity(side, q, price, self.tick_size, time_in_force))

    def check_order(self, price: Decimal, size: Decimal) -> str | None:
        """Why an order of ``size`` at ``price`` would be refused by the venue, or None."""
        if size <= 0:
            return "size must be positive"
        if size % self.size_increment != 0:
            return f"size {size} is not a multiple of {self.size_increment}"
        if price % self.tick_size != 0:
            return f"price {price} is not a multiple of tick {self.tick_size}"
        if self.kind is InstrumentKind.OUTCOME and not (0 < price < 1):
            return f"price {price} outside (0, 1)"
        if price <= 0:
            return "price must be positive"
        if size < self.min_size:
            return f"size {size} below minimum {self.min_size}"
        if self.min_notional and price * size < self.min_notional:
            return f"notional {price * size} below minimum {self.min_notional}"
        return None
