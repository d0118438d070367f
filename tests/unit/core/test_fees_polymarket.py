"""Polymarket fee curve: exact Decimal maths, fractional exponents, maker fees, 5-decimal rounding.

Source: docs.polymarket.com/trading/fees (checked 2026-12-04): ``fee = C x feeRate x p x (1-p)``;
"Fees are rounded to 5 decimal places. The smallest fee charged is 0.00001 USDC"; fee details
``fd = {r: feeRate, e: exponent, to: takerOnly}``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from arbkit.core.enums import LiquiditySide
from arbkit.core.fees import FeeSpec, fee_for, polymarket_fee, polymarket_fee_spec
from arbkit.venues.polymarket.parse import ClobMarketInfo

D = Decimal


def test_docs_fee_table_crypto_100_shares() -> None:
    # The docs' Crypto table (rate 0.07, 100 shares): $0.50 -> $1.75, $0.30 -> $1.47, $0.01 -> $0.07
    for price, shown in (("0.50", "1.75"), ("0.30", "1.47"), ("0.01", "0.07"), ("0.95", "0.33")):
        fee = polymarket_fee(D(price), D(100), D("0.07"), 1)
        assert fee.quantize(D("0.01")) == D(shown), (price, fee)


def test_rounded_to_five_decimals_and_tiny_fees_vanish() -> None:
    assert polymarket_fee(D("0.5"), D("0.001"), D("0.07"), 1) == D("0.00002")  # 0.0000175 -> 0.00002
    assert polymarket_fee(D("0.999"), D("0.01"), D("0.07"), 1) == D("0")  # below 0.000005 -> 0
    assert polymarket_fee(D("0.5"), D("1"), D("0.07"), 1).as_tuple().exponent == -5


def test_integer_exponent_is_exact() -> None:
    # e = 2: 100 * 0.02 * (0.25)^2 = 0.125
    assert polymarket_fee(D("0.5"), D(100), D("0.02"), D(2)) == D("0.12500")
    assert polymarket_fee(D("0.5"), D(100), D("0.02"), 2) == D("0.12500")


def test_fractional_exponent_is_exact_decimal_not_zero() -> None:
    # e = 0.5: 100 * 0.07 * sqrt(0.25) = 3.5 exactly
    assert polymarket_fee(D("0.5"), D(100), D("0.07"), D("0.5")) == D("3.50000")
    # e = 1.5 at p = 0.4: 0.24^1.5 = 0.117575507...; 10 * 0.05 * that = 0.0587877...
    assert polymarket_fee(D("0.4"), D(10), D("0.05"), D("1.5")) == D("0.05879")
    with pytest.raises(TypeError):
        polymarket_fee(D("0.4"), D(10), D("0.05"), 1.5)  # type: ignore[arg-type]


def test_maker_pays_only_when_not_taker_only() -> None:
    taker_only = polymarket_fee_spec(D("0.02"), D(1), taker_only=True)
    both = polymarket_fee_spec(D("0.02"), D(1), taker_only=False)
    assert fee_for(taker_only, D("0.5"), D(100), LiquiditySide.MAKER) == 0
    assert fee_for(taker_only, D("0.5"), D(100), LiquiditySide.TAKER) == D("0.50000")
    assert fee_for(both, D("0.5"), D(100), LiquiditySide.MAKER) == D("0.50000")


def test_clob_market_info_fd_from_the_docs_example() -> None:
    # docs.polymarket.com/api-reference/markets/get-clob-market-info example (checked 2026-12-04)
    raw = (b'{"gst":"2023-11-07T05:31:56Z","r":{},"t":[{"t":"71321045679252212594626385532706912750332728571942532289631'
           b'379312455583992563","o":"Yes"}],"mos":5,"mts":0.01,"mbf":0,"tbf":0,"rfqe":true,"itode":true,"ibce":true,'
           b'"fd":{"r":0.02,"e":2,"to":true},"oas":123}')
    import msgspec

    info = msgspec.json.decode(raw, type=ClobMarketInfo)
    spec = info.fd.spec()
    assert spec.taker_rate == D("0.02") and spec.exponent == D(2) and spec.maker_rate == 0
    frac = msgspec.json.decode(b'{"t":[],"mts":0.001,"fd":{"r":0.07,"e":1.25,"to":false}}', type=ClobMarketInfo)
    fs = frac.fd.spec()
    assert fs.exponent == D("1.25") and fs.maker_rate == D("0.07")
    assert fee_for(fs, D("0.5"), D(100), LiquiditySide.TAKER) > 0


def test_feespec_default_still_integer_compatible() -> None:
    assert fee_for(FeeSpec(kind="polymarket", taker_rate=D("0.02"), exponent=1), D("0.5"), D(10)) == D("0.05000")


async def test_polymarket_instruments_keep_a_fractional_exponent_and_maker_fee() -> None:
    """runtime.wiring.polymarket_instruments used int(fd.e): a fractional exponent became a wrong
    curve. The instrument's FeeSpec now carries fd exactly (and the maker fee when to = false)."""
    import aiohttp
    from aiohttp import web

    from arbkit.runtime.wiring import polymarket_instruments

    async def market(request):
        return web.Response(text='{"t":[{"t":"11","o":"Yes"},{"t":"22","o":"No"}],"mts":0.001,"nr":false,'
                                 '"fd":{"r":0.07,"e":1.5,"to":false},"mos":5}', content_type="application/json")

    app = web.Application()
    app.router.add_get("/clob-markets/{cid}", market)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    try:
        async with aiohttp.ClientSession() as s:
            yes, no = await polymarket_instruments(s, url, "0xc", "11", "22")
    finally:
        await runner.cleanup()
    for inst in (yes, no):
        assert inst.fee.exponent == D("1.5") and inst.fee.taker_rate == D("0.07") and inst.fee.maker_rate == D("0.07")
        assert fee_for(inst.fee, D("0.4"), D(10), LiquiditySide.TAKER) == polymarket_fee(D("0.4"), D(10), D("0.07"),
                                                                                       D("1.5")) > 0
