"""Gamma events -> neg-risk event structure: augmented flag (enableNegRisk AND negRiskAugmented),
placeholder outcomes by the documented naming convention, the explicit Other, malformed input
counted and skipped."""

from __future__ import annotations

import json

from arbkit.venues.polymarket.gamma import is_placeholder_label, parse_events


def market(cond: str, label: str, **kw) -> dict:
    m = {"conditionId": cond, "groupItemTitle": label, "question": f"Will {label} win?",
         "clobTokenIds": json.dumps([f"{cond}-y", f"{cond}-n"]), "active": True, "closed": False,
         "acceptingOrders": True, "negRisk": True, "negRiskOther": False}
    m.update(kw)
    return m


def event(eid: str, markets: list[dict], **kw) -> dict:
    e = {"id": eid, "title": f"event {eid}", "negRisk": True, "enableNegRisk": True, "negRiskAugmented": False,
         "closed": False, "markets": markets}
    e.update(kw)
    return e


def test_plain_augmented_and_non_neg_risk_events() -> None:
    body = [
        event("1", [market("0xa", "Alice"), market("0xb", "Bob"), market("0xo", "Other", negRiskOther=True)]),
        event("2", [market("0xc", "Carol"), market("0xp", "Person A"), market("0xq", "Person B"),
                    market("0xr", "Other", negRiskOther=True)], negRiskAugmented=True),
        event("3", [market("0xd", "Yes-no")], negRisk=False, enableNegRisk=False),
        event("4", [market("0xe", "Dan")], closed=True),
    ]
    res = parse_events(body)
    assert res.malformed == 0 and [e.event_id for e in res.events] == ["1", "2"]
    plain, aug = res.events
    assert not plain.augmented and [m.other for m in plain.markets] == [False, False, True]
    assert not any(m.placeholder for m in plain.markets)  # placeholders exist only in augmented events
    assert aug.augmented
    assert [(m.label, m.placeholder, m.other) for m in aug.markets] == [
        ("Carol", False, False), ("Person A", True, False), ("Person B", True, False), ("Other", False, True)]
    assert plain.markets[0].yes_token == "0xa-y" and plain.markets[0].no_token == "0xa-n"


def test_augmented_needs_enable_neg_risk_too() -> None:
    res = parse_events([event("1", [market("0xa", "A b")], enableNegRisk=False, negRiskAugmented=True)])
    assert not res.events[0].augmented


def test_a_market_not_accepting_orders_in_an_augmented_event_is_a_placeholder() -> None:
    res = parse_events([event("1", [market("0xa", "Zed"), market("0xb", "Hidden", acceptingOrders=False)], negRiskAugmented=True)])
    assert [m.placeholder for m in res.events[0].markets] == [False, True]


def test_placeholder_names() -> None:
    assert is_placeholder_label("Person A") and is_placeholder_label("Player BB") and is_placeholder_label(" person c ")
    assert not is_placeholder_label("Kevin Warsh") and not is_placeholder_label("Other") and not is_placeholder_label("Person")


def test_malformed_events_are_counted_not_raised() -> None:
    res = parse_events([event("1", [market("0xa", "A", clobTokenIds="not json")]), {"markets": "x", "negRisk": True},
                        event("2", [market("0xb", "B")])])
    assert res.malformed == 2 and [e.event_id for e in res.events] == ["2"]
    assert parse_events({"not": "a list"}).malformed == 1
