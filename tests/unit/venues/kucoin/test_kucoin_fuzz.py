"""Mutated KuCoin frames never escape the market feed or the user stream: each is applied (when
still valid) or counted as malformed, and the book never holds a negative, NaN or crossed-by-garbage
level. Seeded, bounded (a unit test, not the bench)."""

from __future__ import annotations

import json
import random
from decimal import Decimal as D

from arbkit.core.enums import InstrumentKind, Venue
from arbkit.core.events import MessageMalformed, OrderFilled
from arbkit.core.fees import FeeSpec
from arbkit.core.instruments import Instrument
from arbkit.venues.kucoin.feed import FeedConfig, KucoinMarketFeed
from arbkit.venues.kucoin.gateway import GatewayConfig, KucoinGateway
from arbkit.venues.kucoin.user import KucoinUserStream

INST = Instrument(venue=Venue.KUCOIN, symbol="BTC-USDT", kind=InstrumentKind.SPOT, tick_size=D("0.1"),
                  size_increment=D("0.00000001"), min_size=D("0.00001"), quote="USDT", base="BTC",
                  fee=FeeSpec(kind="spot", taker_rate=D("0.001"), maker_rate=D("0.001")))
NASTY = ["NaN", "-1", "1e400", "Infinity", "", "0x10", "99999999999999999999999999999", "-0", "1.000000000000000001"]


def mutate(rng: random.Random, frame: dict) -> str | bytes:
    k = rng.randrange(6)
    text = json.dumps(frame)
    if k == 0:  # a byte flipped (may break UTF-8 too)
        b = bytearray(text.encode())
        b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if k == 1:  # truncated
        return text[: rng.randrange(len(text))]
    if k == 2:  # a number replaced by something nasty
        return text.replace(rng.choice(["65000.1", "0.5", "1000001", "0.25"]), rng.choice(NASTY), 1)
    if k == 3:  # a field removed
        d = json.loads(text)
        data = d.get("data", {})
        if data:
            data.pop(rng.choice(sorted(data)), None)
        return json.dumps(d)
    if k == 4:  # a field with another type
        d = json.loads(text)
        data = d.get("data", {})
        if data:
            data[rng.choice(sorted(data))] = rng.choice([None, [], {}, 7, "x", True])
        return json.dumps(d)
    return text  # unchanged (must apply)


async def test_mutated_level2_frames_never_escape_and_never_corrupt_the_book() -> None:
    events: list = []
    gw = KucoinGateway(None, GatewayConfig(rest_url="http://127.0.0.1:9"))
    feed = KucoinMarketFeed(events.append, FeedConfig(), gw, {"BTC-USDT": INST}.get)
    feed.subscribe([INST.id])
    shard = feed._shards[0]
    st = feed._books["BTC-USDT"]
    rng = random.Random(14)
    seq = 1000000
    st.sync.on_snapshot(seq, [(D("65000.0"), D(1))], [(D("65000.2"), D(1))])
    for _ in range(4000):
        if not st.sync.live:  # a gap or a bad frame dropped the book: a fresh snapshot, as the feed would
            seq += 10
            st.sync.on_snapshot(seq, [(D("65000.0"), D(1))], [(D("65000.2"), D(1))])
        frame = {"topic": "/market/level2:BTC-USDT", "type": "message", "subject": "trade.l2update",
                 "data": {"changes": {"asks": [["65000.1" if rng.random() < 0.5 else "65000.3", "0.5", str(seq + 1)]],
                                      "bids": [["64999.9", "0.25", str(seq + 2)]]},
                          "sequenceStart": seq + 1, "sequenceEnd": seq + 2, "symbol": "BTC-USDT", "time": 1000001}}
        raw = mutate(rng, frame)
        feed._on_frame(shard, raw)  # must not raise
        if st.sync.live:
            seq = st.sync.seq
            bids, asks = st.sync.book.snapshot_levels()
            assert all(p > 0 and s > 0 for p, s in bids + asks)
    bad = [e for e in events if isinstance(e, MessageMalformed)]
    assert bad and feed.malformed.count == len(bad)
    await feed._tasks.cancel_all()


async def test_mutated_order_events_never_escape_and_fills_stay_exact() -> None:
    events: list = []
    gw = KucoinGateway(None, GatewayConfig(rest_url="http://127.0.0.1:9"))
    gw._instruments["BTC-USDT"] = INST
    user = KucoinUserStream(events.append, gw)
    rng = random.Random(15)
    for n in range(3000):
        frame = {"topic": "/spotMarket/tradeOrdersV2", "type": "message", "subject": "orderChange",
                 "channelType": "private",
                 "data": {"symbol": "BTC-USDT", "orderId": f"o{n}", "clientOid": f"c{n}", "type": "match",
                          "status": "match", "side": "buy", "matchPrice": "65000.1", "matchSize": "0.5",
                          "tradeId": str(1000001 + n), "liquidity": "taker", "filledSize": "0.5", "remainSize": "0.25",
                          "ts": 1000001}}
        user._on_frame(mutate(rng, frame))  # must not raise
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert fills and len({f.trade_id for f in fills}) == len(fills)
    for f in fills:
        assert f.price > 0 and f.quantity > 0 and f.fee == f.price * f.quantity * D("0.001")
    assert [e for e in events if isinstance(e, MessageMalformed)]
