"""KuCoin signing (client and the simulator's verifier), order bodies and fees."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from arbkit.core.enums import InstrumentKind, OrderStatus, Side, TimeInForce, Venue
from arbkit.core.fees import FeeSpec, fee_for, spot_fee
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest
from arbkit.venues.kucoin.auth import KucoinSigner, hmac_b64, verify
from arbkit.venues.kucoin.gateway import order_body, order_state_of
from arbkit.venues.kucoin.parse import KucoinError, OrderWire, unwrap

INST = Instrument(venue=Venue.KUCOIN, symbol="BTC-USDT", kind=InstrumentKind.SPOT, tick_size=D("0.1"),
                  size_increment=D("0.00000001"), min_size=D("0.00001"), min_notional=D("0.1"), quote="USDT",
                  base="BTC", fee=FeeSpec(kind="spot", taker_rate=D("0.001"), maker_rate=D("0.001")))


def req(**kw) -> OrderRequest:
    base = dict(instrument=INST, client_order_id="abc", side=Side.BUY, quantity=D("0.001"), price=D("90000.1"))
    base.update(kw)
    return OrderRequest(**base)


def test_signature_covers_timestamp_method_path_query_and_body() -> None:
    s = KucoinSigner("k", "secret", "pp")
    h = s.headers("POST", "/api/v1/hf/orders/sync", '{"a":1}', ts_ms=1700000000000)
    assert h["KC-API-SIGN"] == hmac_b64("secret", '1700000000000POST/api/v1/hf/orders/sync{"a":1}')
    assert h["KC-API-PASSPHRASE"] == hmac_b64("secret", "pp") and h["KC-API-KEY-VERSION"] == "3"
    assert verify("secret", "pp", "POST", "/api/v1/hf/orders/sync", '{"a":1}', h) is None
    assert verify("secret", "pp", "POST", "/api/v1/hf/orders/sync", '{"a":2}', h) == "Signature verification failed"
    assert verify("secret", "other", "POST", "/api/v1/hf/orders/sync", '{"a":1}', h) == "Invalid KC-API-PASSPHRASE"
    assert "secret" not in repr(s)


def test_order_body_is_the_hf_limit_order() -> None:
    assert order_body(req()) == {"clientOid": "abc", "side": "buy", "symbol": "BTC-USDT", "type": "limit",
                                 "price": "90000.1", "size": "0.001", "timeInForce": "GTC"}
    b = order_body(req(time_in_force=TimeInForce.IOC, side=Side.SELL))
    assert (b["timeInForce"], b["side"]) == ("IOC", "sell")
    assert order_body(req(post_only=True))["postOnly"] is True


@pytest.mark.parametrize("kw, problem", [
    (dict(price=D("90000.15")), "tick"), (dict(quantity=D("0.000001")), "below minimum"),
    (dict(quantity=D("0.0010000001")), "multiple"), (dict(client_order_id="x" * 41), "clientOid"),
    (dict(post_only=True, time_in_force=TimeInForce.IOC), "postOnly")])
def test_order_body_refuses_what_kucoin_refuses(kw, problem) -> None:
    with pytest.raises(ValueError, match=problem):
        order_body(req(**kw))


def test_errors_and_not_found() -> None:
    with pytest.raises(KucoinError) as e:
        unwrap(400, b'{"code":"400100","msg":"order not exist."}')
    assert e.value.not_found and e.value.code == "400100"
    with pytest.raises(KucoinError) as e:
        unwrap(429, b'{"code":"429000","msg":"Too Many Requests"}')
    assert not e.value.not_found
    with pytest.raises(KucoinError):
        unwrap(200, b"<html>")
    assert unwrap(200, b'{"code":"200000","data":[1]}') == [1]


def test_order_state_from_the_venue_record() -> None:
    w = OrderWire(id="o", symbol="BTC-USDT", side="buy", price="1", size="2", deal_size="0.5", active=True,
                  client_oid="c")
    assert order_state_of(w).status is OrderStatus.PARTIALLY_FILLED
    w = OrderWire(id="o", symbol="BTC-USDT", side="buy", price="1", size="2", deal_size="0.5", active=False)
    assert order_state_of(w).status is OrderStatus.CANCELED


def test_spot_fee_in_the_fee_currency() -> None:
    # the SDK's trade-history example: 0.00001 BTC at 67717.6, rate 0.001 -> 0.000677176 USDT
    assert spot_fee(D("67717.6"), D("0.00001"), D("0.001"), "USDT", "BTC", "USDT") == (D("0.000677176"), "USDT")
    assert fee_for(INST.fee, D("67717.6"), D("0.00001")) == D("0.000677176")
    assert spot_fee(D("2"), D("10"), D("0.001"), "BTC", "BTC", "USDT") == (D("0.010"), "BTC")
