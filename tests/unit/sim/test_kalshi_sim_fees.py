"""Kalshi fixed-point parsing, price level structures, fee rounding and RSA-PSS verification."""

from __future__ import annotations

import base64
import stat
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from arbkit.core.fees import kalshi_fee
from arbkit.sim.kalshi.auth import AuthError, KeyRegistry, auth_headers, generate_key, load_private_key, sign
from arbkit.sim.kalshi.fees import CENT, DIRECT_MEMBER_PRECISION, NON_DIRECT_MEMBER_PRECISION, FeeAccumulator, model_fee_micros
from arbkit.sim.kalshi.fixed import FixedPointError, fmt_count, fmt_money, fmt_price, on_grid, parse_count, parse_price


def test_fixed_point_strings_round_trip_and_refuse_what_cannot_be_exact() -> None:
    assert parse_price("0.42") == parse_price("0.4200") == parse_price("0.420000") == 4200
    assert fmt_price(4200) == "0.4200" and fmt_price(55) == "0.0055"
    assert parse_count("10") == parse_count("10.0") == parse_count("10.00") == 1000
    assert fmt_count(1000) == "10.00" and fmt_count(-450) == "-4.50"
    assert fmt_money(5_000) == "0.0050" and fmt_money(9_903) == "0.009903" and fmt_money(-100) == "-0.0001"
    for bad in ("0.42001", "abc", "", ".", "1e-2", "0.4.2"):
        with pytest.raises(FixedPointError):
            parse_price(bad)
    with pytest.raises(FixedPointError):
        parse_count("1.001")
    with pytest.raises(FixedPointError):
        parse_count(10)  # type: ignore[arg-type]


def test_price_level_structures() -> None:
    assert on_grid("linear_cent", 4200) and not on_grid("linear_cent", 4250)
    assert not on_grid("linear_cent", 0) and not on_grid("linear_cent", 10_000)
    assert on_grid("deci_cent", 4210) and not on_grid("deci_cent", 4215)
    # tapered: $0.001 below $0.10 and above $0.90, $0.01 between; the boundaries belong to both
    assert on_grid("tapered_deci_cent", 50) and on_grid("tapered_deci_cent", 990)
    assert on_grid("tapered_deci_cent", 1_000) and on_grid("tapered_deci_cent", 1_100)
    assert not on_grid("tapered_deci_cent", 1_010) and not on_grid("tapered_deci_cent", 5_050)
    assert on_grid("tapered_deci_cent", 9_010) and on_grid("tapered_deci_cent", 9_990)
    assert not on_grid("tapered_deci_cent", 9_995)


def test_model_fee_is_ceiled_to_a_centicent() -> None:
    # 0.07 * 1 * 0.55 * 0.45 = 0.017325 -> $0.0174
    assert model_fee_micros(Decimal("0.07"), 5_500, 100) == 17_400
    # 0.07 * 10 * 0.5 * 0.5 = 0.175 exactly
    assert model_fee_micros(Decimal("0.07"), 5_000, 1_000) == 175_000
    assert model_fee_micros(Decimal(0), 5_000, 1_000) == 0


@pytest.mark.parametrize(
    "revenue,trade_fee,expected",
    [
        # docs.kalshi.com "Fee Rounding" worked examples: (rounding fee, rebate, net fee) per fill.
        # subpenny: buy 3 at $0.055 as three 1-lot fills
        (-55_000, 8_500, [(6_500, 0, 15_000), (6_500, 10_000, 5_000), (6_500, 0, 15_000)]),
        # fractional: buy 0.90 at $0.50 as three 0.30-lot fills
        (-150_000, 4_100, [(5_900, 0, 10_000), (5_900, 10_000, 0), (5_900, 0, 10_000)]),
        # combined: buy 0.09 at $0.3301 as three 0.03-lot fills
        (-9_903, 500, [(9_597, 0, 10_097), (9_597, 10_000, 97), (9_597, 10_000, 97)]),
    ],
)
def test_fee_accumulator_reproduces_the_documented_tables(revenue: int, trade_fee: int, expected: list[tuple[int, int, int]]) -> None:
    """Rounding, rebate and net fee match the doc's columns. (The doc's "Balance Change" column
    shows the floored change before the rebate on rebate rows; the account moves by revenue - net
    fee, which is what is booked here and is whole cents either way.) The examples assume the
    $0.01 balance precision of non-direct members."""
    acc = FeeAccumulator(NON_DIRECT_MEMBER_PRECISION)
    got = []
    for _ in range(3):
        f = acc.apply("o1", revenue, trade_fee)
        got.append((f.rounding_fee, f.rebate, f.net_fee))
        assert f.balance_change % CENT == 0
        assert f.balance_change == revenue - f.net_fee
    assert got == expected


def test_single_whole_cent_fill_matches_core_kalshi_fee_for_non_direct_members_only() -> None:
    """Whole-cent price, whole contracts, one fill: a non-direct member pays ceil_to_cent(model) —
    core's formula — while a direct member (an API account) pays the model fee ceiled to $0.0001."""
    for price_u, lots in ((5_500, 100), (4_000, 400), (100, 1_000), (9_900, 700)):
        acc = FeeAccumulator(NON_DIRECT_MEMBER_PRECISION)
        f = acc.fill("x", Decimal("0.07"), price_u, lots, is_buy=True)
        core = kalshi_fee(Decimal(price_u) / 10_000, Decimal(lots) / 100, Decimal("0.07"))
        assert Decimal(f.net_fee) / 1_000_000 == core
    direct = FeeAccumulator(DIRECT_MEMBER_PRECISION)
    assert direct.fill("x", Decimal("0.07"), 5_000, 100, is_buy=True).net_fee == 17_500  # $0.0175, core says $0.02
    assert direct.fill("y", Decimal("0.07"), 4_000, 400, is_buy=False).net_fee == 67_200


def test_many_fills_of_one_order_cost_less_than_per_fill_cent_rounding() -> None:
    """The accumulator's rebates: ten 1-lot fills at $0.50 (model fee $0.0175 each)."""
    acc = FeeAccumulator(NON_DIRECT_MEMBER_PRECISION)
    total = sum(acc.fill("o", Decimal("0.07"), 5_000, 100, is_buy=True).net_fee for _ in range(10))
    per_fill_core = 10 * kalshi_fee(Decimal("0.5"), Decimal(1), Decimal("0.07"))  # 10 * $0.02
    assert Decimal(total) / 1_000_000 < per_fill_core
    assert total == 180_000  # $0.175 once rounded: 0.18


def test_rsa_pss_verification(tmp_path: Path) -> None:
    key = generate_key(tmp_path)
    assert stat.S_IMODE(key.private_key_path.stat().st_mode) == 0o600
    now = [1_780_000_000_000]
    reg = KeyRegistry(tolerance_ms=5_000, now_ms=lambda: now[0])
    reg.add(key.key_id, key.public_key_pem, "acct-1")
    pk = load_private_key(key.private_key_path)
    h = auth_headers(key.key_id, pk, "GET", "/trade-api/v2/portfolio/balance", now_ms=now[0])
    assert reg.verify("GET", "/trade-api/v2/portfolio/balance", h) == "acct-1"
    # the query string is not part of what is signed
    h = auth_headers(key.key_id, pk, "GET", "/trade-api/v2/portfolio/orders?limit=5", now_ms=now[0])
    assert reg.verify("GET", "/trade-api/v2/portfolio/orders", h) == "acct-1"

    def refused(headers: dict[str, str], method: str = "GET", path: str = "/trade-api/v2/portfolio/balance") -> str:
        with pytest.raises(AuthError) as exc:
            reg.verify(method, path, headers)
        return exc.value.reason

    good = auth_headers(key.key_id, pk, "GET", "/trade-api/v2/portfolio/balance", now_ms=now[0])
    assert refused(good, method="POST") == "bad_signature"
    assert refused({**good, "KALSHI-ACCESS-KEY": "nope"}) == "unknown_key"
    assert refused({k: v for k, v in good.items() if k != "KALSHI-ACCESS-SIGNATURE"}) == "missing_headers"
    assert refused({**good, "KALSHI-ACCESS-SIGNATURE": "!!!"}) == "bad_signature"
    assert refused({**good, "KALSHI-ACCESS-TIMESTAMP": "12ab"}) == "bad_timestamp"
    now[0] += 5_001
    assert refused(good) == "stale_timestamp"
    now[0] -= 10_002
    assert refused(good) == "stale_timestamp"
    now[0] += 5_001
    assert reg.verify("GET", "/trade-api/v2/portfolio/balance", good) == "acct-1"
    # PSS with a salt length other than the digest length is refused (the documented form only)
    ts = str(now[0])
    sig = pk.sign(f"{ts}GET/trade-api/v2/portfolio/balance".encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH), hashes.SHA256())
    other = {"KALSHI-ACCESS-KEY": key.key_id, "KALSHI-ACCESS-TIMESTAMP": ts, "KALSHI-ACCESS-SIGNATURE": base64.b64encode(sig).decode()}
    assert refused(other) == "bad_signature"
    assert sign(pk, ts, "get", "/p") != sign(pk, ts, "GET", "/p")  # randomized PSS salt
    assert reg.refused["stale_timestamp"] == 2
