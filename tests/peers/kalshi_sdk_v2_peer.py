"""Acceptance peer: Kalshi's newest official SDK (kalshi-python-sync 3.34.0, Python >= 3.13) drives
the simulator's V2 order entry and reads the answers through its own strict (pydantic) models.

Run by tests/integration/sim/test_kalshi_sim_official_sdk_v2.py inside .venv-peer-kalshi (made by
tests/peers/setup_kalshi_peer.sh); it must not import arbkit. Usage:

    python kalshi_sdk_v2_peer.py REST_URL TICKER KEY_ID_0 PEM_0 KEY_ID_1 PEM_1

Prints one JSON object: what each call returned (as the SDK parsed it), or raises (exit != 0).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import kalshi_python_sync as k
from kalshi_python_sync.models.book_side import BookSide


def client(rest_url: str, key_id: str, pem_path: str) -> k.KalshiClient:
    config = k.Configuration(host=rest_url)
    config.api_key_id = key_id
    config.private_key_pem = Path(pem_path).read_text()
    return k.KalshiClient(config)


def main() -> None:
    rest_url, ticker, kid0, pem0, kid1, pem1 = sys.argv[1:7]
    taker, maker = client(rest_url, kid0, pem0), client(rest_url, kid1, pem1)
    out: dict = {"sdk_version": k.__version__}
    # account 1 rests a YES bid (V2: side=bid on the YES book)
    made = maker.create_order_v2(ticker=ticker, side=BookSide.BID, count="5.00", price="0.3000",
                                 time_in_force="good_till_canceled", self_trade_prevention_type="taker_at_cross",
                                 client_order_id="peer-maker-1")
    out["maker_create"] = made.to_dict()
    # account 0 sells YES into it, immediate-or-cancel (V2: side=ask)
    took = taker.create_order_v2(ticker=ticker, side=BookSide.ASK, count="2", price="0.30",
                                 time_in_force="immediate_or_cancel", self_trade_prevention_type="taker_at_cross",
                                 client_order_id="peer-taker-1")
    out["taker_create"] = took.to_dict()
    out["taker_order"] = taker.get_order(took.order_id).order.to_dict()
    out["maker_order"] = maker.get_order(made.order_id).order.to_dict()
    out["taker_fills"] = [f.to_dict() for f in taker.get_fills(order_id=took.order_id).fills]
    out["maker_fills"] = [f.to_dict() for f in maker.get_fills(ticker=ticker).fills]
    out["cancel"] = maker.cancel_order_v2(made.order_id).to_dict()
    out["maker_order_after_cancel"] = maker.get_order(made.order_id).order.to_dict()
    pos = taker.get_positions(ticker=ticker)
    out["taker_positions"] = [p.to_dict() for p in pos.market_positions]
    out["taker_balance"] = taker.get_balance().to_dict()
    batch = maker.batch_create_orders_v2(orders=[
        k.CreateOrderV2Request(ticker=ticker, side=BookSide.BID, count="1.00", price="0.2000",
                               time_in_force="good_till_canceled", self_trade_prevention_type="maker",
                               client_order_id="peer-batch-1"),
        k.CreateOrderV2Request(ticker=ticker, side=BookSide.BID, count="1.00", price="0.2050",
                               time_in_force="good_till_canceled", self_trade_prevention_type="maker",
                               client_order_id="peer-batch-2"),
    ])
    out["batch_create"] = [o.to_dict() for o in batch.orders]
    ok = [o.order_id for o in batch.orders if o.order_id]
    gone = maker.batch_cancel_orders_v2(orders=[k.BatchCancelOrdersV2RequestOrdersInner(order_id=i) for i in ok])
    out["batch_cancel"] = [o.to_dict() for o in gone.orders]
    out["orders_listed"] = [o.client_order_id for o in maker.get_orders(ticker=ticker).orders]
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
