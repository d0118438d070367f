"""Checks that a venue's numbers are usable before they reach the books, the portfolio or a saga.

A REST answer can be valid JSON of the right shape and still carry junk (NaN, Infinity, a
negative quantity, 1e400): the shape checks of the decoders let such values through as Decimal.
These checks turn them into ValueError at the gateway, where "the venue did not give a usable
answer" is already handled (a query raises, order_state raises OrderStateUnknown).
"""

from __future__ import annotations

from decimal import Decimal

from arbkit.core.orders import OrderState

MAX_AMOUNT = Decimal(10) ** 15  # more shares/contracts/dollars than any account holds: junk


def amount(value: Decimal, what: str, lo: Decimal | None = Decimal(0), hi: Decimal = MAX_AMOUNT) -> Decimal:
    """``value`` when it is finite and within [lo, hi] (no lower bound when ``lo`` is None)."""
    if not (isinstance(value, Decimal) and value.is_finite() and (lo is None or value >= lo)
            and value <= hi and value >= -MAX_AMOUNT):
        raise ValueError(f"{what} {value!r} is not a usable amount")
    return value


def order_state(st: OrderState) -> OrderState:
    """``st`` when its price is in [0, 1] and its quantities are finite and not negative."""
    amount(st.price, "order price", Decimal(0), Decimal(1))
    amount(st.quantity, "order quantity")
    amount(st.filled_quantity, "order filled quantity")
    return st


def utf8_body(body: bytes) -> bytes:
    """A response body as valid UTF-8: bytes that are not UTF-8 become U+FFFD, so the JSON decoders
    read the garbled part as garbled (an id that matches nothing, a number that does not parse)
    instead of raising UnicodeDecodeError, which no caller expects from a decoder."""
    if body.isascii():
        return body
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        return body.decode("utf-8", "replace").encode("utf-8")
