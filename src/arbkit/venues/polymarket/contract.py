"""Contract adapter: the Polymarket package wired to one account of a running simulator.

Used by the shared venue contract suite (tests/contract/). Only public constructors and
methods of the package are used: ``PolymarketGateway`` (L1-derived API credentials, market
metadata), ``PolymarketMarketFeed`` and ``PolymarketUserStream``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from arbkit.core.enums import InstrumentKind, Venue
from arbkit.core.fees import FeeSpec
from arbkit.core.instruments import Instrument
from arbkit.venues.base import EventSink
from arbkit.venues.contract import ContractTimings, SimFacts, VenueBundle, collecting_sink
from arbkit.venues.polymarket import constants as C
from arbkit.venues.polymarket.feed import FeedConfig, PolymarketMarketFeed
from arbkit.venues.polymarket.gateway import GatewayConfig, MarketMeta, PolymarketGateway
from arbkit.venues.polymarket.user import PolymarketUserStream, UserStreamConfig

VENUE_KEY = "polymarket"
COLLATERAL = "pUSD"  # CLOB V2 collateral: what the gateway reports balances and fees in
SIZE_INCREMENT = Decimal("0.01")  # the official order builder rounds sizes to 2 decimals


def _section(info: dict[str, Any]) -> dict[str, Any]:
    sec = info.get(VENUE_KEY, info)
    if not isinstance(sec, dict) or "rest_url" not in sec:
        raise ValueError("the simulator info document has no polymarket section (was it started with polymarket?)")
    return sec


def _fee_spec(meta: MarketMeta) -> FeeSpec:
    return meta.fee_spec()


def _instrument(market: dict[str, Any], token: dict[str, Any], other: dict[str, Any], meta: MarketMeta) -> Instrument:
    return Instrument(
        venue=Venue.POLYMARKET, symbol=token["token_id"], kind=InstrumentKind.OUTCOME, tick_size=meta.tick_size,
        size_increment=SIZE_INCREMENT, min_size=meta.min_size, quote=COLLATERAL,
        outcome=str(token.get("outcome", "")).upper(), market_id=market["condition_id"],
        event_id=market.get("event_id"), complement=other["token_id"], neg_risk=meta.neg_risk, fee=_fee_spec(meta),
        title=market.get("question", ""))


def bundle_from_sim_info(info: dict[str, Any], account_index: int = 0, sink: EventSink | None = None, *,
                         timings: ContractTimings | None = None) -> VenueBundle:
    """Gateway, feed and user stream of simulator account ``account_index``; call
    ``await bundle.open()`` before use (it derives the API credentials and reads market metadata)."""
    sec = _section(info)
    t = timings or ContractTimings()
    try:
        acct = sec["accounts"][account_index]
    except (IndexError, KeyError):
        raise ValueError(f"the simulator has no polymarket account #{account_index}") from None
    events: list = []
    sink = sink or collecting_sink(events)
    # A deposit-wallet account (created as a new API user) signs as POLY_1271 with its wallet as funder.
    sig_type = int(acct.get("signature_type", C.SignatureType.EOA))
    gateway = PolymarketGateway(acct["private_key"], None, GatewayConfig(
        rest_url=sec["rest_url"], chain_id=int(sec.get("chain_id", C.POLYGON)), signature_type=sig_type,
        funder=acct.get("deposit_wallet") if sig_type == C.SignatureType.POLY_1271 else None))
    tick_sizes = {tok["token_id"]: Decimal(m["tick_size"]) for m in sec["markets"] for tok in m["tokens"]}
    feed = PolymarketMarketFeed(sink, FeedConfig(
        ws_url=sec["ws_market_url"], rest_url=sec["rest_url"], freeze_after_s=t.freeze_after_s,
        stale_book_after_s=t.stale_book_after_s, resync_timeout_s=t.resync_timeout_s,
        reconnect_initial_s=t.reconnect_initial_s, reconnect_max_s=t.reconnect_max_s,
        watchdog_interval_s=t.watchdog_interval_s, ping_interval_s=t.ping_interval_s), tick_sizes=tick_sizes)

    async def prepare(bundle: VenueBundle) -> None:
        creds = await gateway.create_or_derive_api_creds()
        instruments = []
        for m in sec["markets"]:
            toks = m["tokens"]
            for i, tok in enumerate(toks):
                meta = await gateway.metadata.get(tok["token_id"], m["condition_id"])
                instruments.append(_instrument(m, tok, toks[1 - i], meta))
        bundle.instruments[:] = instruments
        bundle.user = PolymarketUserStream(sink, creds, UserStreamConfig(
            ws_url=sec["ws_user_url"], ping_interval_s=t.ping_interval_s, reconnect_initial_s=t.reconnect_initial_s,
            reconnect_max_s=t.reconnect_max_s), gateway=gateway)

    return VenueBundle(
        venue=Venue.POLYMARKET, gateway=gateway, feed=feed, user=None, instruments=[],
        sim=SimFacts(venue_key=VENUE_KEY, account_id=acct["address"].lower(), market_channels=("market",),
                     fill_channel="user", order_path=C.PATH_POST_ORDER, provisional_fills=True,
                     market_ws_key="ws_market_url", user_ws_key="ws_user_url"),
        timings=t, prepare=prepare, events=events)


__all__ = ["bundle_from_sim_info"]
