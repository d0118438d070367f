"""The market finder: markets come and go while the node runs.

Listings reach it as :class:`~arbkit.core.events.MarketListed` on the status topic: Polymarket's
``new_market`` (market channel, custom feature) and Kalshi's ``market_lifecycle_v2`` ``created`` /
``activated`` from the feeds, and the finder's own poll of the venues' event listings (Polymarket
Gamma ``/events?closed=false``, Kalshi ``/events`` then ``/events/{ticker}`` for each event it has
not seen). A rolling series (a 15-minute up/down series whose next market opens as the last one
closes) is nothing special: each new market of the series is a listing, each closed one a
resolution.

Each listing is offered to the hosted strategies that take listings: a strategy that defines
``select_market(listing) -> bool`` (its filter) and ``add_market(listing, yes, no)`` gets the
market's instruments (read from the venue like every other instrument) when its filter selects it.
The host's routes are re-read and the feed subscribes to what is now read and was not, through the
feed's own ``subscribe`` (Polymarket shards at most ``assets_per_connection`` assets a connection
and opens a new shard when they are full; Kalshi adds tickers to its subscriptions).

A market that resolves (:class:`~arbkit.core.events.MarketResolved`) is retired: every strategy
that defines ``retire_market(venue, market_id, instrument_ids)`` drops it, the host's routes are
re-read (no strategy sees its books again) and the feeds unsubscribe what no strategy reads any
more. Nothing needs a restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from arbkit.core.enums import Venue
from arbkit.core.events import Event, MarketListed, MarketResolved
from arbkit.core.instruments import Instrument

log = logging.getLogger("arbkit.runtime.market_finder")

POLL_PAGE = 100  # Gamma events per page
POLL_MAX_PAGES = 50  # a poll reads at most this many pages of a venue's listing
POLL_MAX_EVENT_READS = 50  # Kalshi: new events read with their markets per poll (the rest next time)


@dataclass
class FinderCounters:
    listings: int = 0  # MarketListed seen (feeds and polls)
    selected: int = 0  # markets some strategy took
    ignored: int = 0  # listings no filter selected (or already known)
    retired: int = 0  # markets dropped after a resolution
    subscribed: int = 0  # instruments the finder subscribed
    unsubscribed: int = 0
    polls: int = 0
    poll_errors: int = 0
    problems: list[str] = field(default_factory=list)


class MarketFinder:
    """Follows listings and resolutions, keeps the strategies' markets and the feeds' subscriptions
    in step. ``feeds``: venue -> feed (``subscribe`` / ``unsubscribe``); ``metadata``: the node's
    MetadataSource (``market_instruments``); ``instruments``: the registries new instruments go to
    (the node's and the engine's); ``publish``: where polled listings go (the node's status topic,
    so feed and poll listings take the same path)."""

    def __init__(self, *, host: Any, feeds: dict[Venue, Any], metadata: Any, instruments: list[dict[str, Instrument]],
                 publish: Callable[[Event], Any], journal: Callable[[Event], Any] | None = None,
                 session: Any = None, rest_urls: dict[Venue, str] | None = None, gamma_url: str = "") -> None:
        self.host = host
        self.feeds = feeds
        self.metadata = metadata
        self.instruments = instruments
        self.publish = publish
        self.journal = journal
        self.session = session
        self.rest_urls = rest_urls or {}
        self.gamma_url = gamma_url.rstrip("/")
        self.counters = FinderCounters()
        self.known: dict[tuple[Venue, str], MarketListed] = {}  # listings offered (once each)
        self.markets: dict[tuple[Venue, str], list[str]] = {}  # markets taken -> instrument ids
        self.retired: set[tuple[Venue, str]] = set()
        self._subscribed: dict[Venue, set[str]] = {}
        self._kalshi_events: set[str] = set()
        self._kalshi_seeded = False  # the first poll only learns which events exist
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- which strategies take listings ----------------------------------------------------------

    def takers(self) -> list[Any]:
        return [s for s in self.host.strategies.values()
                if callable(getattr(s, "select_market", None)) and callable(getattr(s, "add_market", None))]

    @property
    def active(self) -> bool:
        """True when some hosted strategy takes listings (else there is nothing to follow)."""
        return bool(self.takers())

    def start(self) -> None:
        """Remember what the feeds were subscribed to at start-up (the node's first subscribe)."""
        for venue, ids in _by_venue(self.host.subscriptions()).items():
            self._subscribed.setdefault(venue, set()).update(ids)

    # --- facts in (bus subscriber on the status topic) -------------------------------------------

    def on_event(self, event: Event) -> None:
        if isinstance(event, MarketListed):
            self.counters.listings += 1
            key = (event.venue, event.market_id)
            if key in self.known or key in self.retired:
                self.counters.ignored += 1  # Kalshi created then activated, a poll after the feed, a repeat
                return
            self.known[key] = event
            chosen = self._select(event)
            if chosen:  # the venue is asked for instruments only for what a filter took
                self._spawn(self._take(event, chosen))
            else:
                self.counters.ignored += 1
        elif isinstance(event, MarketResolved):
            self.retire(event.venue, event.market_id, list(event.instrument_ids))

    def _spawn(self, aw: Any) -> None:
        task = asyncio.get_running_loop().create_task(aw, name="market-finder")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _select(self, listing: MarketListed) -> list[Any]:
        chosen = []
        for s in self.takers():
            try:
                if s.select_market(listing):
                    chosen.append(s)
            except Exception:  # noqa: BLE001 - one strategy's filter bug must not stop the finder
                log.exception("strategy %s: select_market failed on %s", s.name, listing.market_id)
        return chosen

    async def offer(self, listing: MarketListed) -> list[str]:
        """Offer a listing to the strategies' filters; returns the names of those that took it."""
        chosen = self._select(listing)
        if not chosen:
            self.counters.ignored += 1
            return []
        return await self._take(listing, chosen)

    async def _take(self, listing: MarketListed, chosen: list[Any]) -> list[str]:
        try:
            yes, no = await self.metadata.market_instruments(listing.venue, _market_ref(listing))
        except Exception as exc:  # noqa: BLE001 - the venue could not describe it: noted, not fatal
            self._problem(f"{listing.venue.value} market {listing.market_id}: instruments unavailable "
                          f"({type(exc).__name__}: {exc}); not followed")
            self.known.pop((listing.venue, listing.market_id), None)  # a later listing or poll may try again
            return []
        key = (listing.venue, listing.market_id)
        if key in self.retired:
            return []  # resolved while its metadata was read
        for reg in self.instruments:
            reg[yes.id] = yes
            reg[no.id] = no
        took = []
        for s in chosen:
            try:
                s.add_market(listing, yes, no)
            except Exception:  # noqa: BLE001
                log.exception("strategy %s: add_market failed on %s", s.name, listing.market_id)
                continue
            self.host.refresh_routes(s)
            took.append(s.name)
        if took:
            self.counters.selected += 1
            self.markets[key] = [yes.id, no.id]
            if self.journal is not None:
                try:
                    self.journal(listing)  # the decision to follow a market is memory too
                except Exception:  # noqa: BLE001 - a closed journal must not stop the finder
                    log.exception("market finder: could not journal the listing of %s", listing.market_id)
            log.info("market finder: %s %s (%s) taken by %s", listing.venue.value, listing.market_id, listing.title,
                     ", ".join(took))
        self._resubscribe()
        return took

    def retire(self, venue: Venue, market_id: str, instrument_ids: list[str]) -> list[str]:
        """A market resolved (or closed): strategies drop it, the feeds unsubscribe what no one reads."""
        key = (venue, market_id)
        if key in self.retired:
            return []
        self.retired.add(key)
        ids = list(dict.fromkeys(list(instrument_ids) + self.markets.pop(key, [])))
        dropped = []
        for s in list(self.host.strategies.values()):
            fn = getattr(s, "retire_market", None)
            if not callable(fn):
                continue
            try:
                fn(venue, market_id, ids)
            except Exception:  # noqa: BLE001
                log.exception("strategy %s: retire_market failed on %s", s.name, market_id)
                continue
            self.host.refresh_routes(s)
            dropped.append(s.name)
        self.counters.retired += 1
        self._resubscribe()
        return dropped

    def _resubscribe(self) -> None:
        """Subscribe what the strategies read now and was not; unsubscribe what no one reads."""
        want = _by_venue(self.host.subscriptions())
        for venue in set(want) | set(self._subscribed):
            feed = self.feeds.get(venue)
            if feed is None:
                continue
            have = self._subscribed.setdefault(venue, set())
            now = want.get(venue, set())
            add, gone = sorted(now - have), sorted(have - now)
            if add:
                feed.subscribe(add)
                self.counters.subscribed += len(add)
            if gone:
                feed.unsubscribe(gone)
                self.counters.unsubscribed += len(gone)
            self._subscribed[venue] = set(now)

    def subscribed(self, venue: Venue) -> set[str]:
        return set(self._subscribed.get(venue, ()))

    # --- polling the venues' event listings --------------------------------------------------------

    async def poll_forever(self, interval_s: float) -> None:
        """Supervised task: poll every ``interval_s`` (a failed poll is counted and retried)."""
        while True:
            await self.poll_once()
            await asyncio.sleep(interval_s)

    async def poll_once(self) -> int:
        """Read the venues' open events once; returns how many listings were published."""
        n = 0
        for venue, fn in ((Venue.POLYMARKET, self._poll_polymarket), (Venue.KALSHI, self._poll_kalshi)):
            if venue not in self.feeds or self.session is None:
                continue
            try:
                for listing in await fn():
                    if (listing.venue, listing.market_id) not in self.known:
                        self.publish(listing)
                        n += 1
            except Exception as exc:  # noqa: BLE001 - a venue that does not answer now may later
                self.counters.poll_errors += 1
                self._problem(f"market finder: {venue.value} listing poll failed: {type(exc).__name__}: {exc}")
        self.counters.polls += 1  # polls completed
        return n

    async def _get(self, url: str, params: dict[str, str] | None = None) -> Any:
        async with self.session.get(url, params=params) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET {url}: HTTP {resp.status}")
        return json.loads(body)

    async def _poll_polymarket(self) -> list[MarketListed]:
        """Gamma ``/events?closed=false`` (paged): every open binary market with its two tokens."""
        if not self.gamma_url:
            return []
        out: list[MarketListed] = []
        offset = 0
        for _ in range(POLL_MAX_PAGES):
            page = await self._get(f"{self.gamma_url}/events", {"closed": "false", "limit": str(POLL_PAGE),
                                                                 "offset": str(offset)})
            if not isinstance(page, list) or not page:
                break
            for ev in page:
                if not isinstance(ev, dict):
                    continue
                for m in ev.get("markets") or []:
                    listing = _gamma_listing(ev, m)
                    if listing is not None:
                        out.append(listing)
            if len(page) < POLL_PAGE:
                break
            offset += len(page)
        return out

    async def _poll_kalshi(self) -> list[MarketListed]:
        """Kalshi ``/events`` (paged by cursor); each event not seen before is read with its
        markets (``/events/{event_ticker}``) and its open markets become listings. The first poll
        only learns which events exist (reading thousands of events one request each would run
        into the venue's rate limit; markets open at start-up are the strategies' own business,
        and a rolling series' next event is new), and a poll reads at most
        ``POLL_MAX_EVENT_READS`` new events."""
        base = self.rest_urls.get(Venue.KALSHI, "").rstrip("/")
        if not base:
            return []
        out: list[MarketListed] = []
        cursor = ""
        fresh: list[str] = []
        for _ in range(POLL_MAX_PAGES):
            params = {"limit": "200", "status": "open"}
            if cursor:
                params["cursor"] = cursor
            page = await self._get(f"{base}/events", params)
            for ev in (page.get("events") or []) if isinstance(page, dict) else []:
                et = str(ev.get("event_ticker") or "") if isinstance(ev, dict) else ""
                if et and et not in self._kalshi_events:
                    fresh.append(et)
            cursor = str(page.get("cursor") or "") if isinstance(page, dict) else ""
            if not cursor:
                break
        if not self._kalshi_seeded:
            self._kalshi_events.update(fresh)
            self._kalshi_seeded = True
            return out
        for et in fresh[:POLL_MAX_EVENT_READS]:
            body = await self._get(f"{base}/events/{et}")
            self._kalshi_events.add(et)
            for m in (body.get("markets") or []) if isinstance(body, dict) else []:
                if not isinstance(m, dict) or not m.get("ticker") or m.get("status") not in (None, "active", "open"):
                    continue
                t = str(m["ticker"])
                out.append(MarketListed(venue=Venue.KALSHI, market_id=t, instrument_ids=[f"kalshi:{t}:yes", f"kalshi:{t}:no"],
                                        title=str(m.get("title") or ""), event_id=et, series=et.split("-", 1)[0],
                                        stage="listed", close_time=str(m.get("close_time") or ""),
                                        correlation_id=f"listing:{t}"))
        return out

    # --- status -------------------------------------------------------------------------------------

    def _problem(self, text: str) -> None:
        log.warning("%s", text)
        if len(self.counters.problems) < 50:
            self.counters.problems.append(text)

    def status(self) -> dict[str, Any]:
        c = self.counters
        return {"listings": c.listings, "selected": c.selected, "ignored": c.ignored, "retired": c.retired,
                "subscribed": c.subscribed, "unsubscribed": c.unsubscribed, "polls": c.polls,
                "poll_errors": c.poll_errors, "markets": len(self.markets), "problems": list(c.problems[-5:])}

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass


def _by_venue(instrument_ids: Any) -> dict[Venue, set[str]]:
    out: dict[Venue, set[str]] = {}
    for iid in instrument_ids:
        try:
            venue = Venue(iid.split(":", 1)[0])
        except ValueError:
            continue
        out.setdefault(venue, set()).add(iid)
    return out


def _market_ref(listing: MarketListed) -> dict[str, str]:
    """What ``MetadataSource.market_instruments`` needs for this market."""
    if listing.venue is Venue.POLYMARKET:
        yes, no = (i.split(":", 1)[1] for i in listing.instrument_ids[:2])
        return {"condition_id": listing.market_id, "yes_token": yes, "no_token": no, "title": listing.title}
    return {"ticker": listing.market_id}


def _gamma_listing(ev: dict[str, Any], m: Any) -> MarketListed | None:
    """One Gamma event market as a listing (``clobTokenIds`` and ``outcomes`` are JSON-encoded,
    index-aligned arrays: docs/mapping.md), or None when it is closed or not a binary market."""
    if not isinstance(m, dict) or m.get("closed") or m.get("active") is False or not m.get("conditionId"):
        return None
    try:
        tokens = m.get("clobTokenIds")
        tokens = json.loads(tokens) if isinstance(tokens, str) else tokens
        outcomes = m.get("outcomes")
        outcomes = json.loads(outcomes) if isinstance(outcomes, str) else outcomes
    except ValueError:
        return None
    if not isinstance(tokens, list) or len(tokens) != 2:
        return None
    tokens = [str(t) for t in tokens]
    if isinstance(outcomes, list) and len(outcomes) == 2 and str(outcomes[1]).lower() == "yes":
        tokens.reverse()
    cid = str(m["conditionId"])
    return MarketListed(venue=Venue.POLYMARKET, market_id=cid, instrument_ids=["polymarket:" + t for t in tokens],
                        title=str(m.get("question") or ""), event_id=str(ev.get("id") or ""),
                        series=str(ev.get("ticker") or ev.get("slug") or ""), stage="listed",
                        close_time=str(m.get("endDate") or ""), correlation_id=f"listing:{cid}")
