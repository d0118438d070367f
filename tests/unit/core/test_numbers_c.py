"""The C decimal parsers (arbkit.core._book.parse_units / plain_units) against the pure-Python
ones in arbkit.core.numbers: same values, same errors, on valid and invalid input."""

from __future__ import annotations

import decimal
import json
import os
import re
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from arbkit.core import numbers
from arbkit.core.numbers import py_parse_units, py_plain_units

if os.environ.get("CI") == "true":
    # CI builds the accelerator (gcc and the headers are there): a build that lost it must fail here
    from arbkit.core import _book
else:  # a user's machine without a compiler runs the pure-Python books, and says so
    _book = pytest.importorskip("arbkit.core._book", reason="C extension not built (no compiler at install)")
if not hasattr(_book, "parse_units"):
    pytest.skip("C extension built from an older source (no parse_units): reinstall arbkit", allow_module_level=True)

c_parse_units = _book.parse_units
c_plain_units = _book.plain_units

INT64_MAX = 2**63 - 1
PLAIN = re.compile(r"[0-9]*(\.[0-9]*)?")


def outcome(fn, *args):
    """What a call gives: ("ok", value) or ("raise", exception type, message)."""
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the point is to compare whatever happens
        return ("raise", type(exc), str(exc))


# --- strategies -------------------------------------------------------------------------------

_ws = st.sampled_from(["", " ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\xa0", "\u2003"])
_digits_str = st.text(alphabet="0123456789", max_size=25)
_number_text = st.builds(
    lambda lead, sign, whole, dot, frac, exp, trail: f"{lead}{sign}{whole}{dot}{frac}{exp}{trail}",
    _ws,
    st.sampled_from(["", "", "+", "-"]),
    _digits_str,
    st.sampled_from(["", ".", "."]),
    _digits_str,
    st.one_of(st.just(""), st.builds(lambda e, s, d: f"{e}{s}{d}", st.sampled_from("eE"),
                                     st.sampled_from(["", "+", "-"]), st.integers(0, 40).map(str))),
    _ws,
)
# Mostly characters that mean something to a number parser, plus anything at all.
_junk_text = st.one_of(
    st.text(alphabet="0123456789.+-eE_ \t\n\x0b\x1c\x1f\xa0\u0661\u0662\uff11", max_size=30),
    st.text(max_size=30),
)
_digit_counts = st.one_of(st.integers(0, 20), st.integers(-3, 200), st.booleans())


# --- parse_units ------------------------------------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(_number_text, _digit_counts)
@example("9223372036854775807", 0)
@example("9223372036854775808", 0)
@example("-9223372036854775808", 0)
@example("9.223372036854775807", 18)
@example("9.223372036854775807", 19)
@example("0.000000000000000001", 18)
@example("1.0000000000000000000000000000000", 2)
@example("  -0.50  ", 2)
def test_c_parse_units_agrees_on_numbers(text: str, digits: int) -> None:
    assert outcome(c_parse_units, text, digits) == outcome(py_parse_units, text, digits)


@settings(max_examples=3000, deadline=None)
@given(_junk_text, _digit_counts)
@example("1_0.5", 2)
@example("1 0", 2)
@example("--5", 2)
@example("+-5", 2)
@example("-\t5", 2)
@example("\u0661\u0662", 2)
@example("1e", 2)
@example("e5", 2)
@example("1e999999", 2)
@example("1.2.3", 2)
@example(".", 2)
@example("-", 2)
@example("", 2)
@example("nan", 2)
@example("Infinity", 2)
def test_c_parse_units_agrees_on_anything(text: str, digits: int) -> None:
    assert outcome(c_parse_units, text, digits) == outcome(py_parse_units, text, digits)


@pytest.mark.parametrize("bad", [b"12", 12, None, Decimal("1.5"), 1.5])
def test_non_text_is_a_type_error_in_both(bad) -> None:
    assert outcome(c_parse_units, bad, 2)[:2] == outcome(py_parse_units, bad, 2)[:2] == ("raise", TypeError)


def test_bad_argument_counts_and_digits() -> None:
    with pytest.raises(TypeError):
        c_parse_units("1")
    with pytest.raises(TypeError):
        c_parse_units("1", 2, 3)
    with pytest.raises(TypeError):
        c_plain_units("1")
    for digits in (-1, 101, 10**30):
        assert outcome(c_parse_units, "1", digits) == outcome(py_parse_units, "1", digits)
        assert outcome(c_parse_units, "1", digits)[:2] == ("raise", ValueError)
    assert outcome(c_parse_units, "1", "2")[:2] == ("raise", TypeError)
    assert outcome(c_parse_units, "1", 1.0)[:2] == ("raise", TypeError)


def test_known_values() -> None:
    for fn in (c_parse_units, py_parse_units):
        assert fn("12.5", 2) == 1250 and fn("0.001", 3) == 1 and fn("100", 6) == 100_000_000
        assert fn(".5", 1) == 5 and fn("5.", 1) == 50 and fn("1.2300", 2) == 123 and fn("-3.5", 1) == -35
        assert fn("+3.5", 1) == 35 and fn(" 7 ", 0) == 7 and fn("-0", 3) == 0
        assert fn("1e3", 2) == 100_000 and fn("1.5E-1", 2) == 15 and fn("0e-40", 0) == 0
        assert fn("9223372036854775807", 0) == INT64_MAX
        assert fn("9223372036854775808", 0) == INT64_MAX + 1  # beyond int64: exact Python int
        assert fn("123456789012345678901234567890", 2) == 12345678901234567890123456789000


@pytest.mark.parametrize("bad", ["--5", "+-5", "-+5", "-\t5", "+ 5", "1_0", "1 0", "\u0661\u0662", "1e", "1e+",
                                 "1e3.5", "1e999999", "e5", ".", "", "  ", "1.2.3", "1.234", "0x10", "inf", "NaN"])
def test_refusals_are_value_errors_in_both(bad: str) -> None:
    """Every refusal is a ValueError (never decimal.InvalidOperation: a feed catches ValueError),
    and a doubled sign is refused instead of flipping the sign."""
    for fn in (c_parse_units, py_parse_units, numbers.parse_units):
        with pytest.raises(ValueError) as info:
            fn(bad, 2)
        assert not isinstance(info.value, decimal.DecimalException)


def test_numbers_module_dispatches_to_c() -> None:
    if os.environ.get("ARBKIT_PARSE_IMPL", "").lower() == "python":
        assert numbers.PARSE_IMPLEMENTATION == "python" and numbers.parse_units is py_parse_units
    else:
        assert numbers.PARSE_IMPLEMENTATION == "c"
        assert numbers.parse_units is c_parse_units and numbers.plain_units is c_plain_units


# --- plain_units ------------------------------------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_number_text, _junk_text), st.one_of(st.integers(-2, 20), st.booleans()))
@example("9223372036854775807", 0)
@example("9223372036854775808", 0)
@example("0.1000000", 1)
@example("0.1000001", 1)
@example(".", 2)
@example("", 2)
def test_plain_units_is_parse_units_on_plain_text_only(text: str, digits: int) -> None:
    got = c_plain_units(text, digits)
    assert got == py_plain_units(text, digits)
    if got is None:
        return
    assert PLAIN.fullmatch(text) and text not in ("", ".")
    assert got == py_parse_units(text, digits) and 0 <= got <= INT64_MAX


@settings(max_examples=2000, deadline=None)
@given(st.integers(0, INT64_MAX), st.integers(0, 18), st.booleans())
def test_plain_units_takes_every_plain_size(n: int, digits: int, trailing_zeros: bool) -> None:
    """The fast path really is taken for every plain unsigned decimal that fits int64."""
    text = str(numbers.from_units(n, Decimal(1).scaleb(-digits))) if digits else str(n)
    if trailing_zeros:
        text += ("" if "." in text else ".") + "000"
    if "E" in text:  # Decimal's own spelling of tiny/huge values: not a plain decimal
        assert c_plain_units(text, digits) is None
        return
    assert c_plain_units(text, digits) == n == py_plain_units(text, digits)


@pytest.mark.parametrize("text", ["+5", "-0", " 5", "5 ", "1e2", "1_0", "\u0661", "0.0000001", "9223372036854.775808",
                                  "", ".", "abc"])
def test_plain_units_none_for_anything_else(text: str) -> None:
    assert c_plain_units(text, 6) is None and py_plain_units(text, 6) is None
    assert c_plain_units(5, 6) is None and c_plain_units("5", "6") is None and c_plain_units("5", 19) is None


# --- the Polymarket hot path with the C parser --------------------------------------------------


def _frame(asset: str, changes: list[tuple[str, str, str]]) -> bytes:
    return json.dumps({"event_type": "price_change", "market": "0xm", "timestamp": "1770000000000",
                       "price_changes": [{"asset_id": asset, "price": p, "size": s, "side": side}
                                         for p, s, side in changes]}).encode()


def _feed():
    from arbkit.venues.polymarket.feed import FeedConfig, PolymarketMarketFeed

    events: list = []
    feed = PolymarketMarketFeed(events.append, FeedConfig(crosscheck_interval_s=0, book_updates="none"))
    feed.subscribe(["a1"])
    snapshot = {"event_type": "book", "asset_id": "a1", "market": "0xm", "tick_size": "0.01",
                "bids": [{"price": "0.40", "size": "10"}], "asks": [{"price": "0.60", "size": "10"}]}
    feed.on_frame(None, json.dumps(snapshot).encode(), 1)
    return feed, events


@pytest.mark.parametrize("size", ["1e", "--5", "+-5", "1e999999", "\u0661\u0662", "-1", "1.0000001", "nan", " 5"])
def test_feed_counts_odd_sizes_as_malformed_and_never_raises(size: str) -> None:
    """Sizes the C fast path hands to the checked path: counted, logged, book dropped, no raise
    (a size like "1e" used to escape the feed as decimal.InvalidOperation)."""
    from arbkit.core.enums import BookState
    from arbkit.core.events import MessageMalformed

    feed, events = _feed()
    feed.on_frame(None, _frame("a1", [("0.41", size, "BUY")]), 2)
    assert feed.malformed.count == 1 and isinstance(events[-1], MessageMalformed)
    assert feed.book_state("a1") is BookState.RESYNCING


def test_feed_books_equal_with_c_and_python_size_parsing(monkeypatch) -> None:
    """The same frames through the C size parser and through the pure-Python stand-in give the
    same books (sizes in odd-but-valid spellings take the checked path in both)."""
    from arbkit.venues.polymarket import feed as feed_module

    sizes = ["12.5", "7", "0.000001", "3.", ".25", "1e2", "+4", "2.5000000", "0", "100.000000", "9999.99"]
    frames = [_frame("a1", [(f"0.{30 + i % 9:02d}", sizes[i % len(sizes)], "BUY"),
                            (f"0.{61 + i % 7:02d}", sizes[(i * 3) % len(sizes)], "SELL")]) for i in range(200)]
    # the hot path uses the C parser when it is built and not switched off
    assert feed_module._plain_lots is (numbers.c_plain_units or feed_module._cached_plain_lots)
    levels = []
    for plain in (c_plain_units, feed_module._cached_plain_lots):
        monkeypatch.setattr(feed_module, "_plain_lots", plain)
        feed_module._size_cache.clear()
        feed, _ = _feed()
        for fr in frames:
            feed.on_frame(None, fr, 3)
        assert feed.malformed.count == 0
        book = feed.book("a1")
        levels.append((book.levels(True), book.levels(False)))
    assert levels[0] == levels[1] and levels[0][0]
