"""The complete-set market maker's quote decision (pure, exact) and its config table."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbkit.core.book import PredictionBook
from arbkit.core.enums import InstrumentKind, Side, Venue
from arbkit.core.fees import FeeSpec
from arbkit.core.instruments import Instrument
from arbkit.runtime.config import ConfigError, loads_config
from arbkit.strategies import registry
from arbkit.strategies.base import InventoryChange
from arbkit.strategies.complete_set_mm import CompleteSetMM, MMConfig, MMKey, MMParams, quote_set


def outcome(sym: str, other: str, *, maker: str = "0", tick: str = "0.01") -> Instrument:
    return Instrument(venue=Venue.POLYMARKET, symbol=sym, kind=InstrumentKind.OUTCOME, tick_size=D(tick),
                      size_increment=D("0.01"), min_size=D("5"), quote="pUSD", outcome=sym.upper(), market_id="0xc",
                      complement=other, fee=FeeSpec(kind="polymarket", taker_rate=D("0.02"), maker_rate=D(maker)))


YES, NO = outcome("yes", "no"), outcome("no", "yes")
P = MMParams(target_spread=D("0.02"), quote_size=D(10), max_position=D(30), max_unmatched=D(15))


def test_quotes_improve_the_bid_inside_the_budget_and_below_the_ask() -> None:
    qs, why = quote_set([YES, NO], [(D("0.40"), D("0.44")), (D("0.55"), D("0.59"))], [D(0), D(0)], [D(0), D(0)], P)
    assert why == ""
    # 0.41 + 0.56 = 0.97 <= 0.98: one tick better than the best bid on each side
    assert [(q.price, q.size, q.side) for q in qs] == [(D("0.41"), D(10), Side.BUY), (D("0.56"), D(10), Side.BUY)]


def test_a_rich_book_is_cut_to_the_target_from_the_highest_side() -> None:
    qs, _ = quote_set([YES, NO], [(D("0.45"), D("0.47")), (D("0.53"), D("0.55"))], [D(0), D(0)], [D(0), D(0)], P)
    total = sum(q.price for q in qs)
    assert total <= D("0.98") and total == D("0.98")  # the whole budget, not less
    assert all(q.price < ask for q, ask in zip(qs, (D("0.47"), D("0.55"))))  # post-only: below the ask


def test_never_at_or_through_the_best_ask() -> None:
    qs, _ = quote_set([YES, NO], [(D("0.30"), D("0.31")), (D("0.60"), D("0.61"))], [D(0), D(0)], [D(0), D(0)], P)
    assert qs[0].price == D("0.30") and qs[1].price == D("0.60")  # a one-tick spread: join, never cross


def test_maker_fees_count_against_the_budget() -> None:
    y, n = outcome("yes", "no", maker="0.10"), outcome("no", "yes", maker="0.10")
    qs, _ = quote_set([y, n], [(D("0.45"), D("0.50")), (D("0.48"), D("0.53"))], [D(0), D(0)], [D(0), D(0)], P)
    from arbkit.strategies.complete_set_mm import _maker_fee

    assert sum(q.price + _maker_fee(q.instrument, q.price) for q in qs) <= D("0.98")


def test_inventory_sizes_skew_and_the_completion_budget() -> None:
    p = MMParams(target_spread=D("0.02"), quote_size=D(10), max_position=D(30), max_unmatched=D(15), skew=D("0.002"))
    # holding 12 YES bought at 0.42 (unmatched): YES is lowered and may add only 3 more; NO raised but
    # capped so that a completed set costs at most 0.98 with the YES already paid
    qs, _ = quote_set([YES, NO], [(D("0.40"), D("0.44")), (D("0.50"), D("0.60"))], [D(12), D(0)], [D("5.04"), D(0)], p)
    yes, no = qs
    assert yes is None or yes.price <= D("0.41") - D("0.03")  # 12 x 0.002 = 0.024 -> 3 ticks lower
    assert yes is None or yes.size == D(3)
    assert no.price > D("0.51") - D("0.01") and no.price <= D("0.98") - D("0.42")
    assert no.size == D(10)


def test_an_outcome_at_its_limit_gets_no_quote() -> None:
    qs, why = quote_set([YES, NO], [(D("0.40"), D("0.44")), (D("0.55"), D("0.59"))], [D(15), D(0)], [D(6), D(0)], P)
    assert qs[0] is None and "limit" in why
    qs, why = quote_set([YES, NO], [(D("0.40"), D("0.44")), (D("0.55"), D("0.59"))], [D(30), D(30)], [D(12), D(17)], P)
    assert qs == [None, None]


def test_three_outcomes_of_an_event() -> None:
    a, b, c = outcome("a", ""), outcome("b", ""), outcome("c", "")
    qs, _ = quote_set([a, b, c], [(D("0.30"), D("0.35")), (D("0.30"), D("0.35")), (D("0.33"), D("0.38"))],
                      [D(0)] * 3, [D(0)] * 3, P)
    assert sum(q.price for q in qs) <= D("0.98") and all(q.size == D(10) for q in qs)


@settings(max_examples=300, deadline=None)
@given(by=st.integers(1, 97), ny=st.integers(1, 97), sy=st.integers(1, 5), sn=st.integers(1, 5),
       py=st.integers(0, 40), pn=st.integers(0, 40), cy=st.integers(1, 99), cn=st.integers(1, 99),
       skew=st.sampled_from(["0", "0.001", "0.01"]))
def test_property_budget_limits_and_grid(by, ny, sy, sn, py, pn, cy, cn, skew) -> None:
    tops = [(D(by) / 100, min(D(by + sy) / 100, D("0.99"))), (D(ny) / 100, min(D(ny + sn) / 100, D("0.99")))]
    pos = [D(py), D(pn)]
    cost = [pos[0] * D(cy) / 100, pos[1] * D(cn) / 100]
    p = MMParams(target_spread=D("0.02"), quote_size=D(10), max_position=D(30), max_unmatched=D(15), skew=D(skew))
    qs, _ = quote_set([YES, NO], tops, pos, cost, p)
    live = [q for q in qs if q is not None]
    if len(live) == 2:
        assert live[0].price + live[1].price <= D("0.98")
    sets = min(pos)
    for i, q in enumerate(qs):
        if q is None:
            continue
        assert q.price % D("0.01") == 0 and q.size % D("0.01") == 0
        assert q.price < tops[i][1]  # rests
        assert pos[i] + q.size <= p.max_position  # a full fill stays inside the limits
        assert pos[i] - sets + q.size <= p.max_unmatched
        other = 1 - i
        if pos[other] - sets > 0 and pos[i] - sets == 0:  # completing held shares keeps the target
            assert q.price + cost[other] / pos[other] <= D("0.98")


def _Book(bid: str, ask: str, *, more_bids: tuple = (), size: int = 100) -> PredictionBook:
    """A real book: one level each side (plus ``more_bids`` as (price, size))."""
    b = PredictionBook(D("0.01"), 2)
    bids = [(int(D(bid) * 100), size * 100)] + [(int(D(p) * 100), int(D(q) * 100)) for p, q in more_bids]
    b.apply_snapshot(sorted(bids), [(int(D(ask) * 100), size * 100)], sequence=1, ts_ns=1)
    return b


class _Market:
    """Books by instrument id (the MarketView protocol: book + untradeable)."""

    def __init__(self, books: dict, bad: dict | None = None) -> None:
        self.books, self.bad = books, bad or {}

    def book(self, iid):
        return self.books.get(iid)

    def untradeable(self, iid, now_ns, max_age_ns):
        return self.bad.get(iid)

    def confirmed_ns(self, iid, now_ns):
        return now_ns


def _mm(**kw) -> tuple[CompleteSetMM, _Market]:
    market = _Market({YES.id: _Book("0.40", "0.44"), NO.id: _Book("0.55", "0.59")})
    mm = CompleteSetMM(MMConfig(params=P, **kw), market, [MMKey("k", (YES, NO), merge_market="0xc")], clock_ns=lambda: 0)
    return mm, market


def test_strategy_emits_quote_requests_only_when_they_change_and_follows_inventory() -> None:
    from arbkit.strategies.base import BookUpdate, QuoteRequest

    mm, market = _mm()
    out = mm.on_book(BookUpdate(YES.id, 1))
    assert len(out) == 1 and isinstance(out[0], QuoteRequest) and len(out[0].quotes) == 2
    assert mm.on_book(BookUpdate(YES.id, 2)) == []  # the same quotes: nothing new asked
    out = mm.on_inventory(InventoryChange("k", YES.id, D(10), D("4.10"), "fill", 3))
    assert out and {q.instrument.id: q.size for q in out[0].quotes}[YES.id] == D(5)  # 15 unmatched max
    market.bad[NO.id] = "stale book"
    out = mm.on_book(BookUpdate(NO.id, 4))
    assert out[0].quotes == () and "stale" in out[0].reason


def test_unwind_rules_time_and_price() -> None:
    from arbkit.strategies.base import UnwindRequest

    mm, market = _mm(unwind_after_s=5.0)
    mm.on_inventory(InventoryChange("k", YES.id, D(10), D("4.10"), "fill", 1_000_000_000))
    assert not [o for o in mm.on_timer(3 * 10**9) if isinstance(o, UnwindRequest)]
    unw = [o for o in mm.on_timer(7 * 10**9) if isinstance(o, UnwindRequest)]
    assert len(unw) == 1 and unw[0].quantity == D(10) and unw[0].limit_price == D("0.40") and "time" in unw[0].reason
    assert not [o for o in mm.on_timer(8 * 10**9) if isinstance(o, UnwindRequest)]  # one at a time
    mm2, market2 = _mm(unwind_loss=D("0.05"))
    mm2.on_inventory(InventoryChange("k", NO.id, D(10), D("5.90"), "fill", 1))
    assert not [o for o in mm2.on_timer(2) if isinstance(o, UnwindRequest)]
    market2.books[NO.id] = _Book("0.53", "0.58")  # 0.59 avg entry, bid 0.53: 0.06 below
    unw = [o for o in mm2.on_timer(3) if isinstance(o, UnwindRequest)]
    assert len(unw) == 1 and "price" in unw[0].reason


def _cfg(extra: str) -> str:
    return f"""
[node]
journal_path = "j.sqlite"
[venues.polymarket]
mode = "paper"
[strategies.complete_set_mm]
enabled = true
target_spread = "0.02"
quote_size = "10"
max_position = "50"
max_unmatched = "20"
{extra}
[[strategies.complete_set_mm.markets]]
condition_id = "0x{'ab' * 32}"
yes_token_id = "1"
no_token_id = "2"
"""


def test_config_table_is_validated_and_summarised(tmp_path) -> None:
    cfg = loads_config(_cfg('skew = "0.001"\nunwind_after_s = 30'), base_dir=tmp_path)
    spec = registry.get("complete_set_mm")
    line = spec.summary(cfg.strategies.tables["complete_set_mm"], cfg)
    assert line.startswith("complete_set_mm: 1 markets") and "unwind time" in line
    with pytest.raises(ConfigError, match="max_unmatched"):
        loads_config(_cfg("").replace('max_unmatched = "20"', 'max_unmatched = "60"'), base_dir=tmp_path)
    with pytest.raises(ConfigError, match="target_spread"):
        loads_config(_cfg("").replace('target_spread = "0.02"', 'target_spread = "1.5"'), base_dir=tmp_path)
    with pytest.raises(ConfigError):
        loads_config(_cfg("bogus = 1"), base_dir=tmp_path)


def test_the_strategy_does_not_chase_its_own_quote() -> None:
    from arbkit.strategies.base import BookUpdate

    mm, market = _mm()
    first = mm.on_book(BookUpdate(YES.id, 1))[0]
    yes = {q.instrument.id: q for q in first.quotes}[YES.id]
    assert yes.price == D("0.41")
    # our 10 at 0.41 is now the best bid (alone at its level): the others' best is still 0.40
    market.books[YES.id] = _Book("0.40", "0.44", more_bids=(("0.41", "10"),))
    assert mm.on_book(BookUpdate(YES.id, 2)) == []  # no change: not improving on ourselves
    # someone else joins our level: it is theirs too now, and the best of the others is 0.41
    market.books[YES.id] = _Book("0.40", "0.44", more_bids=(("0.41", "25"),))
    out = mm.on_book(BookUpdate(YES.id, 3))
    assert {q.instrument.id: q.price for q in out[0].quotes}[YES.id] == D("0.42")
