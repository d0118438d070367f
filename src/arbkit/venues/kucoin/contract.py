"""Contract adapter: the KuCoin package wired to one account of a running simulator.

Used by the shared venue contract suite (tests/contract/). Only public constructors and methods
are used: ``KucoinSigner``, ``KucoinGateway`` (instruments from /api/v2/symbols + /api/v1/trade-fees),
``KucoinMarketFeed`` and ``KucoinUserStream``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from arbkit.core.enums import LiquiditySide, Side, Venue
from arbkit.core.fees import spot_fee
from arbkit.core.instruments import Instrument
from arbkit.venues.base import EventSink
from arbkit.venues.contract import ContractTimings, SimFacts, VenueBundle, collecting_sink
from arbkit.venues.kucoin import constants as C
from arbkit.venues.kucoin.auth import KucoinSigner
from arbkit.venues.kucoin.feed import FeedConfig, KucoinMarketFeed
from arbkit.venues.kucoin.gateway import GatewayConfig, KucoinGateway
from arbkit.venues.kucoin.user import KucoinUserStream, UserStreamConfig

VENUE_KEY = "kucoin"


def fee_rule(instrument: Instrument, side: Side, price: Decimal, quantity: Decimal,
             liquidity: LiquiditySide) -> Decimal:
    """KuCoin's fee of one fill: funds x the account's rate, unrounded, in the quote currency."""
    rate = instrument.fee.taker_rate if liquidity is LiquiditySide.TAKER else instrument.fee.maker_rate
    return spot_fee(price, quantity, rate, instrument.quote, instrument.base or "", instrument.quote)[0]


def _section(info: dict[str, Any]) -> dict[str, Any]:
    sec = info.get(VENUE_KEY, info)
    if not isinstance(sec, dict) or "rest_url" not in sec:
        raise ValueError("the simulator info document has no kucoin section (was it started with kucoin?)")
    return sec


def bundle_from_sim_info(info: dict[str, Any], account_index: int = 0, sink: EventSink | None = None, *,
                         timings: ContractTimings | None = None) -> VenueBundle:
    sec = _section(info)
    t = timings or ContractTimings()
    try:
        acct = sec["accounts"][account_index]
    except (IndexError, KeyError):
        raise ValueError(f"the simulator has no kucoin account #{account_index}") from None
    events: list = []
    sink = sink or collecting_sink(events)
    signer = KucoinSigner(acct["api_key"], acct["api_secret"], acct["passphrase"])
    gateway = KucoinGateway(signer, GatewayConfig(rest_url=sec["rest_url"]))
    lookup = gateway._instruments.get
    feed = KucoinMarketFeed(sink, FeedConfig(
        freeze_after_s=t.freeze_after_s, stale_book_after_s=t.stale_book_after_s, resync_timeout_s=t.resync_timeout_s,
        reconnect_initial_s=t.reconnect_initial_s, reconnect_max_s=t.reconnect_max_s,
        watchdog_interval_s=t.watchdog_interval_s, ping_interval_s=t.ping_interval_s,
        endpoint_override=sec.get("ws_url", "")), gateway, lookup)
    user = KucoinUserStream(sink, gateway, UserStreamConfig(
        ping_interval_s=t.ping_interval_s, reconnect_initial_s=t.reconnect_initial_s,
        reconnect_max_s=t.reconnect_max_s, endpoint_override=sec.get("ws_url", "")), instruments=lookup)

    async def prepare(bundle: VenueBundle) -> None:
        symbols = [m["symbol"] for m in sec.get("markets", [])] or None
        bundle.instruments[:] = await gateway.instruments(symbols)

    return VenueBundle(
        venue=Venue.KUCOIN, gateway=gateway, feed=feed, user=user, instruments=[],
        sim=SimFacts(venue_key=VENUE_KEY, account_id=acct["api_key"], market_channels=(C.TOPIC_LEVEL2,),
                     fill_channel=C.TOPIC_ORDERS_V2, order_path="POST " + C.PATH_HF_ORDERS, provisional_fills=False),
        timings=t, fee_rule=fee_rule, prepare=prepare, events=events)


__all__ = ["bundle_from_sim_info", "fee_rule"]
