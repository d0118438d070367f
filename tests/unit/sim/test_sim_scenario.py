"""Scenarios: catalogue (twins vs near misses), determinism, dislocations, neg-risk, replay."""

from __future__ import annotations

import gzip
import hashlib
from decimal import Decimal as D
from pathlib import Path

import pytest

from arbkit.core.clock import SimClock
from arbkit.core.enums import LiquiditySide
from arbkit.core.fees import fee_for
from arbkit.sim.events import Outcome, encode_sim_event
from arbkit.sim.faults import FaultPlan
from arbkit.sim.runner import make_engine
from arbkit.sim.scenario import BUILTIN, DIFFERENCES, ReplayFeed, Scenario, load_scenario


def _run(name: str, seed: int, steps: int):
    clock = SimClock()
    plan = FaultPlan(clock)
    sc = load_scenario(name, seed)
    engines = {v: make_engine(v, clock, plan) for v in sc.venues}
    h = hashlib.sha256()
    count = 0

    def on_batch(batch):
        nonlocal count
        for ev in batch:
            h.update(encode_sim_event(ev))
            count += 1

    for v in sorted(engines):
        engines[v].subscribe(on_batch)
    sc.build(engines, clock)
    for _ in range(steps):
        clock.advance(sc.tick_s)
        sc.step()
        for v in sorted(engines):
            engines[v].on_time()
    return sc, engines, h.hexdigest(), count


@pytest.mark.parametrize("name", BUILTIN)
def test_builtins_load_and_catalogue_is_consistent(name):
    sc = load_scenario(name, 1)
    cat = sc.catalogue
    ids = [(m.venue, m.market_id) for m in cat.markets]
    assert len(ids) == len(set(ids))
    symbols = [s for m in cat.markets for s in (m.yes_symbol, m.no_symbol)]
    assert len(symbols) == len(set(symbols))
    for p in cat.pairs:
        pm = cat.market("polymarket", p.polymarket_market_id)
        km = cat.market("kalshi", p.kalshi_market_id)
        assert p.relation in ("twin", "near_miss")
        if p.relation == "twin":
            assert p.differences == []
            assert pm.resolution_source == km.resolution_source and pm.close_time == km.close_time
        else:
            assert p.differences and set(p.differences) <= set(DIFFERENCES) and p.note
    for m in cat.markets:
        if m.venue == "polymarket":
            assert m.market_id.startswith("0x") and len(m.market_id) == 66 and m.yes_symbol.isdigit()
            assert m.venue_meta["question"] and m.venue_meta["description"]
        else:
            assert m.yes_symbol == f"{m.market_id}:yes" and m.venue_meta["rules_primary"]


def test_demo_has_every_kind_of_near_miss_and_twins():
    cat = load_scenario("demo", 1).catalogue
    kinds = {d for p in cat.pairs if p.relation == "near_miss" for d in p.differences}
    assert kinds == set(DIFFERENCES)
    assert sum(p.relation == "twin" for p in cat.pairs) >= 6
    polarity = next(p for p in cat.pairs if "polarity" in p.differences)
    km = cat.market("kalshi", polarity.kalshi_market_id)
    assert "below" in km.title.lower() or "below" in km.rules.lower()
    assert any(e.neg_risk and e.mutually_exclusive for e in cat.events)


def test_same_seed_same_stream_different_seed_different_stream():
    _, _, h1, n1 = _run("demo", 42, 60)
    _, _, h2, n2 = _run("demo", 42, 60)
    _, _, h3, _ = _run("demo", 43, 60)
    assert n1 > 500 and (h1, n1) == (h2, n2)
    assert h3 != h1


def test_background_flow_keeps_accounts_sound():
    sc, engines, _, _ = _run("demo", 5, 120)
    for eng in engines.values():
        assert eng.accounts.all_non_negative()
        assert len(eng.trades()) > 20
        for spec in eng.markets():
            bb, ba = eng.best(spec.market_id, Outcome.YES)
            assert bb is None or ba is None or bb < ba


def _edge(engines, pair) -> D:
    """Best fee-inclusive edge per share of buying YES on one venue and NO on the other."""
    pm, km = engines["polymarket"], engines["kalshi"]
    best = D(-1)
    for yes_eng, yes_m, no_eng, no_m in ((pm, pair.polymarket_market_id, km, pair.kalshi_market_id),
                                         (km, pair.kalshi_market_id, pm, pair.polymarket_market_id)):
        _, yes_ask = yes_eng.best(yes_m, Outcome.YES)
        _, no_ask = no_eng.best(no_m, Outcome.NO)
        if yes_ask is None or no_ask is None:
            continue
        fees = fee_for(yes_eng.market(yes_m).fee, yes_ask, D(100), LiquiditySide.TAKER) + fee_for(
            no_eng.market(no_m).fee, no_ask, D(100), LiquiditySide.TAKER
        )
        best = max(best, 1 - yes_ask - no_ask - fees / 100)
    return best


def test_dislocation_opens_a_fee_positive_edge_that_closes():
    clock = SimClock()
    sc = load_scenario("quiet", 3)  # no random flow or dislocation of its own
    plan = FaultPlan(clock)
    engines = {v: make_engine(v, clock, plan) for v in sc.venues}
    sc.build(engines, clock)
    twin = next(p for p in sc.catalogue.pairs if p.relation == "twin")
    assert _edge(engines, twin) < 0
    rec = sc.dislocate("polymarket", twin.polymarket_market_id, D("-0.08"))
    assert rec["venue"] == "polymarket"
    assert _edge(engines, twin) > D("0.005")
    steps = int(sc.disl_decay_s / sc.tick_s) + 2
    for _ in range(steps):
        clock.advance(sc.tick_s)
        sc.step()
    assert _edge(engines, twin) < 0


def test_negrisk_yes_asks_sometimes_sum_below_one():
    clock = SimClock()
    sc = load_scenario("negrisk", 11)
    plan = FaultPlan(clock)
    engines = {v: make_engine(v, clock, plan) for v in sc.venues}
    sc.build(engines, clock)
    pm = engines["polymarket"]
    groups: dict[str, list[str]] = {}
    for m in sc.catalogue.markets:
        if m.venue == "polymarket" and m.neg_risk:
            groups.setdefault(m.event_key, []).append(m.market_id)
    below = 0
    for _ in range(200):
        clock.advance(sc.tick_s)
        sc.step()
        for mids in groups.values():
            asks = [pm.best(mid, Outcome.YES)[1] for mid in mids]
            if all(a is not None for a in asks) and sum(asks) < 1:
                below += 1
    assert below > 0
    assert sum(D(v) for k, v in sc.state()["fair"].items() if k.startswith("fed-chair/")) == 1


def test_admin_underprice_drops_every_yes_ask_of_the_event_now_and_for_its_steps():
    """The demo asks for the complete-set opportunity instead of waiting for the scenario's dice."""
    sc, engines, _, _ = _run("demo", 5, 0)
    mids = {v: [m.market_id for m in sc.catalogue.markets if m.venue == v and m.fair_key.startswith("fed-chair/")]
            for v in ("polymarket", "kalshi")}
    assert all(len(x) == 4 for x in mids.values())

    def ask_sum(v: str) -> D:
        return sum(engines[v].best(mid, Outcome.YES)[1] for mid in mids[v])

    before = {v: ask_sum(v) for v in mids}
    assert all(s >= 1 for s in before.values()), before
    rec = sc.underprice("fed-chair", D("0.05"), 3)
    assert rec["event_key"] == "fed-chair" and D(rec["shift"]) == D("0.05") and rec["steps"] == 3
    after = {v: ask_sum(v) for v in mids}
    assert all(after[v] < 1 and after[v] <= before[v] - D("0.15") for v in mids), (before, after)
    with pytest.raises(ValueError, match="unknown multi-outcome event"):
        sc.underprice("nope")
    with pytest.raises(ValueError, match="positive"):
        sc.underprice("fed-chair", D("0"))


def test_scenario_file_errors_name_the_problem(tmp_path: Path):
    p = tmp_path / "bad.toml"
    p.write_text('name = "x"\nvenues = ["polymarket"]\nfunding = 1.5\n')
    with pytest.raises(ValueError, match="funding"):
        load_scenario(str(p), 1)
    p.write_text('venues = ["polymarket"]\n[[events]]\nkey = "e"\ntemplate = "zzz"\n')
    with pytest.raises(ValueError, match="unknown template"):
        load_scenario(str(p), 1)
    p.write_text('venues = ["nasdaq"]\n')
    with pytest.raises(ValueError, match="unknown venue"):
        load_scenario(str(p), 1)
    p.write_text('venues = ["polymarket"]\n[[negrisk]]\nkey = "n"\noutcomes = ["a", "b"]\nfairs = ["0.5", "0.4"]\n')
    with pytest.raises(ValueError, match="sum to 1"):
        load_scenario(str(p), 1)
    with pytest.raises(ValueError, match="unknown scenario"):
        load_scenario("no-such-scenario", 1)
    with pytest.raises(FileNotFoundError):
        load_scenario("replay:" + str(tmp_path / "missing.gz"), 1)


def test_custom_scenario_file(tmp_path: Path):
    p = tmp_path / "mine.toml"
    p.write_text(
        'name = "mine"\nvenues = ["kalshi"]\n[[events]]\nkey = "rain"\ntemplate = "custom"\n'
        'question = "Will it rain in NYC on July 4?"\nfair = "0.3"\n'
    )
    sc = load_scenario(str(p), 1)
    assert isinstance(sc, Scenario) and sc.name == "mine"
    assert [m.title for m in sc.catalogue.markets] == ["Will it rain in NYC on July 4?"]


def test_replay_feed_format(tmp_path: Path):
    p = tmp_path / "rec.gz"
    with gzip.open(p, "wt") as f:
        f.write('1000 [{"event_type":"book","asset_id":"1"}]\n')
        f.write("garbage line\n\n")
        f.write('2000 {"type":"orderbook_delta","sid":1,"seq":2,"msg":{}}\n')
    feed = ReplayFeed(p)
    lines = list(feed.lines())
    assert lines == [(1000, '[{"event_type":"book","asset_id":"1"}]'), (2000, '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{}}')]
    assert feed.malformed == 1
    assert [ts for ts, _ in feed.lines_for("kalshi")] == [2000]
    sc = load_scenario(f"replay:{p}", 1)
    assert sc.replay is not None and sc.catalogue.markets == []


def test_replay_reads_a_real_recording(shared_data: Path):
    feed = ReplayFeed(shared_data / "hftbacktest" / "binance_spot_ethusdt_20240809.gz")
    first = []
    for i, (ts, raw) in enumerate(feed.lines()):
        first.append((ts, raw))
        if i == 99:
            break
    assert len(first) == 100 and feed.malformed == 0
    assert all(a[0] <= b[0] for a, b in zip(first, first[1:]))
    assert first[0][1].startswith("{")


def test_polymarket_tick_size_refines_near_the_edges():
    from arbkit.sim.events import SimTickSizeChanged

    clock = SimClock()
    sc = load_scenario("demo", 1)  # walk.min = 0.03, below the 0.04 edge
    plan = FaultPlan(clock)
    engines = {v: make_engine(v, clock, plan) for v in sc.venues}
    changes = []
    engines["polymarket"].subscribe(lambda b: changes.extend(e for e in b if isinstance(e, SimTickSizeChanged)))
    sc.build(engines, clock)
    m = next(m for m in sc.catalogue.markets if m.venue == "polymarket" and m.fair_key == "btc-150k")
    sc.fair_u["btc-150k"] = 320  # 0.032; one walk step moves it by at most 0.002
    sc.step()
    assert (m.market_id, D("0.01"), D("0.001")) in [(c.market_id, c.old_tick, c.new_tick) for c in changes]
    assert engines["polymarket"].market(m.market_id).tick_size == D("0.001")
    bid, ask = engines["polymarket"].best(m.market_id)
    assert bid is not None and ask is not None and bid < ask
    ks = next(k for k in sc.catalogue.markets if k.venue == "kalshi" and k.fair_key == "btc-150k")
    assert engines["kalshi"].market(ks.market_id).tick_size == D("0.01")


def test_background_traders_never_use_up_client_faults():
    from arbkit.core.enums import Side
    from arbkit.sim.engine import OrderParams, RejectCode
    from arbkit.sim.faults import FaultKind, FaultSpec

    clock = SimClock()
    sc = load_scenario("demo", 2)
    plan = FaultPlan(clock)
    plan.add(FaultSpec(kind=FaultKind.ORDER_REJECT, venue="kalshi", times=1, message="injected"))
    plan.add(FaultSpec(kind=FaultKind.TRADE_FAILED, venue="polymarket", times=1))
    engines = {v: make_engine(v, clock, plan) for v in sc.venues}
    sc.build(engines, clock)
    for _ in range(20):
        clock.advance(sc.tick_s)
        sc.step()
    assert plan.fired() == []
    ks = engines["kalshi"]
    ks.accounts.create("client", {"USD": D(100)})
    mkt = next(m for m in sc.catalogue.markets if m.venue == "kalshi")
    r = ks.submit(OrderParams(account_id="client", symbol=mkt.yes_symbol, side=Side.BUY, size=D(1), price=D("0.05")))
    assert r.code is RejectCode.FAULT_REJECT and r.message == "injected"
    assert [f["kind"] for f in plan.fired()] == ["ORDER_REJECT"]


def test_scenario_faults_feed_the_fault_plan(tmp_path: Path):
    p = tmp_path / "faulty.toml"
    p.write_text(
        'venues = ["polymarket"]\n'
        '[[faults]]\nkind = "REST_429"\nvenue = "polymarket"\nat_s = 2.0\nretry_after_s = 3.0\nmatch = "/order"\n'
        '[[faults]]\nkind = "WS_SEQ_GAP"\nafter = 5\ntimes = 1\n'
    )
    sc = load_scenario(str(p), 1)
    clock = SimClock()
    plan = FaultPlan(clock, sc.faults)
    plan.start()
    assert [f["kind"] for f in plan.list()] == ["REST_429", "WS_SEQ_GAP"]
    assert plan.rest_fault("polymarket", "POST", "/order") is None
    clock.advance(2)
    assert plan.rest_fault("polymarket", "GET", "/book") is None
    assert plan.rest_fault("polymarket", "POST", "/order").spec.retry_after_s == 3.0
    p.write_text('venues = ["polymarket"]\n[[faults]]\nkind = "EARTHQUAKE"\n')
    with pytest.raises(ValueError, match="invalid fault"):
        FaultPlan(clock, load_scenario(str(p), 1).faults)


def test_demo_resolution_waits_to_be_armed_then_keeps_its_schedule():
    """The demo scenario's Bitcoin twin resolves only in a run that arms the schedule (``arbkit
    demo``), ``after_s`` clock seconds after arming; other runs of the scenario keep it open."""
    clock = SimClock()
    plan = FaultPlan(clock)
    sc = load_scenario("demo", 3)
    engines = {v: make_engine(v, clock, plan) for v in sc.venues}
    sc.build(engines, clock)
    btc = [m for m in sc.catalogue.markets if m.event_key == "btc-150k"]
    assert {m.venue for m in btc} == {"polymarket", "kalshi"}
    for _ in range(100):  # 50 s of clock: not armed, nothing resolves
        clock.advance(sc.tick_s)
        sc.step()
    assert sc.resolution_log == [] and all(engines[m.venue].resolved(m.market_id) is None for m in btc)
    scheduled = sc.arm_resolutions()
    assert [(r["event_key"], r["winner"], r["done"]) for r in scheduled] == [("btc-150k", "yes", False)]
    assert sc.arm_resolutions()[0]["due_ns"] == scheduled[0]["due_ns"]  # arming twice does not move it
    while clock.now_ns() < scheduled[0]["due_ns"] - int(sc.tick_s * 1e9):
        clock.advance(sc.tick_s)
        sc.step()
    assert sc.resolution_log == []
    clock.advance(sc.tick_s)
    sc.step()
    assert sorted((r["venue"], r["market_id"]) for r in sc.resolution_log) == sorted((m.venue, m.market_id) for m in btc)
    assert all(engines[m.venue].resolved(m.market_id) is Outcome.YES for m in btc)
    others = [m for m in sc.catalogue.markets if m.event_key != "btc-150k"]
    assert all(engines[m.venue].resolved(m.market_id) is None for m in others)
    # a dislocation asked on a resolved market requotes nothing there (its book stays empty)
    pm = next(m for m in btc if m.venue == "polymarket")
    sc.dislocate("polymarket", pm.market_id)
    assert engines["polymarket"].best(pm.market_id, Outcome.YES) == (None, None)


def test_listing_mid_run_and_a_rolling_series(tmp_path: Path):
    """A listing adds markets to the engines and the catalogue (servers are told through the
    listeners); a rolling series lists window n+1 and resolves window n every period."""
    path = tmp_path / "roll.toml"
    path.write_text("""
name = "roll"
venues = ["polymarket", "kalshi"]
tick_s = 0.5
[[listings]]
key = "later"
template = "custom"
question = "Listed later?"
after_s = 2
[[rolling]]
key = "btc-updown"
template = "custom"
question = "Bitcoin up in window {n}?"
series = "KXBTCUD"
date = "2026-12-05"
period_s = 5
windows = 3
""")
    clock = SimClock()
    sc = load_scenario(str(path), 1)
    engines = {v: make_engine(v, clock, FaultPlan(clock)) for v in sc.venues}
    heard: list[tuple[str, str]] = []
    sc.listing_listeners.append(lambda m: heard.append((m.venue, m.market_id)))
    sc.build(engines, clock)

    def run(seconds: float) -> None:
        for _ in range(int(seconds / sc.tick_s)):
            clock.advance(sc.tick_s)
            sc.step()

    run(1.0)
    keys = lambda: [x["key"] for x in sc.listing_log]  # noqa: E731
    assert keys() == ["btc-updown-1", "btc-updown-1"]  # both venues, at the first step
    run(2.0)
    assert keys().count("later") == 2 and len(heard) == 4
    later = [m for m in sc.catalogue.markets if m.event_key == "later"]
    assert all(engines[m.venue].market(m.market_id) is not None for m in later)
    assert any(p.relation == "twin" and p.polymarket_market_id in {m.market_id for m in later} for p in sc.catalogue.pairs)
    pm = next(m for m in later if m.venue == "polymarket")
    assert engines["polymarket"].best(pm.market_id, Outcome.YES) != (None, None), "the makers quote a listed market"
    with pytest.raises(ValueError, match="new key"):
        sc.list_event({"key": "later"})
    run(10.0)  # 13 s: windows 2 and 3 opened, 1 and 2 resolved
    tickers = sorted(m.market_id for m in sc.catalogue.markets if m.venue == "kalshi" and m.event_key.startswith("btc-updown"))
    assert tickers == ["KXBTCUD-26DEC05W1-Y1", "KXBTCUD-26DEC05W2-Y2", "KXBTCUD-26DEC05W3-Y3"]  # one event per window
    resolved = sorted({r["market_id"] for r in sc.resolution_log})
    assert resolved == sorted(m.market_id for m in sc.catalogue.markets if m.event_key in ("btc-updown-1", "btc-updown-2"))
    run(3.0)  # 16 s: the last window closed too
    assert len({r["market_id"] for r in sc.resolution_log}) == 6
