from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbkit.core.numbers import D, parse_units, quantize_down, quantize_up, to_units, from_units


def test_D_refuses_float():
    with pytest.raises(TypeError):
        D(0.1)  # type: ignore[arg-type]
    assert D("0.10") == Decimal("0.1")
    with pytest.raises(ValueError):
        D("nan")


def test_quantize_down_up():
    assert quantize_down(Decimal("1.239"), Decimal("0.01")) == Decimal("1.23")
    assert quantize_up(Decimal("1.231"), Decimal("0.01")) == Decimal("1.24")
    assert quantize_down(Decimal("7"), Decimal("5")) == Decimal("5")
    assert str(quantize_down(Decimal("1.2"), Decimal("0.001"))) == "1.200"


def test_parse_units():
    assert parse_units("12.5", 2) == 1250
    assert parse_units("0.001", 3) == 1
    assert parse_units("100", 6) == 100_000_000
    assert parse_units(".5", 1) == 5
    assert parse_units("1.2300", 2) == 123
    assert parse_units("-3.5", 1) == -35
    with pytest.raises(ValueError):
        parse_units("1.234", 2)
    with pytest.raises(ValueError):
        parse_units("", 2)
    with pytest.raises(ValueError):
        parse_units("1_0.5", 2)  # int() would accept the underscore; a venue number never has one


@given(st.integers(min_value=-10**12, max_value=10**12), st.integers(min_value=0, max_value=8))
def test_parse_units_roundtrip(n, digits):
    text = str(from_units(n, Decimal(1).scaleb(-digits)))
    assert parse_units(text, digits) == n
    assert to_units(Decimal(text), Decimal(1).scaleb(-digits)) == n
