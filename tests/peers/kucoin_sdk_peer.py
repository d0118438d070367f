"""Runs INSIDE the kucoin-universal-sdk peer venv (tests/peers/setup_kucoin_peer.sh), driven by
tests/integration/sim/test_kucoin_sim_official_sdk.py against a KuCoin simulator on 127.0.0.1.

argv: rest_url api_key api_secret passphrase symbol price size
Reads the full level-2 book (signed), places an HF limit order (sync), reads it by clientOid and by
order id, cancels it by clientOid (sync), reads the account list and the trade fees, and subscribes
the public level-2 increments over the SDK's own WebSocket client (bullet-public, welcome, ping,
ack), all with the SDK's own models; prints one JSON document of what it saw.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from kucoin_universal_sdk.api import DefaultClient
from kucoin_universal_sdk.generate.account.account import GetSpotAccountListReqBuilder
from kucoin_universal_sdk.generate.account.fee import GetSpotActualFeeReqBuilder
from kucoin_universal_sdk.generate.spot.market import GetFullOrderBookReqBuilder
from kucoin_universal_sdk.generate.spot.order import (
    AddOrderSyncReq,
    AddOrderSyncReqBuilder,
    CancelOrderByClientOidSyncReqBuilder,
    GetOrderByClientOidReqBuilder,
    GetOrderByOrderIdReqBuilder,
)
from kucoin_universal_sdk.model import ClientOptionBuilder, TransportOptionBuilder, WebSocketClientOptionBuilder


def main() -> None:
    rest_url, key, secret, passphrase, symbol, price, size = sys.argv[1:8]
    opt = (ClientOptionBuilder().set_key(key).set_secret(secret).set_passphrase(passphrase)
           .set_spot_endpoint(rest_url).set_futures_endpoint(rest_url).set_broker_endpoint(rest_url)
           .set_transport_option(TransportOptionBuilder().set_keep_alive(True).build())
           .set_websocket_client_option(WebSocketClientOptionBuilder().build())
           .build())
    client = DefaultClient(opt)
    rest = client.rest_service()
    market = rest.get_spot_service().get_market_api()
    orders = rest.get_spot_service().get_order_api()
    out: dict = {}

    book = market.get_full_order_book(GetFullOrderBookReqBuilder().set_symbol(symbol).build())
    out["book"] = {"sequence": book.sequence, "best_bid": book.bids[0], "best_ask": book.asks[0],
                   "levels": [len(book.bids), len(book.asks)]}

    coid = f"peer-{int(time.time() * 1000)}"
    placed = orders.add_order_sync(AddOrderSyncReqBuilder().set_client_oid(coid).set_symbol(symbol)
                                   .set_side(AddOrderSyncReq.SideEnum.BUY).set_type(AddOrderSyncReq.TypeEnum.LIMIT)
                                   .set_price(price).set_size(size)
                                   .set_time_in_force(AddOrderSyncReq.TimeInForceEnum.GTC).build())
    out["placed"] = {"order_id": placed.order_id, "client_oid": placed.client_oid, "status": placed.status.value,
                     "origin_size": placed.origin_size, "deal_size": placed.deal_size}
    by_coid = orders.get_order_by_client_oid(GetOrderByClientOidReqBuilder().set_client_oid(coid)
                                             .set_symbol(symbol).build())
    by_id = orders.get_order_by_order_id(GetOrderByOrderIdReqBuilder().set_order_id(placed.order_id)
                                         .set_symbol(symbol).build())
    out["queried"] = {"id": by_coid.id, "active": by_coid.active, "price": by_coid.price, "size": by_coid.size,
                      "side": by_coid.side.value, "same_by_id": by_id.id == by_coid.id and by_id.client_oid == coid}
    canceled = orders.cancel_order_by_client_oid_sync(CancelOrderByClientOidSyncReqBuilder().set_client_oid(coid)
                                                      .set_symbol(symbol).build())
    out["canceled"] = {"client_oid": canceled.client_oid, "status": canceled.status.value,
                       "canceled_size": canceled.canceled_size}
    after = orders.get_order_by_client_oid(GetOrderByClientOidReqBuilder().set_client_oid(coid)
                                           .set_symbol(symbol).build())
    out["after_cancel"] = {"active": after.active, "cancel_exist": after.cancel_exist}
    accts = rest.get_account_service().get_account_api().get_spot_account_list(
        GetSpotAccountListReqBuilder().set_type("trade").build())
    out["accounts"] = sorted(a.currency for a in accts.data)
    fees = rest.get_account_service().get_fee_api().get_spot_actual_fee(
        GetSpotActualFeeReqBuilder().set_symbols(symbol).build())
    out["fees"] = [(f.symbol, f.taker_fee_rate, f.maker_fee_rate) for f in fees.data]

    # public WebSocket: the SDK's own token provider, welcome wait, ping loop and acks
    got: list = []
    seen = threading.Event()

    def on_increment(topic, subject, data) -> None:
        got.append({"topic": topic, "subject": subject, "start": data.sequence_start, "end": data.sequence_end})
        seen.set()

    ws = client.ws_service().new_spot_public_ws()
    ws.start()
    sub_id = ws.orderbook_increment([symbol], on_increment)
    out["ws_subscribed"] = bool(sub_id)
    # a change to the book (place and cancel one more order) makes an increment
    coid2 = coid + "-b"
    orders.add_order_sync(AddOrderSyncReqBuilder().set_client_oid(coid2).set_symbol(symbol)
                          .set_side(AddOrderSyncReq.SideEnum.BUY).set_type(AddOrderSyncReq.TypeEnum.LIMIT)
                          .set_price(price).set_size(size).set_time_in_force(AddOrderSyncReq.TimeInForceEnum.GTC)
                          .build())
    orders.cancel_order_by_client_oid_sync(CancelOrderByClientOidSyncReqBuilder().set_client_oid(coid2)
                                           .set_symbol(symbol).build())
    out["ws_increment"] = got[0] if seen.wait(10) else None
    ws.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
