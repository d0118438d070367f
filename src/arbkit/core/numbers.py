"""Exact numbers.

Money and quantities are ``Decimal`` at every boundary (orders, fills, journal) and integer
ticks/lots inside order books. Floats may rank opportunities; they never decide what is sent
or booked, so nothing here accepts a float.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_UP, Decimal, localcontext
from operator import index as _index

ZERO = Decimal(0)
ONE = Decimal(1)

__all__ = [
    "ZERO",
    "ONE",
    "D",
    "quantize_down",
    "quantize_up",
    "quantize_nearest",
    "to_units",
    "from_units",
    "parse_units",
    "plain_units",
    "py_parse_units",
    "py_plain_units",
    "PARSE_IMPLEMENTATION",
    "is_multiple",
    "ROUND_CEILING",
    "ROUND_FLOOR",
    "ROUND_DOWN",
    "ROUND_UP",
]


def D(value: str | int | Decimal) -> Decimal:
    """A Decimal from a string, int or Decimal. Floats are refused: they are not exact."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"refusing inexact value {value!r}: pass a str, int or Decimal")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        d = Decimal(value.strip())
        if not d.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return d
    raise TypeError(f"cannot make a Decimal from {type(value).__name__}")


def quantize_down(value: Decimal, increment: Decimal) -> Decimal:
    """Largest multiple of ``increment`` that is <= ``value`` (sizes are always rounded down)."""
    if increment <= 0:
        raise ValueError("increment must be positive")
    n = (value / increment).to_integral_value(rounding=ROUND_FLOOR)
    return (n * increment).quantize(increment) if increment.as_tuple().exponent < 0 else n * increment


def quantize_up(value: Decimal, increment: Decimal) -> Decimal:
    """Smallest multiple of ``increment`` that is >= ``value``."""
    if increment <= 0:
        raise ValueError("increment must be positive")
    n = (value / increment).to_integral_value(rounding=ROUND_CEILING)
    return (n * increment).quantize(increment) if increment.as_tuple().exponent < 0 else n * increment


def quantize_nearest(value: Decimal, increment: Decimal) -> Decimal:
    """Nearest multiple of ``increment`` (banker's rounding on ties)."""
    if increment <= 0:
        raise ValueError("increment must be positive")
    n = (value / increment).to_integral_value(rounding=ROUND_HALF_EVEN)
    return (n * increment).quantize(increment) if increment.as_tuple().exponent < 0 else n * increment


def is_multiple(value: Decimal, increment: Decimal) -> bool:
    return increment > 0 and (value % increment) == 0


def to_units(value: Decimal, unit: Decimal) -> int:
    """``value / unit`` as an int; raises if ``value`` is not an exact multiple of ``unit``."""
    q, r = divmod(value, unit)
    if r != 0:
        raise ValueError(f"{value} is not a multiple of {unit}")
    return int(q)


def from_units(units: int, unit: Decimal) -> Decimal:
    """Inverse of :func:`to_units`, exact."""
    with localcontext() as ctx:
        ctx.prec = 50
        return (Decimal(units) * unit).quantize(unit) if unit.as_tuple().exponent < 0 else Decimal(units) * unit


_MAX_UNIT_DIGITS = 100  # far beyond any venue's decimals; bounds the work a hostile call can ask for
_MAX_EXPONENT = 4300  # like Python's int/str digit limit: a bigger exponent is not a venue number


def _is_digits(part: str) -> bool:
    """ASCII decimal digits only (str.isdigit alone would also take other scripts' digits)."""
    return part.isascii() and part.isdigit()


def py_parse_units(text: str, digits: int) -> int:
    """Parse a decimal string into integer units of 10**-digits without going through float.

    ``parse_units("12.5", 2) == 1250``. Grammar: surrounding whitespace, then one optional sign,
    then ASCII digits with at most one ``.`` (at least one digit), optionally followed by an
    exponent (``e``/``E``, optional sign, digits). Decimals beyond ``digits`` must be zeros,
    otherwise ValueError (a size we cannot represent exactly is a bad message, not something to
    round). Anything else - underscores, inner spaces, a second sign, non-ASCII digits - is a
    ValueError naming the text; a non-str text is a TypeError. ``parse_units`` is the C version of
    this function when the extension is built (same results and errors; the tests compare them).
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_units needs a str, got {type(text).__name__}")
    digits = _index(digits)
    if not 0 <= digits <= _MAX_UNIT_DIGITS:
        raise ValueError(f"digits must be in [0, {_MAX_UNIT_DIGITS}], got {digits}")
    s = text.strip()
    neg = s[:1] == "-"
    if neg or s[:1] == "+":
        s = s[1:]
    mantissa, exponent = s, None
    if "e" in s or "E" in s:
        mantissa, _, exponent = s.replace("E", "e").partition("e")
    whole, _, frac = mantissa.partition(".")
    if not whole and not frac:
        raise ValueError(f"not a number: {text!r}")
    if (whole and not _is_digits(whole)) or (frac and not _is_digits(frac)):
        raise ValueError(f"not a plain decimal number: {text!r}")
    if exponent is not None:
        exp_digits = exponent[1:] if exponent[:1] in ("+", "-") else exponent
        if not _is_digits(exp_digits):
            raise ValueError(f"not a plain decimal number: {text!r}")
        exp = int(exponent)
        if abs(exp) > _MAX_EXPONENT:
            raise ValueError(f"{text!r} is out of range")
        m = int(whole + frac)
        shift = exp + digits - len(frac)
        if shift >= 0:
            v = m * 10**shift
        else:
            v, rest = divmod(m, 10**-shift)
            if rest:
                raise ValueError(f"{text!r} has more than {digits} decimals")
        return -v if neg else v
    if len(frac) > digits:
        if frac[digits:].strip("0"):
            raise ValueError(f"{text!r} has more than {digits} decimals")
        frac = frac[:digits]
    v = int((whole + frac.ljust(digits, "0")) or "0")
    return -v if neg else v


def py_plain_units(text: str, digits: int) -> int | None:
    """The strict subset of :func:`py_parse_units` the feeds' hot paths use: an unsigned plain
    decimal (ASCII digits, at most one ``.``, no whitespace or sign, extra decimals zero) whose
    value fits int64, in units of 10**-digits; None for anything else (the caller then takes its
    fully checked path). ``plain_units`` is its C version when the extension is built."""
    if not isinstance(text, str) or not isinstance(digits, int) or not 0 <= digits <= 18:
        return None
    whole, _, frac = text.partition(".")
    if not (whole or frac) or (whole and not _is_digits(whole)) or (frac and not _is_digits(frac)):
        return None
    if len(frac) > digits:
        if frac[digits:].strip("0"):
            return None
        frac = frac[:digits]
    v = int((whole + frac.ljust(digits, "0")) or "0")
    return v if v <= _INT64_MAX else None


_INT64_MAX = 2**63 - 1

# The C versions (arbkit.core._book, built by setup.py) are used unless the extension is missing
# or ARBKIT_PARSE_IMPL=python; they defer every rare form and every error to the functions above.
c_parse_units: Callable[[str, int], int] | None = None
c_plain_units: Callable[[str, int], int | None] | None = None
if os.environ.get("ARBKIT_PARSE_IMPL", "").lower() != "python":
    try:
        from arbkit.core._book import parse_units as c_parse_units, plain_units as c_plain_units
    except ImportError:  # not built, or built from an older source without them
        c_parse_units = c_plain_units = None

PARSE_IMPLEMENTATION = "c" if c_parse_units is not None else "python"
parse_units: Callable[[str, int], int] = c_parse_units or py_parse_units
plain_units: Callable[[str, int], int | None] = c_plain_units or py_plain_units
