"""Start-up construction of the per-venue parts of a node: market feed, user stream, gateway and
execution backend, chosen by the venue's mode.

* ``paper``: the real market feed (public data), a :class:`~arbkit.execution.paper.PaperBackend`
  filling from the book snapshots the intents carried. No order leaves the machine.
* ``sim``: the real feed, user stream and signed gateway, pointed at the local simulator's URLs.
* ``live``: the same as ``sim`` against the venue's own URLs.

Nothing downstream knows which: the execution engine sees an ``ExecutionBackend`` per venue and
the strategy sees books. Secrets are resolved here, through
:func:`arbkit.runtime.config.resolve_secret` (which registers them for log redaction), from an
injected environment mapping (``os.environ`` by default), and are never stored on the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Mapping

import aiohttp
import msgspec

from arbkit.core.clock import Clock
from arbkit.core.enums import InstrumentKind, Venue
from arbkit.core.events import Event
from arbkit.core.fees import FeeSpec
from arbkit.core.instruments import Instrument
from arbkit.execution.backend import ExecutionBackend, GatewayBackend
from arbkit.execution.paper import PaperBackend, PaperConfig, SnapshotRegistry
from arbkit.runtime.config import (
    ConfigError,
    KalshiConfig,
    PolymarketConfig,
    VenueMode,
    resolve_secret,
)
from arbkit.runtime.logging import register_secret

EventSink = Callable[[Event], None]

# Collateral currency each venue books in (what the gateways' ``balances()`` report).
VENUE_CURRENCY: dict[Venue, str] = {Venue.POLYMARKET: "pUSD", Venue.KALSHI: "USD", Venue.KUCOIN: "USDT"}
# Paper trading starts with this much collateral per venue unless told otherwise.
DEFAULT_PAPER_BALANCE = Decimal("10000")
POLYMARKET_SIZE_INCREMENT = Decimal("0.01")  # V2 rounding: sizes carry 2 decimals at every tick size


@dataclass
class VenueBundle:
    """Everything one venue contributes to a node."""

    venue: Venue
    mode: VenueMode
    feed: Any  # MarketFeed
    backend: ExecutionBackend
    gateway: Any = None  # VenueGateway (sim/live; Kalshi also in paper mode for metadata)
    user: Any = None  # UserStream (sim/live)
    rest_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def connections(self) -> list[tuple[str, str]]:
        """(name, state) of each WebSocket connection this venue holds."""
        out: list[tuple[str, str]] = []
        feed = self.feed
        if hasattr(feed, "connection_states"):
            for i, st in enumerate(feed.connection_states()):
                out.append((f"{self.venue.value}.market.{i}", st.value))
        elif hasattr(feed, "state"):
            out.append((getattr(feed, "connection_name", f"{self.venue.value}.market"), feed.state.value))
        if self.user is not None:
            out.append((f"{self.venue.value}.user", self.user.state.value))
        return out


def _secret(ref: str | None, env: Mapping[str, str] | None, what: str) -> str:
    if not ref:
        raise ConfigError(what, "is not configured")
    try:
        return resolve_secret(ref, env=env)
    except ConfigError as exc:
        raise ConfigError(what, exc.problem) from None


# --- Polymarket ---------------------------------------------------------------------------------


async def build_polymarket(
    cfg: PolymarketConfig,
    *,
    clock: Clock,
    market_sink: EventSink,
    env: Mapping[str, str] | None,
    snapshots: SnapshotRegistry,
    paper_balance: Decimal = DEFAULT_PAPER_BALANCE,
    feed_overrides: dict[str, Any] | None = None,
) -> VenueBundle:
    from arbkit.venues.polymarket.feed import FeedConfig, PolymarketMarketFeed

    fc = FeedConfig(ws_url=cfg.ws_market_url, rest_url=cfg.rest_url,
                    assets_per_connection=min(cfg.max_instruments_per_connection, 500), **(feed_overrides or {}))
    feed = PolymarketMarketFeed(market_sink, fc, clock=clock)
    if cfg.mode is VenueMode.PAPER:
        backend = PaperBackend(Venue.POLYMARKET, clock, snapshots, PaperConfig(),
                               balances={VENUE_CURRENCY[Venue.POLYMARKET]: paper_balance}, book_of=feed.book)
        return VenueBundle(Venue.POLYMARKET, cfg.mode, feed, backend, rest_url=cfg.rest_url)

    from arbkit.venues.polymarket.auth import ApiCreds
    from arbkit.venues.polymarket.gateway import GatewayConfig, PolymarketGateway
    from arbkit.venues.polymarket.user import PolymarketUserStream, UserStreamConfig

    key = _secret(cfg.private_key_env or cfg.private_key_file, env, "venues.polymarket.private_key_env")
    creds = None
    if cfg.api_key_env:
        creds = ApiCreds(
            api_key=_secret(cfg.api_key_env, env, "venues.polymarket.api_key_env"),
            api_secret=_secret(cfg.api_secret_env, env, "venues.polymarket.api_secret_env"),
            api_passphrase=_secret(cfg.api_passphrase_env, env, "venues.polymarket.api_passphrase_env"),
        )
    gw = PolymarketGateway(key, creds, GatewayConfig(rest_url=cfg.rest_url, chain_id=cfg.chain_id,
                                                     signature_type=cfg.signature_type, funder=cfg.funder), clock=clock)
    del key
    backend = GatewayBackend(gw)
    bundle = VenueBundle(Venue.POLYMARKET, cfg.mode, feed, backend, gateway=gw, rest_url=cfg.rest_url)
    bundle.extra["user_config"] = UserStreamConfig(ws_url=cfg.ws_user_url)
    bundle.extra["user_factory"] = lambda: PolymarketUserStream(backend.deliver, gw.creds, bundle.extra["user_config"],
                                                                gateway=gw, clock=clock)
    return bundle


async def start_polymarket(bundle: VenueBundle) -> None:
    """Open the gateway's pool, derive L2 credentials when not configured, make the user stream."""
    if bundle.gateway is None:
        return
    await bundle.gateway.start()
    if bundle.gateway.creds is None:
        await bundle.gateway.create_or_derive_api_creds()
        # derived L2 credentials are secrets too: never in a log line
        register_secret(bundle.gateway.creds.api_secret)
        register_secret(bundle.gateway.creds.api_passphrase)
    bundle.user = bundle.extra["user_factory"]()


async def polymarket_instruments(session: aiohttp.ClientSession, rest_url: str, condition_id: str,
                                 yes_token: str, no_token: str, title: str = "") -> tuple[Instrument, Instrument]:
    """(YES, NO) instruments of one binary market from the public ``/clob-markets/{condition_id}``
    (tick size, neg-risk, fee rate and exponent, minimum order size)."""
    from arbkit.venues.polymarket import constants as C
    from arbkit.venues.polymarket.parse import ClobMarketInfo

    url = rest_url.rstrip("/") + C.PATH_CLOB_MARKET + condition_id
    async with session.get(url) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"Polymarket market {condition_id}: HTTP {resp.status} {body[:200]!r}")
    info = msgspec.json.decode(body, type=ClobMarketInfo)
    # fd = {r, e, to}: a fractional exponent stays an exact Decimal; a missing fd is a fee-free market
    fee = info.fd.spec() if info.fd is not None else FeeSpec()
    out = []
    for token, other, outcome in ((yes_token, no_token, "YES"), (no_token, yes_token, "NO")):
        out.append(Instrument(
            venue=Venue.POLYMARKET, symbol=token, kind=InstrumentKind.OUTCOME, tick_size=info.mts,
            size_increment=POLYMARKET_SIZE_INCREMENT, min_size=info.mos or Decimal(0),
            quote=VENUE_CURRENCY[Venue.POLYMARKET], outcome=outcome, market_id=condition_id, complement=other,
            neg_risk=info.nr, fee=fee, title=title))
    return out[0], out[1]


# --- Kalshi -------------------------------------------------------------------------------------


def kalshi_signer(cfg: KalshiConfig, env: Mapping[str, str] | None):
    """The request signer (RSA-PSS or Ed25519, by the type of the key in the PEM), or None when no
    credentials are configured (paper without a key)."""
    from arbkit.venues.kalshi.auth import KalshiSigner

    if not cfg.api_key_id_env or not (cfg.private_key_env or cfg.private_key_file):
        return None
    if cfg.mode is VenueMode.PAPER and kalshi_paper_key_missing(cfg, env):
        return None  # paper needs no credentials: the key is optional there (see kalshi_paper_note)
    key_id = _secret(cfg.api_key_id_env, env, "venues.kalshi.api_key_id_env")
    if cfg.private_key_file:
        return KalshiSigner.from_pem_file(key_id, cfg.private_key_file)
    pem = _secret(cfg.private_key_env, env, "venues.kalshi.private_key_env")
    if "-----BEGIN" in pem:
        return KalshiSigner.from_pem(key_id, pem)
    return KalshiSigner.from_pem_file(key_id, pem)


def kalshi_paper_key_missing(cfg: KalshiConfig, env: Mapping[str, str] | None) -> str:
    """Paper mode: why the optional Kalshi key is not available here ("" when it is)."""
    import os

    environ = os.environ if env is None else env
    if not cfg.api_key_id_env or not (cfg.private_key_env or cfg.private_key_file):
        return "no key configured"
    if not (environ.get(cfg.api_key_id_env) or "").strip():
        return f"environment variable {cfg.api_key_id_env} is not set"
    if cfg.private_key_file:
        from pathlib import Path

        if not Path(cfg.private_key_file).is_file():
            return f"key file {cfg.private_key_file} does not exist"
    elif not (environ.get(cfg.private_key_env or "") or "").strip():
        return f"environment variable {cfg.private_key_env} is not set"
    return ""


# Kalshi's WebSocket: ``orderbook_delta`` is a private channel (auth required); ticker, trade and
# lifecycle channels are public. https://docs.kalshi.com/getting_started/quick_start_websockets
# (checked 2026-12-04). The simulator enforces the same (arbkit.sim.kalshi.ws.PRIVATE_CHANNELS).
KALSHI_UNSIGNED_NOTE = ("venues.kalshi: paper without a key ({why}): market metadata is read unsigned, but Kalshi "
                        "serves order books (orderbook_delta) only on a signed connection, so Kalshi books stay "
                        "empty and cross_venue cannot trade; set a read-only key (api_key_id_env + private key) "
                        "to paper-trade Kalshi")


async def build_kalshi(
    cfg: KalshiConfig,
    *,
    clock: Clock,
    market_sink: EventSink,
    env: Mapping[str, str] | None,
    snapshots: SnapshotRegistry,
    paper_balance: Decimal = DEFAULT_PAPER_BALANCE,
    feed_overrides: dict[str, Any] | None = None,
) -> VenueBundle:
    from arbkit.venues.kalshi.feed import FeedConfig, KalshiMarketFeed
    from arbkit.venues.kalshi.gateway import GatewayConfig, KalshiGateway
    from arbkit.venues.kalshi.user import KalshiUserStream, UserStreamConfig

    signer = kalshi_signer(cfg, env)
    feed = KalshiMarketFeed(market_sink, FeedConfig(ws_url=cfg.ws_url, **(feed_overrides or {})), signer=signer, clock=clock)
    # Market metadata is public: without credentials (paper) the gateway still reads it, unsigned.
    gw = KalshiGateway(signer, GatewayConfig(rest_url=cfg.rest_url), clock=clock)  # type: ignore[arg-type]
    if cfg.mode is VenueMode.PAPER:
        backend: ExecutionBackend = PaperBackend(Venue.KALSHI, clock, snapshots, PaperConfig(),
                                                 balances={VENUE_CURRENCY[Venue.KALSHI]: paper_balance}, book_of=feed.book)
        bundle = VenueBundle(Venue.KALSHI, cfg.mode, feed, backend, gateway=gw, rest_url=cfg.rest_url)
        if signer is None:
            bundle.extra["note"] = KALSHI_UNSIGNED_NOTE.format(why=kalshi_paper_key_missing(cfg, env))
        return bundle
    if signer is None:
        raise ConfigError("venues.kalshi", f"mode {cfg.mode.value} needs api_key_id_env and a private key")
    backend = GatewayBackend(gw)
    user = KalshiUserStream(backend.deliver, signer, gw, UserStreamConfig(ws_url=cfg.ws_url), clock=clock,
                            backfill_from_ns=clock.now_ns())
    return VenueBundle(Venue.KALSHI, cfg.mode, feed, backend, gateway=gw, user=user, rest_url=cfg.rest_url)


async def start_kalshi(bundle: VenueBundle) -> None:
    if bundle.gateway is not None:
        await bundle.gateway.start()


async def kalshi_instruments(bundle: VenueBundle, ticker: str) -> tuple[Instrument, Instrument]:
    """(YES, NO) instruments from the venue's market metadata (price level structure, fee type)."""
    return await bundle.gateway.instruments(ticker)


# --- KuCoin -------------------------------------------------------------------------------------


async def build_kucoin(
    cfg: Any,
    *,
    clock: Clock,
    market_sink: EventSink,
    env: Mapping[str, str] | None,
    snapshots: SnapshotRegistry,
    paper_balance: Decimal = DEFAULT_PAPER_BALANCE,
    feed_overrides: dict[str, Any] | None = None,
) -> VenueBundle:
    """KuCoin spot (``cfg`` is a :class:`arbkit.runtime.config.KucoinConfig`): the level-2 feed
    (bullet-public token, books by sequence), and in sim/live the signed HF gateway and the private
    order/balance stream. Instruments come from :func:`kucoin_instruments` after
    :func:`start_kucoin`; the feed resolves symbols through the gateway's instrument cache."""
    from arbkit.venues.kucoin.auth import KucoinSigner
    from arbkit.venues.kucoin.feed import FeedConfig, KucoinMarketFeed
    from arbkit.venues.kucoin.gateway import GatewayConfig, KucoinGateway
    from arbkit.venues.kucoin.user import KucoinUserStream, UserStreamConfig

    signer = None
    if cfg.api_key_env:
        signer = KucoinSigner(_secret(cfg.api_key_env, env, "venues.kucoin.api_key_env"),
                              _secret(cfg.api_secret_env, env, "venues.kucoin.api_secret_env"),
                              _secret(cfg.api_passphrase_env, env, "venues.kucoin.api_passphrase_env"))
    gw = KucoinGateway(signer, GatewayConfig(rest_url=cfg.rest_url), clock=clock)
    overrides = dict(feed_overrides or {})
    if cfg.ws_url:
        overrides.setdefault("endpoint_override", cfg.ws_url)
    overrides.setdefault("book_mode", cfg.book_mode.value)
    feed = KucoinMarketFeed(market_sink, FeedConfig(**overrides), gw, gw._instruments.get, clock=clock)
    if cfg.mode is VenueMode.PAPER:
        # with credentials, each paper leg is first validated by KuCoin's order-test endpoint
        backend: ExecutionBackend = PaperBackend(Venue.KUCOIN, clock, snapshots, PaperConfig(),
                                                 balances={VENUE_CURRENCY[Venue.KUCOIN]: paper_balance},
                                                 validator=gw.test_order if signer is not None else None,
                                                 book_of=feed.book)
        return VenueBundle(Venue.KUCOIN, cfg.mode, feed, backend, gateway=gw, rest_url=cfg.rest_url)
    if signer is None:
        raise ConfigError("venues.kucoin", f"mode {cfg.mode.value} needs api_key_env, api_secret_env and "
                                           "api_passphrase_env")
    backend = GatewayBackend(gw)
    user = KucoinUserStream(backend.deliver, gw, UserStreamConfig(endpoint_override=cfg.ws_url or ""), clock=clock)
    return VenueBundle(Venue.KUCOIN, cfg.mode, feed, backend, gateway=gw, user=user, rest_url=cfg.rest_url)


async def start_kucoin(bundle: VenueBundle, symbols: list[str] | None = None) -> list[Instrument]:
    """Open the gateway's pool and load the instruments (all enabled pairs, or ``symbols``)."""
    await bundle.gateway.start()
    return await bundle.gateway.instruments(symbols)


async def kucoin_instruments(bundle: VenueBundle, symbols: list[str] | None = None) -> list[Instrument]:
    """Spot instruments from ``/api/v2/symbols`` with the account's ``/api/v1/trade-fees`` rates."""
    return await bundle.gateway.instruments(symbols)


# --- venue metadata for strategies --------------------------------------------------------------


class VenueMetadata:
    """The node's :class:`arbkit.strategies.base.MetadataSource`: strategies ask for instruments
    and event structures; the venues' own REST endpoints and gateways answer (strategies never
    hold a venue client)."""

    def __init__(self, venues: dict[Venue, VenueBundle], session: aiohttp.ClientSession, config: Any,
                 spot: dict[Venue, list[Instrument]] | None = None, on_problem: Callable[[str], None] = lambda s: None) -> None:
        self.venues = venues
        self.session = session
        self.config = config  # runtime.config.Config
        self.spot = spot or {}
        self.on_problem = on_problem
        self.malformed = 0

    async def market_instruments(self, venue: Venue, market: dict[str, str]) -> tuple[Instrument, Instrument]:
        b = self.venues[venue]
        if venue is Venue.POLYMARKET:
            yes, no = await polymarket_instruments(self.session, b.rest_url, market["condition_id"], market["yes_token"],
                                                   market["no_token"], market.get("title", ""))
            if b.gateway is not None:
                # Warm the gateway's metadata (the first order then needs no lookup) and make it
                # know these tokens: its positions() (start-up reconciliation) covers known tokens.
                for inst in (yes, no):
                    try:
                        await b.gateway.metadata.get(inst.symbol, inst.market_id or "", inst)
                    except Exception:  # noqa: BLE001 - a warm-up, not a requirement
                        pass
            return yes, no
        if venue is Venue.KALSHI:
            return await kalshi_instruments(b, market["ticker"])
        raise ValueError(f"{venue.value} has no binary markets")

    def spot_instruments(self, venue: Venue) -> list[Instrument]:
        return list(self.spot.get(venue, []))

    async def multi_outcome_events(self, venue: Venue, *, event_ids: list[str] | None = None,
                                   limit: int = 500) -> list[Any]:
        if venue is Venue.POLYMARKET:
            return await self._polymarket_events(event_ids, limit)
        if venue is Venue.KALSHI:
            return await self._kalshi_events(event_ids, limit)
        return []

    async def _get_json(self, url: str, params: dict[str, str] | None = None) -> Any:
        async with self.session.get(url, params=params) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET {url}: HTTP {resp.status} {body[:200]!r}")
        return msgspec.json.decode(body)

    async def _polymarket_events(self, event_ids: list[str] | None, limit: int) -> list[Any]:
        """Gamma neg-risk events -> MultiOutcomeEvent, each market's instruments from the CLOB's
        ``/clob-markets`` (tick, minimum, fee) like every other Polymarket instrument."""
        import asyncio

        from arbkit.strategies.base import EventOutcome, MultiOutcomeEvent
        from arbkit.venues.polymarket.gamma import parse_events

        gamma = self.config.venues.polymarket.effective_gamma_url().rstrip("/")
        raw: list[Any] = []
        if event_ids:
            for eid in event_ids:
                try:
                    raw.append(await self._get_json(f"{gamma}/events/{eid}"))
                except Exception as exc:  # noqa: BLE001 - one missing event must not stop the node
                    self.on_problem(f"polymarket event {eid}: {exc}")
        else:
            offset = 0
            while len(raw) < limit:
                page = await self._get_json(f"{gamma}/events", {"closed": "false", "negRisk": "true", "limit": "100",
                                                                 "offset": str(offset)})
                if not isinstance(page, list) or not page:
                    break
                raw.extend(page)
                offset += len(page)
                if len(page) < 100:
                    break
        parsed = parse_events(raw[:limit])
        self.malformed += parsed.malformed
        for p in parsed.problems:
            self.on_problem(f"polymarket gamma: {p}")
        sem = asyncio.Semaphore(8)
        b = self.venues[Venue.POLYMARKET]

        async def one(m: Any) -> tuple[Instrument, Instrument] | None:
            async with sem:
                try:
                    pair = await polymarket_instruments(self.session, b.rest_url, m.condition_id, m.yes_token, m.no_token,
                                                        m.question)
                    if b.gateway is not None:  # warm the order metadata, as for mapped markets
                        for inst in pair:
                            try:
                                await b.gateway.metadata.get(inst.symbol, inst.market_id or "", inst)
                            except Exception:  # noqa: BLE001 - a warm-up, not a requirement
                                pass
                    return pair
                except Exception as exc:  # noqa: BLE001
                    self.on_problem(f"polymarket market {m.condition_id}: {type(exc).__name__}: {exc}")
                    return None

        out = []
        for ev in parsed.events:
            insts = await asyncio.gather(*(one(m) for m in ev.markets))
            outcomes = []
            complete = True
            for m, pair in zip(ev.markets, insts):
                if pair is None:
                    complete = False
                    continue
                outcomes.append(EventOutcome(label=m.label, yes=msgspec.structs.replace(pair[0], title=m.label or pair[0].title),
                                             no=pair[1], placeholder=m.placeholder, other=m.other,
                                             tradeable=m.accepting_orders))
            if not complete:
                self.on_problem(f"polymarket event {ev.event_id}: a market's metadata is missing; not traded")
                continue
            out.append(MultiOutcomeEvent(venue=Venue.POLYMARKET, event_id=ev.event_id, title=ev.title,
                                         outcomes=tuple(outcomes), neg_risk=True, augmented=ev.augmented, exhaustive=True))
        return out

    async def _kalshi_events(self, event_ids: list[str] | None, limit: int) -> list[Any]:
        """Kalshi events with ``mutually_exclusive`` (at most one market resolves YES) and their
        markets. Only the events named in ``event_ids`` are returned: mutual exclusivity does not
        say that one market must resolve YES, so the operator names the events known exhaustive."""
        from arbkit.strategies.base import EventOutcome, MultiOutcomeEvent

        b = self.venues[Venue.KALSHI]
        out = []
        for eid in (event_ids or [])[:limit]:
            try:
                body = await self._get_json(f"{b.rest_url.rstrip('/')}/events/{eid}")
                event = body["event"]
                if not event.get("mutually_exclusive"):
                    self.on_problem(f"kalshi event {eid}: not mutually exclusive; not traded as a complete set")
                    continue
                outcomes = []
                for m in body.get("markets") or []:
                    if m.get("status") not in (None, "active", "open"):
                        continue
                    yes, no = await kalshi_instruments(b, m["ticker"])
                    label = str(m.get("yes_sub_title") or m.get("subtitle") or m["ticker"])
                    outcomes.append(EventOutcome(label=label, yes=yes, no=no))
            except Exception as exc:  # noqa: BLE001 - malformed or unreachable: counted, skipped
                self.malformed += 1
                self.on_problem(f"kalshi event {eid}: {type(exc).__name__}: {exc}")
                continue
            out.append(MultiOutcomeEvent(venue=Venue.KALSHI, event_id=eid, title=str(event.get("title") or eid),
                                         outcomes=tuple(outcomes), mutually_exclusive=True, exhaustive=True))
        return out
