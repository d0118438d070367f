"""Discovery: candidate Polymarket <-> Kalshi pairs, scored, with their differences.

Input is what the venues' public REST lists say (see :mod:`arbkit.mapping.reader`): Polymarket
CLOB markets (merged with Gamma's ``groupItemTitle``/``resolutionSource`` where present) and Kalshi
markets with their series (settlement sources) and events. For each Polymarket market, Kalshi
markets sharing subject words are scored on title similarity, shared entities, dates and numbers;
a pair whose entities are disjoint, or whose multi-outcome labels name different outcomes, is not
a candidate. Every candidate carries the full difference list (:func:`differences.compare`), the
proposed polarity and a recommendation; :func:`sync_to_store` records them as pending mappings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from arbkit.mapping.differences import Comparison, compare
from arbkit.mapping.extract import (Terms, abbreviated_label, content_tokens, is_numeric_label, kalshi_terms, label_in,
                                    polymarket_terms)
from arbkit.mapping.store import Mapping, MappingStore

MIN_SCORE = 0.30
TOP_K = 3


@dataclass
class PolyMarket:
    """One binary Polymarket market as discovery needs it."""

    condition_id: str
    yes_token: str
    no_token: str
    raw: dict[str, Any]

    @classmethod
    def from_clob(cls, market: dict[str, Any], gamma: dict[str, Any] | None = None) -> "PolyMarket | None":
        """From a CLOB ``/markets`` item (tokens with outcome Yes/No); None if not a binary market."""
        tokens = market.get("tokens") or []
        yes = next((t for t in tokens if str(t.get("outcome", "")).lower() == "yes"), None)
        no = next((t for t in tokens if str(t.get("outcome", "")).lower() == "no"), None)
        if yes is None or no is None or not market.get("condition_id"):
            return None
        raw = dict(market)
        if gamma:
            for k in ("groupItemTitle", "resolutionSource", "endDate"):
                if gamma.get(k):
                    raw.setdefault(k, gamma[k])
        return cls(str(market["condition_id"]), str(yes["token_id"]), str(no["token_id"]), raw)

    @classmethod
    def from_gamma(cls, market: dict[str, Any], event: dict[str, Any] | None = None) -> "PolyMarket | None":
        """From a Gamma ``/markets`` item or an event's nested market (``conditionId``, ``outcomes`` and
        ``clobTokenIds`` as JSON-encoded arrays, docs.polymarket.com/market-data/overview); the event
        supplies a missing description, resolution source or end date. None if not a Yes/No market."""
        outcomes = _json_list(market.get("outcomes"))
        tokens = _json_list(market.get("clobTokenIds"))
        cid = market.get("conditionId") or market.get("condition_id")
        if not cid or len(outcomes) != len(tokens) or not tokens:
            return None
        by = {str(o).strip().lower(): str(t) for o, t in zip(outcomes, tokens)}
        if set(by) != {"yes", "no"}:
            return None
        ev = event or {}
        raw: dict[str, Any] = {
            "condition_id": str(cid),
            "question": market.get("question") or ev.get("title") or "",
            "description": market.get("description") or ev.get("description") or "",
            "groupItemTitle": market.get("groupItemTitle") or "",
            "resolutionSource": market.get("resolutionSource") or ev.get("resolutionSource") or "",
            "endDate": market.get("endDate") or ev.get("endDate") or "",
            "negRisk": bool(market.get("negRisk") or ev.get("negRisk")),
            "event_title": ev.get("title") or "",
            "slug": market.get("slug") or "",
            "tokens": [{"token_id": by["yes"], "outcome": "Yes"}, {"token_id": by["no"], "outcome": "No"}],
        }
        for k in ("closed", "archived", "active"):
            if k in market:
                raw[k] = market[k]
        return cls(str(cid), by["yes"], by["no"], raw)


def _json_list(v: Any) -> list[Any]:
    """Gamma serialises arrays as JSON strings (``"[\"Yes\", \"No\"]"``); accept both forms."""
    if isinstance(v, list):
        return v
    if isinstance(v, str) and v.strip().startswith("["):
        try:
            out = json.loads(v)
        except ValueError:
            return []
        return out if isinstance(out, list) else []
    return []


@dataclass
class KalshiMarket:
    ticker: str
    raw: dict[str, Any]
    series: dict[str, Any] | None = None
    event: dict[str, Any] | None = None


@dataclass
class Candidate:
    poly: PolyMarket
    kalshi: KalshiMarket
    poly_terms: Terms
    kalshi_terms: Terms
    score: float
    comparison: Comparison
    terms_hash: str
    score_parts: dict[str, float] = field(default_factory=dict)

    @property
    def recommendation(self) -> str:
        return self.comparison.recommendation

    @property
    def key(self) -> tuple[str, str]:
        return (self.poly.condition_id, self.kalshi.ticker)


def terms_hash(p: Terms, k: Terms) -> str:
    """What a person approves: both venues' wording, sources and close dates, hashed."""
    doc = [[t.venue, t.market_id, t.title, t.rules, t.outcome_label, sorted(t.sources_raw), str(t.close_date)] for t in (p, k)]
    return hashlib.sha256(json.dumps(doc, ensure_ascii=False).encode()).hexdigest()


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _overlap(a: set, b: set) -> float:
    """Shared words over the shorter title: a terse Kalshi title inside a long Polymarket question."""
    return len(a & b) / min(len(a), len(b)) if len(a) >= 2 and len(b) >= 2 else 0.0


def score_pair(p: Terms, k: Terms) -> tuple[float, dict[str, float]] | None:
    """Similarity in [0, 1], or None when the pair cannot be the same contract at all."""
    if p.entities and k.entities and not (p.entities & k.entities):
        return None
    if p.outcome_label and not is_numeric_label(p.outcome_label) and not label_in(p.outcome_label, " ".join((k.outcome_label, k.title, k.rules))) \
            and not (k.outcome_label and not is_numeric_label(k.outcome_label)
                     and (label_in(k.outcome_label, p.outcome_label) or abbreviated_label(k.outcome_label, p.outcome_label))):
        return None  # another outcome of a multi-outcome event (Kalshi's "New York" inside "New York Knicks" is not)
    parts = {
        "title": 0.5 * _jaccard(p.tokens, k.tokens | content_of(k)) + 0.5 * _overlap(p.tokens, k.tokens | content_of(k)),
        "entities": _jaccard(p.entities, k.entities) if (p.entities or k.entities) else 0.0,
        "dates": 1.0 if (p.dates and p.dates == k.dates) or (not p.dates and p.months and p.months == k.months)
        or (p.close_date is not None and p.close_date == k.close_date) else 0.0,
        "numbers": 1.0 if p.bound is not None and k.bound is not None and p.bound.value == k.bound.value else 0.0,
        # both venues name the same outcome of a multi-outcome event ("GCR", "Lando Norris"): the
        # strongest sign two differently worded titles ask about the same thing
        "outcome": 1.0 if _same_named_outcome(p.outcome_label, k.outcome_label) else 0.0,
    }
    score = (0.45 * parts["title"] + 0.25 * parts["entities"] + 0.15 * parts["dates"] + 0.15 * parts["numbers"]
             + 0.15 * parts["outcome"])
    return min(score, 1.0), parts


def _same_named_outcome(p_label: str, k_label: str) -> bool:
    if not p_label or not k_label or is_numeric_label(p_label) or is_numeric_label(k_label):
        return False
    return label_in(p_label, k_label) or label_in(k_label, p_label) or abbreviated_label(k_label, p_label)


def content_of(k: Terms) -> set[str]:
    """Kalshi titles are terse ("Bitcoin price on ...?"): the outcome label carries the rest."""
    return content_tokens(k.outcome_label)


def discover(poly: Iterable[PolyMarket], kalshi: Iterable[KalshiMarket], *, min_score: float = MIN_SCORE,
             top_k: int = TOP_K) -> list[Candidate]:
    """Candidate pairs, best first per Polymarket market (at most ``top_k`` each)."""
    kal = [(km, kalshi_terms(km.raw, km.series, km.event)) for km in kalshi]
    index: dict[str, list[int]] = {}
    entities: set[str] = set()
    for i, (_, kt) in enumerate(kal):
        entities |= kt.entities
        for tok in kt.tokens | kt.entities | content_of(kt):
            index.setdefault(tok, []).append(i)
    # a word most markets share ("december", "price") finds nothing and makes pairing quadratic:
    # such words still count in the score, they just do not select candidates (entities always do)
    common = max(50, len(kal) // 20)
    index = {tok: ids for tok, ids in index.items() if len(ids) <= common or tok in entities}
    out: list[Candidate] = []
    for pm in poly:
        pt = polymarket_terms(pm.raw)
        seen: set[int] = set()
        for tok in pt.tokens | pt.entities:
            seen.update(index.get(tok, ()))
        scored: list[tuple[float, int, dict[str, float]]] = []
        for i in seen:
            r = score_pair(pt, kal[i][1])
            if r is not None and r[0] >= min_score:
                scored.append((r[0], i, r[1]))
        scored.sort(key=lambda x: (-x[0], kal[x[1]][0].ticker))
        for s, i, parts in scored[:top_k]:
            km, kt = kal[i]
            out.append(Candidate(pm, km, pt, kt, round(s, 4), compare(pt, kt), terms_hash(pt, kt), parts))
    return out


def sync_to_store(store: MappingStore, candidates: Iterable[Candidate], actor: str = "discover") -> list[tuple[str, Mapping]]:
    """Record candidates as pending mappings. An existing mapping keeps its status unless the
    venues' terms changed (then it goes back to pending with the new warnings) or the warning set
    changed. Returns (what happened, mapping) per candidate: created / changed / unchanged."""
    out: list[tuple[str, Mapping]] = []
    for c in candidates:
        existing = store.find(c.poly.condition_id, c.kalshi.ticker)
        desc = {
            "poly_title": c.poly_terms.title,
            "kalshi_title": f"{c.kalshi_terms.title} [{c.kalshi_terms.outcome_label}]" if c.kalshi_terms.outcome_label else c.kalshi_terms.title,
            "score": c.score,
            "recommendation": c.recommendation,
            "details": {"score_parts": c.score_parts, "poly_bound": c.poly_terms.bound.describe() if c.poly_terms.bound else "",
                        "kalshi_bound": c.kalshi_terms.bound.describe() if c.kalshi_terms.bound else ""},
        }
        if existing is None:
            m = store.add(
                poly_condition_id=c.poly.condition_id, poly_yes_token=c.poly.yes_token, poly_no_token=c.poly.no_token,
                kalshi_ticker=c.kalshi.ticker, polarity=c.comparison.polarity, warnings=c.comparison.warnings,
                terms_hash=c.terms_hash, actor=actor, **desc,
            )
            out.append(("created", m))
            continue
        if existing.terms_hash != c.terms_hash:
            m = store.edit(existing.id, actor=actor, reason="venue terms changed", warnings=c.comparison.warnings,
                           poly_yes_token=c.poly.yes_token, poly_no_token=c.poly.no_token,
                           polarity=c.comparison.polarity, terms_hash=c.terms_hash, **desc)
            out.append(("changed", m))
        elif {w.code for w in existing.warnings} != set(c.comparison.codes):
            m = store.edit(existing.id, actor=actor, reason="warnings changed", warnings=c.comparison.warnings, **desc)
            out.append(("changed", m))
        else:
            m = store.edit(existing.id, actor=actor, **desc)
            out.append(("unchanged", m))
    return out
