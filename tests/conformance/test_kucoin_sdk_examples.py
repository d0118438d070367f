"""KuCoin's own example payloads (the official kucoin-universal-sdk's tests @ 78c90c77, collected
in ../shared/fixtures/kucoin/kucoin-universal-sdk_examples) parse with arbkit.venues.kucoin, the
signing known answers of the SDK's signer test hold for our signer, and the simulator answers in
the same shapes. Skipped when ../shared is absent."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from arbkit.core.enums import OrderStatus
from arbkit.venues.kucoin import parse as P
from arbkit.venues.kucoin.auth import KucoinSigner, hmac_b64
from arbkit.venues.kucoin.gateway import order_state_of

FIX = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "kucoin"
EX = FIX / "kucoin-universal-sdk_examples"
pytestmark = pytest.mark.skipif(not EX.is_dir(), reason="../shared/fixtures/kucoin is absent")


def ex(name: str) -> dict:
    return json.loads((EX / f"{name}.json").read_text())


def test_signing_known_answers_of_the_official_sdk() -> None:
    v = json.loads((FIX / "kucoin_signing_vectors.json").read_text())
    assert hmac_b64(v["sign"]["api_secret"], v["sign"]["plain"]) == v["sign"]["expected_signature"]
    s = KucoinSigner("key", v["sign"]["api_secret"], "pass")
    h = s.headers("GET", "/api/v1/accounts?type=trade", "", ts_ms=1234567890000)
    assert h["KC-API-TIMESTAMP"] == v["headers"]["KC-API-TIMESTAMP_for_time_1234567890"]
    assert h["KC-API-KEY-VERSION"] == v["headers"]["KC-API-KEY-VERSION"]
    assert h["KC-API-PASSPHRASE"] == hmac_b64(v["sign"]["api_secret"], "pass")
    assert h["KC-API-SIGN"] == hmac_b64(v["sign"]["api_secret"], "1234567890000GET/api/v1/accounts?type=trade")


def test_rest_examples_parse() -> None:
    tok = msgspec.convert(P.unwrap(200, json.dumps(ex("api_market_test__get_public_token_resp_model")).encode()), P.Token)
    assert tok.instance_servers[0].ping_interval == 18000 and tok.instance_servers[0].ping_timeout == 10000
    sync = msgspec.convert(ex("api_order_test__add_order_sync_resp_model")["data"], P.SyncOrderWire)
    assert sync.status == "open" and P.dec(sync.remain_size) == Decimal("0.00001")
    o = msgspec.convert(ex("api_order_test__get_order_by_client_oid_resp_model")["data"], P.OrderWire)
    st = order_state_of(o)
    assert st.status is OrderStatus.FILLED and st.filled_quantity == Decimal("0.00001") and st.price == Decimal(70000)
    fills = msgspec.convert(ex("api_order_test__get_trade_history_resp_model")["data"], P.FillsPage)
    f = fills.items[0]
    assert P.dec(f.fee) == P.dec(f.funds) * P.dec(f.fee_rate)  # KuCoin's fee is funds x rate, unrounded
    fees = msgspec.convert(ex("api_fee_test__get_spot_actual_fee_resp_model")["data"], list[P.TradeFeeWire])
    assert fees[0].taker_fee_rate == "0.001"
    seq, bids, asks = P.parse_snapshot(ex("api_market_test__get_full_order_book_resp_model")["data"])
    assert seq == 14610502970 and bids[0][0] < asks[0][0]
    accts = msgspec.convert(ex("api_account_test__get_spot_account_list_resp_model")["data"], list[P.AccountWire])
    assert accts[0].type == "trade"
    rows = msgspec.convert(ex("api_market_test__get_all_symbols_resp_model")["data"], list[P.SymbolWire])
    inst = P.instrument_from_symbol(rows[0], Decimal("0.001"), Decimal("0.001"))
    assert inst.tick_size == Decimal(rows[0].price_increment) and inst.min_notional == Decimal(rows[0].min_funds)


def test_ws_examples_parse() -> None:
    f = msgspec.convert(ex("api_spot_public_test__orderbook_increment_resp_model"), P.WsFrame)
    u = msgspec.convert(f.data, P.L2Update)
    assert P.l2_changes(u) == [(False, Decimal("67993.3"), Decimal("1.21427407"), 14701689783)]
    f = msgspec.convert(ex("api_spot_private_test__order_v2_resp_model"), P.WsFrame)
    o = msgspec.convert(f.data, P.OrderChange)
    assert (f.topic, f.subject, o.type, o.status) == ("/spotMarket/tradeOrdersV2", "orderChange", "received", "new")
    f = msgspec.convert(ex("api_spot_private_test__account_resp_model"), P.WsFrame)
    b = msgspec.convert(f.data, P.BalanceChange)
    assert P.dec(b.total) == P.dec(b.available) + P.dec(b.hold)
