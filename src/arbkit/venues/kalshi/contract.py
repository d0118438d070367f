"""Contract adapter: the Kalshi package wired to one account of a running simulator.

Used by the shared venue contract suite (tests/contract/). Only public constructors and
methods of the package are used: ``KalshiSigner.from_pem_file``, ``KalshiGateway`` (market
metadata -> instruments), ``KalshiMarketFeed`` and ``KalshiUserStream``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from arbkit.core.enums import LiquiditySide, Side, Venue
from arbkit.core.instruments import Instrument
from arbkit.venues.base import EventSink
from arbkit.venues.contract import ContractTimings, SimFacts, VenueBundle, collecting_sink
from arbkit.venues.kalshi import constants as C
from arbkit.venues.kalshi import fees as kfees
from arbkit.venues.kalshi.auth import KalshiSigner
from arbkit.venues.kalshi.feed import FeedConfig, KalshiMarketFeed
from arbkit.venues.kalshi.gateway import GatewayConfig, KalshiGateway
from arbkit.venues.kalshi.user import KalshiUserStream, UserStreamConfig

VENUE_KEY = "kalshi"
# The simulator's API accounts are direct members: balances move to $0.0001, so the documented
# rounding of a single fill leaves the trade fee (rounded up to $0.0001) as the whole fee.
BALANCE_PRECISION = C.CENTICENT


def fee_rule(instrument: Instrument, side: Side, price: Decimal, quantity: Decimal,
             liquidity: LiquiditySide) -> Decimal:
    """The package's documented Kalshi fee of one fill of a fresh order (``fees.single_fill_fee``)."""
    rate = kfees.spec_rate(instrument.fee, liquidity)
    if rate == 0:
        return Decimal(0)
    return kfees.single_fill_fee(rate, price, quantity, side is Side.BUY, BALANCE_PRECISION)


def _section(info: dict[str, Any]) -> dict[str, Any]:
    sec = info.get(VENUE_KEY, info)
    if not isinstance(sec, dict) or "rest_url" not in sec or "ws_url" not in sec:
        raise ValueError("the simulator info document has no kalshi section (was it started with kalshi?)")
    return sec


def bundle_from_sim_info(info: dict[str, Any], account_index: int = 0, sink: EventSink | None = None, *,
                         timings: ContractTimings | None = None) -> VenueBundle:
    """Gateway, feed and user stream of simulator account ``account_index``; call
    ``await bundle.open()`` before use (it reads market metadata to build the instruments)."""
    sec = _section(info)
    t = timings or ContractTimings()
    try:
        acct = sec["accounts"][account_index]
    except (IndexError, KeyError):
        raise ValueError(f"the simulator has no kalshi account #{account_index}") from None
    events: list = []
    sink = sink or collecting_sink(events)
    signer = KalshiSigner.from_pem_file(acct["key_id"], acct["private_key_path"])
    gateway = KalshiGateway(signer, GatewayConfig(rest_url=sec["rest_url"]))
    feed = KalshiMarketFeed(sink, FeedConfig(
        ws_url=sec["ws_url"], freeze_after_s=t.freeze_after_s, stale_book_after_s=t.stale_book_after_s,
        resync_timeout_s=t.resync_timeout_s, reconnect_initial_s=t.reconnect_initial_s,
        reconnect_max_s=t.reconnect_max_s, watchdog_interval_s=t.watchdog_interval_s,
        ping_interval_s=t.ping_interval_s), signer=signer, rest=gateway)
    user = KalshiUserStream(sink, signer, gateway, UserStreamConfig(
        ws_url=sec["ws_url"], ping_interval_s=t.ping_interval_s, reconnect_initial_s=t.reconnect_initial_s,
        reconnect_max_s=t.reconnect_max_s))

    async def prepare(bundle: VenueBundle) -> None:
        instruments = []
        for m in sec["markets"]:
            yes, no = await gateway.instruments(m["ticker"])
            instruments += [yes, no]
        bundle.instruments[:] = instruments

    return VenueBundle(
        venue=Venue.KALSHI, gateway=gateway, feed=feed, user=user, instruments=[],
        sim=SimFacts(venue_key=VENUE_KEY, account_id=acct["key_id"],
                     market_channels=(C.CH_ORDERBOOK, C.CH_TICKER, C.CH_TRADE), fill_channel=C.CH_FILL,
                     order_path=C.PATH_V2_ORDERS, provisional_fills=False),
        timings=t, fee_rule=fee_rule, prepare=prepare, events=events)


__all__ = ["bundle_from_sim_info"]
