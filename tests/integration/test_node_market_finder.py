"""The market finder: the real node against the simulator over loopback, markets listed and
resolved while it runs.

A strategy that takes listings (``select_market`` / ``add_market`` / ``retire_market``, the host
protocol's listing hooks) follows a rolling series: every market whose series or event starts with
one of its prefixes. The simulator lists window 1 of the series on both venues mid-run (announced
as the venues do: Polymarket ``new_market`` on the market channel, Kalshi ``market_lifecycle_v2``
``created`` / ``activated``): the node subscribes and the strategy gets live books. Window 2 opens,
window 1 resolves: window 1 is retired (no strategy route, unsubscribed from both feeds), window 2
trades on. The Polymarket feed is held to 2 assets a connection: each new market opens a shard.
A second test turns the feeds' announcements off and finds a listing through the venues' event
listings (Gamma ``/events``, Kalshi ``/events``) polled.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from arbkit.core.enums import BookState, Venue
from arbkit.journal.store import Journal
from arbkit.runtime.config import loads_config
from arbkit.runtime.demo import KALSHI_KEY_ID_ENV, POLY_KEY_ENV, demo_config_text
from arbkit.runtime.node import Node, NodeOptions
from arbkit.sim.runner import SimRunner
from arbkit.strategies import registry
from arbkit.strategies.base import StrategyBase

SERIES = "KXBTCUPDOWN"


class SeriesFollowerTable(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool
    prefixes: list[str] = []
    instruments: list[str] = []  # read from the start (keeps a Polymarket connection open)


class SeriesFollower(StrategyBase):
    """Reads the books of every market of its series as they are listed; trades nothing."""

    name = "series_follower"

    def __init__(self, table: SeriesFollowerTable) -> None:
        self.prefixes = tuple(table.prefixes)
        self.instruments: set[str] = set(table.instruments)
        self.seen: Counter[str] = Counter()
        self.listings: list[Any] = []
        self.retired: list[str] = []

    def subscriptions(self) -> list[str]:
        return sorted(self.instruments)

    def on_book(self, update: Any) -> list:
        self.seen[update.instrument_id] += 1
        return []

    def on_book_idle(self, instrument_id: str) -> None:
        self.seen[instrument_id] += 1

    def select_market(self, listing: Any) -> bool:
        return listing.series.startswith(self.prefixes) or listing.event_id.startswith(self.prefixes)

    def add_market(self, listing: Any, yes: Any, no: Any) -> None:
        self.listings.append(listing)
        self.instruments |= {yes.id, no.id}

    def retire_market(self, venue: Venue, market_id: str, instrument_ids: list[str]) -> None:
        if self.instruments & set(instrument_ids):
            self.retired.append(market_id)
        self.instruments -= set(instrument_ids)


async def build(table: SeriesFollowerTable, ctx: Any) -> SeriesFollower:
    return SeriesFollower(table)


@pytest.fixture
def follower_registered():
    registry.REGISTRY["series_follower"] = registry.StrategySpec(
        "series_follower", "test: follows a rolling series", lambda: SeriesFollowerTable, f"{__name__}:build",
        venues=lambda t: ("polymarket", "kalshi"))
    try:
        yield
    finally:
        registry.REGISTRY.pop("series_follower", None)


@pytest.fixture
async def sim():
    runner = SimRunner(venues=["polymarket", "kalshi"], scenario="demo", seed=7)
    info = await runner.start()
    try:
        yield runner, info
    finally:
        await runner.stop()


async def _until(pred, timeout: float, what: str) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _window(n: int) -> dict[str, Any]:
    return {"key": f"btc-updown-{n}", "template": "custom", "subject": "Bitcoin up or down",
            "question": f"Bitcoin up or down, window {n}?", "series": SERIES, "date": "2026-12-05", "threshold": n,
            "fair": "0.5", "venues": ["polymarket", "kalshi"]}


def _node(info: dict[str, Any], tmp_path: Path, instruments: list[str], per_connection: int = 0, **opts: Any) -> Node:
    text = demo_config_text(info, tmp_path / "journal.sqlite", f"ipc://{tmp_path / 'c.ipc'}")
    if per_connection:
        text = text.replace("[venues.kalshi]", f"max_instruments_per_connection = {per_connection}\n\n[venues.kalshi]")
    head, _, tail = text.partition("[strategies.cross_venue]")
    tail = tail.split("\n\n", 1)[1]  # the cross-venue table ends at the first blank line
    follower = (f'[strategies.series_follower]\nenabled = true\nprefixes = ["{SERIES}", "btc-updown-"]\n'
                f"instruments = {instruments!r}\n".replace("'", '"'))
    cfg = loads_config(head + follower + "\n" + tail, base_dir=tmp_path)
    env = {POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"],
           KALSHI_KEY_ID_ENV: info["kalshi"]["accounts"][0]["key_id"]}
    return Node(cfg, NodeOptions(env=env, journal_synchronous="NORMAL", **opts))


def _ids(markets: list[Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in markets:
        if m.venue == "polymarket":
            out["polymarket"] = [f"polymarket:{m.yes_symbol}", f"polymarket:{m.no_symbol}"]
        else:
            out["kalshi"] = [f"kalshi:{m.market_id}:yes", f"kalshi:{m.market_id}:no"]
    return out


def _live(node: Node, iid: str) -> bool:
    venue = Venue(iid.split(":", 1)[0])
    return node.venues[venue].feed.book_state(iid) is BookState.LIVE


async def test_listed_markets_are_followed_and_resolved_ones_retired(sim, follower_registered, tmp_path: Path) -> None:
    runner, info = sim
    btc = [m for m in runner.scenario.catalogue.markets if m.event_key == "btc-150k" and m.fair_key == "btc-150k"
           and m.fair_offset_u == 0]
    start = [i for ids in _ids(btc).values() for i in ids]
    node = _node(info, tmp_path, start, per_connection=2, market_poll_s=0)
    await node.start()
    try:
        finder = node.finder
        assert finder is not None, "a strategy that takes listings makes the node follow markets"
        follower = node.host.get("series_follower")
        pm_feed = node.venues[Venue.POLYMARKET].feed
        await _until(lambda: all(_live(node, i) for i in start), 15.0, "the start-up books")
        assert len(pm_feed._shards) == 1

        # window 1 is listed mid-run on both venues: announced, selected, subscribed, live
        w1 = _ids(runner.scenario.list_event(_window(1)))
        w1_ids = w1["polymarket"] + w1["kalshi"]
        await _until(lambda: all(_live(node, i) for i in w1_ids), 15.0, "window 1's books to go live")
        await _until(lambda: all(follower.seen[i] for i in w1_ids), 10.0, "the strategy to see window 1's books")
        assert {(x.venue.value, x.stage) for x in follower.listings} == {("polymarket", "new_market"), ("kalshi", "created")}
        assert all(i in node.host.routes for i in w1_ids)
        assert all(i in node.instruments and i in node.engine.instruments for i in w1_ids)
        assert [len(s.assets) for s in pm_feed._shards] == [2, 2], "2 assets a connection: a new shard"

        # the rolling series: window 2 opens, window 1 resolves
        w2 = _ids(runner.scenario.list_event(_window(2)))
        w2_ids = w2["polymarket"] + w2["kalshi"]
        await _until(lambda: all(_live(node, i) for i in w2_ids), 15.0, "window 2's books to go live")
        for m in runner.scenario.catalogue.markets:
            if m.event_key == "btc-updown-1":
                runner.scenario.resolve(m.venue, m.market_id, "yes")
        await _until(lambda: len(follower.retired) == 2, 10.0, "window 1 to be retired on both venues")
        for i in w1_ids:
            assert i not in node.host.routes and i not in follower.instruments
            venue = Venue(i.split(":", 1)[0])
            assert i not in finder.subscribed(venue)
            assert node.venues[venue].feed.book_state(i) is None, f"{i} is still subscribed"
        assert [len(s.assets) for s in pm_feed._shards] == [2, 0, 2]
        # window 2 and the start-up market trade on; the strategy still sees them
        before = {i: follower.seen[i] for i in w2_ids}
        await _until(lambda: any(follower.seen[i] > before[i] for i in w2_ids), 10.0, "window 2's books to keep coming")
        assert all(_live(node, i) for i in w2_ids + start)
        st = node.status()["market_finder"]
        assert st["selected"] == 4 and st["retired"] >= 2 and st["markets"] == 2, st
    finally:
        await node.stop()
    # the markets followed are journaled (the listings the strategies took), with the resolutions
    j = Journal.open(tmp_path / "journal.sqlite", readonly=True)
    try:
        listed = [r.decode() for r in j.replay(kinds=["MarketListed"])]
        resolved = {r.decode().market_id for r in j.replay(kinds=["MarketResolved"])}
    finally:
        j.close_sync()
    w1_markets = {i.split(":")[1] for i in w1["kalshi"]} | {m.market_id for m in runner.scenario.catalogue.markets
                                                             if m.event_key == "btc-updown-1"}
    assert sorted(e.title for e in listed) == sorted(["Bitcoin up or down, window 1?"] * 2 + ["Bitcoin up or down, window 2?"] * 2)
    assert w1_markets <= resolved


async def test_a_listing_the_feeds_do_not_announce_is_found_by_polling(sim, follower_registered, tmp_path: Path) -> None:
    runner, info = sim
    node = _node(info, tmp_path, [], market_poll_s=0.3,
                 feed_overrides={"polymarket": {"custom_feature_enabled": False}, "kalshi": {"lifecycle": False}})
    await node.start()
    try:
        follower = node.host.get("series_follower")
        await _until(lambda: node.finder.counters.polls >= 1, 10.0, "a first poll")
        assert follower.listings == []  # nothing of the series is listed yet
        w = _ids(runner.scenario.list_event(_window(7)))
        ids = w["polymarket"] + w["kalshi"]
        await _until(lambda: all(_live(node, i) for i in ids), 15.0, "the polled listing's books to go live")
        await _until(lambda: all(follower.seen[i] for i in ids), 10.0, "the strategy to see them")
        assert {(x.venue.value, x.stage) for x in follower.listings} == {("polymarket", "listed"), ("kalshi", "listed")}
        assert node.venues[Venue.POLYMARKET].feed.stats.listings == 0 and node.venues[Venue.KALSHI].feed.stats.listings == 0
        assert node.finder.counters.poll_errors == 0, node.finder.counters.problems
    finally:
        await node.stop()
