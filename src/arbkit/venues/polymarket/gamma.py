"""Gamma events (``GET /events``): which markets form a multi-outcome (neg-risk) event, and which
of them may count as outcomes of a complete set.

Facts relied on (docs/venues/polymarket.md, checked 2026-12-05):

* an event is neg-risk when ``negRisk`` (event and markets) / ``enableNegRisk`` is true;
* it is *augmented* neg-risk when ``enableNegRisk`` AND ``negRiskAugmented`` are true: besides the
  named outcomes it deploys unnamed **placeholder** outcomes ("Person A", "Person B", ...) that can
  later be clarified to a new named outcome, and an explicit "Other" whose definition changes as
  placeholders are named. The venue says to trade only named outcomes and ignore the others until
  they are named or the event resolves;
* each market carries ``groupItemTitle`` (the outcome's label), ``clobTokenIds`` (a JSON string of
  [YES, NO] token ids), ``negRiskOther`` (the explicit Other), ``active`` / ``closed`` /
  ``acceptingOrders``.

Gamma has no documented per-market placeholder flag; a market of an augmented event is taken as a
placeholder when its label follows the documented naming convention (a generic noun and a capital
letter: "Person A") or when the venue does not accept orders on it (the UI hides unnamed
outcomes). Erring towards "placeholder" only ever skips a trade.

Malformed events or markets are skipped and counted (``GammaParse.malformed``), never raised.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# "Person A", "Player B", "Candidate AA", "Team C" ... (docs: "Person A -> can be clarified to a named outcome")
PLACEHOLDER_RE = re.compile(r"^(person|player|candidate|team|option|outcome|nominee|individual|company|country|party|club)"
                            r"\s+[A-Z]{1,2}$", re.IGNORECASE)


@dataclass(frozen=True)
class GammaMarket:
    condition_id: str
    yes_token: str
    no_token: str
    label: str
    question: str
    other: bool
    placeholder: bool
    accepting_orders: bool


@dataclass(frozen=True)
class GammaEvent:
    event_id: str
    title: str
    neg_risk: bool
    augmented: bool
    markets: tuple[GammaMarket, ...]


@dataclass
class GammaParse:
    events: list[GammaEvent] = field(default_factory=list)
    malformed: int = 0
    problems: list[str] = field(default_factory=list)


def _tokens(raw: Any) -> list[str]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    if not isinstance(raw, list):
        raise ValueError("clobTokenIds is not a list")
    return [str(t) for t in raw]


def is_placeholder_label(label: str) -> bool:
    return bool(PLACEHOLDER_RE.match(label.strip()))


def parse_events(body: Any) -> GammaParse:
    """Gamma ``/events`` JSON (a list of events) -> neg-risk events with their markets."""
    out = GammaParse()
    if not isinstance(body, list):
        out.malformed += 1
        out.problems.append(f"events: expected a list, got {type(body).__name__}")
        return out
    for ev in body:
        try:
            parsed = parse_event(ev)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            out.malformed += 1
            out.problems.append(f"event {ev.get('id') if isinstance(ev, dict) else '?'}: {type(exc).__name__}: {exc}")
            continue
        if parsed is not None:
            out.events.append(parsed)
    return out


def parse_event(ev: dict[str, Any]) -> GammaEvent | None:
    """One Gamma event; None when it is not an open neg-risk event."""
    if ev.get("closed") or ev.get("archived"):
        return None
    neg_risk = bool(ev.get("negRisk") or ev.get("enableNegRisk"))
    if not neg_risk:
        return None
    augmented = bool(ev.get("enableNegRisk")) and bool(ev.get("negRiskAugmented"))
    markets = []
    raw_markets = ev.get("markets") or []
    if not isinstance(raw_markets, list):
        raise TypeError("markets is not a list")
    for m in raw_markets:
        if m.get("closed") or m.get("archived"):
            continue
        toks = _tokens(m["clobTokenIds"])
        if len(toks) != 2:
            raise ValueError(f"market {m.get('conditionId')}: {len(toks)} token ids")
        label = str(m.get("groupItemTitle") or m.get("question") or "")
        accepting = bool(m.get("acceptingOrders", True)) and bool(m.get("active", True)) and bool(m.get("enableOrderBook", True))
        other = bool(m.get("negRiskOther")) or (augmented and label.strip().lower() == "other")
        placeholder = augmented and not other and (is_placeholder_label(label) or not accepting)
        markets.append(GammaMarket(condition_id=str(m["conditionId"]), yes_token=toks[0], no_token=toks[1], label=label,
                                   question=str(m.get("question") or ""), other=other, placeholder=placeholder,
                                   accepting_orders=accepting))
    return GammaEvent(event_id=str(ev["id"]), title=str(ev.get("title") or ev["id"]), neg_risk=True, augmented=augmented,
                      markets=tuple(markets))
