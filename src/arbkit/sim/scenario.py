"""Scenarios: a seeded, deterministic synthetic market (or a wire recording replayed).

A scenario file (TOML, built-ins in ``arbkit/sim/scenarios/``) lists events. Each event is listed on
one or both venues in that venue's own style (Polymarket question/description/slug/token ids;
Kalshi series/event/market tickers, title, rules) — the same contract on both venues is a *true
twin*; ``near_misses`` add markets about the same subject that are NOT the same contract
(different threshold, date window, polarity or resolution source). The catalogue records which
pairs are twins and which are near misses and why, so the mapping workflow can be scored.

Fair values follow correlated random walks driven only by ``random.Random(seed)`` draws (no
floats reach a price: steps are integer price units). Background market makers quote around fair
value with depth (buying YES for bids and NO for asks, so they need only cash), takers provide
flow, and dislocations shift one venue's quotes for a while, opening a fee-positive cross-venue
edge that closes as takers trade into it and the shift decays. Neg-risk events are groups of
binary markets whose YES asks sometimes sum below 1.

Replay (``replay:PATH``): lines ``<recv_ns> <raw message>`` (plain or gzip), the format of the
hftbacktest captures; a venue server in replay mode sends each raw message on its market stream.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import gzip
import hashlib
import random
import tomllib
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from arbkit.core.clock import Clock
from arbkit.core.enums import Side
from arbkit.core.fees import FeeSpec
from arbkit.sim.engine import (
    PRICE_ONE,
    MarketSpec,
    MatchingEngine,
    OrderKind,
    OrderParams,
    Outcome,
    Tif,
    price_to_units,
    units_to_price,
)
from arbkit.sim.accounts import lots_to_size, size_to_lots

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
BUILTIN = ("demo", "quiet", "negrisk", "kucoin")
DIFFERENCES = ("threshold", "date_window", "polarity", "resolution_source")
CURRENCY = {"polymarket": "USDC", "kalshi": "USD", "kucoin": "USDT"}
MM_ACCOUNT = "sim-mm"
TAKER_ACCOUNT = "sim-taker"


# --- catalogue -------------------------------------------------------------------------------------


@dataclass
class ScenarioMarket:
    venue: str
    market_id: str
    event_key: str
    title: str
    rules: str
    resolution_source: str
    close_time: str
    tick_size: Decimal
    min_size: Decimal
    size_increment: Decimal
    fee: FeeSpec
    neg_risk: bool
    yes_symbol: str
    no_symbol: str
    outcome_label: str = ""
    venue_meta: dict[str, Any] = field(default_factory=dict)
    fair_key: str = ""  # which walk drives it
    fair_offset_u: int = 0  # added to the walk (near misses: different threshold/date)
    fair_inverted: bool = False  # polarity: fair = 1 - walk

    def to_dict(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "market_id": self.market_id,
            "event_key": self.event_key,
            "title": self.title,
            "rules": self.rules,
            "resolution_source": self.resolution_source,
            "close_time": self.close_time,
            "tick_size": str(self.tick_size),
            "min_size": str(self.min_size),
            "neg_risk": self.neg_risk,
            "yes_symbol": self.yes_symbol,
            "no_symbol": self.no_symbol,
            "outcome_label": self.outcome_label,
            "venue_meta": self.venue_meta,
        }


@dataclass
class MarketPair:
    polymarket_market_id: str
    kalshi_market_id: str
    relation: str  # "twin" | "near_miss"
    differences: list[str]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "polymarket_market_id": self.polymarket_market_id,
            "kalshi_market_id": self.kalshi_market_id,
            "relation": self.relation,
            "differences": list(self.differences),
            "note": self.note,
        }


@dataclass
class ScenarioEvent:
    key: str
    subject: str
    neg_risk: bool = False
    mutually_exclusive: bool = False
    outcomes: list[str] = field(default_factory=list)


@dataclass
class Catalogue:
    events: list[ScenarioEvent] = field(default_factory=list)
    markets: list[ScenarioMarket] = field(default_factory=list)
    pairs: list[MarketPair] = field(default_factory=list)

    def market(self, venue: str, market_id: str) -> ScenarioMarket:
        for m in self.markets:
            if m.venue == venue and m.market_id == market_id:
                return m
        raise KeyError(f"no {venue} market {market_id!r} in the scenario")

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": [e.__dict__ for e in self.events],
            "markets": [m.to_dict() for m in self.markets],
            "pairs": [p.to_dict() for p in self.pairs],
        }


# --- replay ------------------------------------------------------------------------------------------


class ReplayFeed:
    """A wire recording: one raw message per line, ``<recv_ns> <raw message>`` (gzip or plain)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"replay file not found: {self.path}")
        self.malformed = 0

    def lines(self) -> Iterator[tuple[int, str]]:
        opener = gzip.open if self.path.suffix == ".gz" else open
        with opener(self.path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                ts, sep, raw = line.partition(" ")
                if not sep or not ts.isdigit():
                    self.malformed += 1
                    continue
                yield int(ts), raw

    @staticmethod
    def venue_of(raw: str) -> str:
        """Best guess of which venue a raw message came from (Kalshi frames carry "type"+"msg")."""
        if '"msg"' in raw and '"type"' in raw:
            return "kalshi"
        if '"event_type"' in raw or '"asset_id"' in raw:
            return "polymarket"
        return "unknown"

    def lines_for(self, venue: str) -> Iterator[tuple[int, str]]:
        for ts, raw in self.lines():
            if self.venue_of(raw) == venue:
                yield ts, raw


# --- text templates ------------------------------------------------------------------------------------


def _h(*parts: Any) -> bytes:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()


def _hex32(*parts: Any) -> str:
    return "0x" + _h(*parts).hex()


def _token_id(*parts: Any) -> str:
    return str(int.from_bytes(_h(*parts), "big"))


def _date(s: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(s)
    except ValueError:
        raise ValueError(f"invalid date {s!r}: use YYYY-MM-DD") from None


def _long_date(d: _dt.date) -> str:
    return f"{d.strftime('%B')} {d.day}, {d.year}"


def _kalshi_date(d: _dt.date) -> str:
    return d.strftime("%y%b%d").upper()


def _money(x: int) -> str:
    return f"${x:,}"


@dataclass
class _Listing:
    """What one venue says about one contract."""

    poly_question: str
    poly_description: str
    kalshi_title: str
    kalshi_yes_sub: str
    kalshi_rules_primary: str
    kalshi_rules_secondary: str
    series: str
    event_suffix: str
    market_suffix: str
    source: str
    close: _dt.datetime


def _crypto_above(p: dict[str, Any], *, threshold: int, date: _dt.date, below: bool, source: str) -> _Listing:
    asset, tk = p["asset"], p["ticker"]
    close = _dt.datetime.combine(date, _dt.time(21, 0), tzinfo=_dt.timezone.utc)  # 5 pm ET
    word = "below" if below else "above"
    q = f"Will {asset} be {word} {_money(threshold)} on {_long_date(date)}?"
    desc = (
        f'This market will resolve to "Yes" if the {source} price of {tk} at 5:00 PM ET on '
        f"{_long_date(date)} is {'lower' if below else 'higher'} than {_money(threshold)}. "
        f'Otherwise, this market will resolve to "No". The resolution source is {source}.'
    )
    sub = f"{_money(threshold)} or {'below' if below else 'above'}"
    rules = (
        f"If the {source} price of {asset} is {word} {_money(threshold)} at 5:00 PM ET on "
        f"{_long_date(date)}, then the market resolves to Yes."
    )
    secondary = f"The market settles on the {source} value published for that minute. Revisions after expiration are ignored."
    return _Listing(
        q, desc, f"{asset} price on {_long_date(date)}?", sub, rules, secondary,
        f"KX{tk}{'MIN' if below else 'MAX'}", _kalshi_date(date), f"{'B' if below else 'T'}{threshold}", source, close,
    )


def _rate_cut(p: dict[str, Any], *, threshold: int, date: _dt.date, below: bool, source: str) -> _Listing:
    close = _dt.datetime.combine(date, _dt.time(18, 0), tzinfo=_dt.timezone.utc)
    month = f"{date.strftime('%B')} {date.year}"
    if below:
        q = f"Will the Fed NOT cut rates at the {month} meeting?"
        sub = "No cut"
    else:
        q = f"Will the Fed cut rates by {threshold} bps or more at the {month} meeting?"
        sub = f"Cut {threshold}bps or more"
    desc = (
        f"This market resolves to \"Yes\" if the FOMC statement released after its {month} meeting "
        f"{'does not lower' if below else f'lowers the upper bound of the federal funds target range by at least {threshold} bps'}"
        f" compared with the prior range. Resolution source: {source}."
    )
    rules = (
        f"If the Federal Reserve {'does not cut' if below else f'cuts its target rate by {threshold} bps or more'} "
        f"at the {month} FOMC meeting, then the market resolves to Yes."
    )
    return _Listing(
        q, desc, f"Fed decision in {month}?", sub, rules, f"Verified against {source}.",
        "KXFEDDECISION", _kalshi_date(date)[:5], f"{'H0' if below else 'C'}{threshold}", source, close,
    )


def _custom(p: dict[str, Any], *, threshold: int, date: _dt.date, below: bool, source: str) -> _Listing:
    close = _dt.datetime.combine(date, _dt.time(23, 59), tzinfo=_dt.timezone.utc)
    q = p.get("question", p.get("subject", "Custom event"))
    if below:
        q = p.get("question_negated", f"NOT: {q}")
    rules = p.get("rules", f"Resolves Yes if: {q} Source: {source}.")
    return _Listing(
        q, rules, p.get("kalshi_title", q), p.get("yes_sub_title", "Yes"), rules, "",
        p.get("series", "KXCUSTOM"), p.get("event_suffix") or _kalshi_date(date), f"{'N' if below else 'Y'}{threshold}",
        source, close,
    )


TEMPLATES = {"crypto_above": _crypto_above, "rate_cut": _rate_cut, "custom": _custom}


# --- the scenario ---------------------------------------------------------------------------------------


def _dec(v: Any, what: str) -> Decimal:
    if isinstance(v, float):
        raise ValueError(f"{what}: write decimals as strings (got float {v!r}), floats are not exact")
    try:
        return Decimal(str(v))
    except Exception:
        raise ValueError(f"{what}: not a number: {v!r}") from None


@dataclass
class _Quote:
    order_id: str
    price_u: int  # YES terms
    size_l: int
    is_bid: bool


class Scenario:
    """A loaded scenario: catalogue + background behaviour, deterministic given the seed."""

    def __init__(self, data: dict[str, Any], seed: int, *, name: str = "", replay: ReplayFeed | None = None) -> None:
        self.name = name or data.get("name", "scenario")
        self.seed = seed
        self.data = data
        self.description = data.get("description", "")
        self.rng = random.Random(seed)
        self.replay = replay
        self.venues: list[str] = list(data.get("venues", []))
        for v in self.venues:
            if v not in CURRENCY:
                raise ValueError(f"scenario {self.name}: unknown venue {v!r}")
        self.tick_s = float(data.get("tick_s", 0.5))
        if self.tick_s <= 0:
            raise ValueError("tick_s must be positive")
        self.funding = _dec(data.get("funding", "10000"), "funding")
        self.test_accounts = int(data.get("test_accounts", 2))
        walk = data.get("walk", {})
        self.walk_step_u = price_to_units(_dec(walk.get("step", "0.002"), "walk.step"))
        self.walk_corr = float(walk.get("correlation", 0.5))
        self.walk_min_u = price_to_units(_dec(walk.get("min", "0.03"), "walk.min"))
        self.walk_max_u = price_to_units(_dec(walk.get("max", "0.97"), "walk.max"))
        mk = data.get("makers", {})
        self.mm_levels = int(mk.get("levels", 3))
        self.mm_size = _dec(mk.get("size", "100"), "makers.size")
        self.mm_size_step = _dec(mk.get("size_step", "50"), "makers.size_step")
        self.mm_half_spread_u = price_to_units(_dec(mk.get("half_spread", "0.01"), "makers.half_spread"))
        tk = data.get("takers", {})
        self.taker_p = float(tk.get("probability", 0.2))
        self.taker_min = _dec(tk.get("size_min", "5"), "takers.size_min")
        self.taker_max = _dec(tk.get("size_max", "30"), "takers.size_max")
        dl = data.get("dislocations", {})
        self.disl_p = float(dl.get("probability", 0.0))
        self.disl_shift_u = price_to_units(_dec(dl.get("shift", "0.08"), "dislocations.shift"))
        self.disl_decay_s = float(dl.get("decay_s", 20))
        self.faults: list[dict[str, Any]] = list(data.get("faults", []))
        # [[resolutions]] venue, market_id (or event_key: every market of that twin key on the venue),
        # after_s (clock seconds after the scenario starts), winner "yes" | "no"; with on_arm = true
        # after_s counts from when the run arms the schedule (arm_resolutions, admin POST
        # /resolutions/arm) and nothing happens unless it does: `arbkit demo` arms it once its node
        # trades, other runs of the same scenario keep their markets open
        self.resolutions: list[dict[str, Any]] = [dict(r) for r in data.get("resolutions", [])]
        for r in self.resolutions:
            if str(r.get("winner", "")).lower() not in ("yes", "no") or not (r.get("market_id") or r.get("event_key")):
                raise ValueError(f"resolution {r}: needs market_id or event_key, and winner yes or no")
        self.resolution_log: list[dict[str, Any]] = []
        # [[listings]]: an [[events]] entry (no near misses) listed mid-run, after_s clock seconds
        # after the start (or after arming, with on_arm = true); the venue servers announce it
        self.listings: list[dict[str, Any]] = [dict(x) for x in data.get("listings", [])]
        for x in self.listings:
            if not x.get("key"):
                raise ValueError(f"listing {x}: needs a key (and the fields of an [[events]] entry)")
        self.listing_log: list[dict[str, Any]] = []
        # [[rolling]]: a series whose next market opens as the last one closes (the 15-minute
        # up/down markets): key, period_s, windows, on_arm, and the fields of an [[events]] entry
        # ("{n}" in question is the window number). Window n+1 is listed and window n resolved
        # (yes when its fair value is at least 0.5) every period_s; the last one resolves at the end.
        self.rolling: list[dict[str, Any]] = [dict(x) for x in data.get("rolling", [])]
        for x in self.rolling:
            if not x.get("key") or float(x.get("period_s", 0)) <= 0 or int(x.get("windows", 0)) < 1:
                raise ValueError(f"rolling {x}: needs a key, period_s > 0 and windows >= 1")
        # callables(ScenarioMarket) the venue servers register: a market listed mid-run
        self.listing_listeners: list[Any] = []
        self._start_ns: int | None = None
        self._armed_ns: int | None = None
        self.catalogue = Catalogue()
        self.fair_u: dict[str, int] = {}  # walk key -> fair value (price units)
        self._negrisk_groups: dict[str, list[str]] = {}  # event key -> walk keys (renormalised)
        self._nr_underprice: dict[str, dict[str, Any]] = {}  # event key -> {"u": units, "until": step}
        self._nr_params: dict[str, dict[str, Any]] = {}
        self.offsets: dict[tuple[str, str], dict[str, Any]] = {}  # (venue, market_id) -> dislocation
        self.engines: dict[str, MatchingEngine] = {}
        self.clock: Clock | None = None
        self.step_no = 0
        self.dislocation_log: list[dict[str, Any]] = []
        self._quotes: dict[tuple[str, str], dict[int, _Quote]] = {}
        self._build_catalogue()

    # --- catalogue construction -------------------------------------------------------------------

    def currency(self, venue: str) -> str:
        return CURRENCY[venue]

    def _poly_fee(self, ev: dict[str, Any]) -> FeeSpec:
        return FeeSpec(
            kind="polymarket",
            taker_rate=_dec(ev.get("poly_fee_rate", self.data.get("poly_fee_rate", "0.25")), "poly_fee_rate"),
            exponent=int(ev.get("poly_fee_exponent", self.data.get("poly_fee_exponent", 2))),
        )

    def _kalshi_fee(self, ev: dict[str, Any]) -> FeeSpec:
        return FeeSpec(
            kind="kalshi",
            taker_rate=_dec(ev.get("kalshi_fee_rate", "0.07"), "kalshi_fee_rate"),
            maker_rate=_dec(ev.get("kalshi_maker_fee_rate", "0"), "kalshi_maker_fee_rate"),
        )

    def _poly_market(self, key: str, lst: _Listing, ev: dict[str, Any], *, neg_risk: bool = False, nr_id: str = "",
                     outcome_label: str = "", augmented: bool = False) -> ScenarioMarket:
        cond = _hex32(self.name, key, "condition")
        yes, no = _token_id(self.name, key, "yes"), _token_id(self.name, key, "no")
        slug = "-".join("".join(c if c.isalnum() else " " for c in lst.poly_question.lower()).split())[:80]
        meta = {
            "condition_id": cond,
            "question_id": _hex32(self.name, key, "question"),
            "question": lst.poly_question,
            "description": lst.poly_description,
            "slug": slug,
            "end_date_iso": lst.close.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "neg_risk": neg_risk,
            "neg_risk_market_id": nr_id,
            "yes_token_id": yes,
            "no_token_id": no,
            "resolution_source": lst.source,
            "group_item_title": outcome_label,
            "neg_risk_augmented": augmented,
        }
        return ScenarioMarket(
            venue="polymarket", market_id=cond, event_key=ev["key"], title=lst.poly_question, rules=lst.poly_description,
            resolution_source=lst.source, close_time=meta["end_date_iso"],
            tick_size=_dec(ev.get("poly_tick_size", "0.01"), "poly_tick_size"), min_size=Decimal(5),
            size_increment=Decimal("0.01"), fee=self._poly_fee(ev), neg_risk=neg_risk, yes_symbol=yes, no_symbol=no,
            outcome_label=outcome_label, venue_meta=meta,
        )

    def _kalshi_market(self, lst: _Listing, ev: dict[str, Any], *, ticker: str | None = None, event_ticker: str | None = None,
                       outcome_label: str = "", mutually_exclusive: bool = False) -> ScenarioMarket:
        event_ticker = event_ticker or f"{lst.series}-{lst.event_suffix}"
        ticker = ticker or f"{event_ticker}-{lst.market_suffix}"
        close = lst.close.strftime("%Y-%m-%dT%H:%M:%SZ")
        meta = {
            "ticker": ticker,
            "event_ticker": event_ticker,
            "series_ticker": lst.series,
            "title": lst.kalshi_title,
            "subtitle": lst.kalshi_yes_sub,
            "yes_sub_title": lst.kalshi_yes_sub,
            "no_sub_title": lst.kalshi_yes_sub,
            "rules_primary": lst.kalshi_rules_primary,
            "rules_secondary": lst.kalshi_rules_secondary,
            "open_time": "2026-01-01T15:00:00Z",
            "close_time": close,
            "expiration_time": close,
            "settlement_source": lst.source,
            "category": ev.get("category", "Economics"),
            "mutually_exclusive": mutually_exclusive,
            "market_id": str(uuid.UUID(bytes=_h(self.name, ticker, "kalshi-market-id")[:16], version=4)),
            "series_title": ev.get("series_title", lst.kalshi_title),
            "price_level_structure": ev.get("price_level_structure", "linear_cent"),
            "fee_type": "quadratic",
            "fee_multiplier": 1,
        }
        return ScenarioMarket(
            venue="kalshi", market_id=ticker, event_key=ev["key"], title=lst.kalshi_title, rules=lst.kalshi_rules_primary,
            resolution_source=lst.source, close_time=close,
            # every Kalshi market takes fractional counts since fractional_trading_enabled was
            # removed (2026-07-09, docs/venues/kalshi.md): 0.01 contract is the unit and the minimum
            tick_size=_dec(ev.get("kalshi_tick_size", "0.01"), "kalshi_tick_size"), min_size=Decimal("0.01"),
            size_increment=Decimal("0.01"), fee=self._kalshi_fee(ev), neg_risk=False,
            yes_symbol=f"{ticker}:yes", no_symbol=f"{ticker}:no", outcome_label=outcome_label, venue_meta=meta,
        )

    def _build_catalogue(self) -> None:
        cat = self.catalogue
        for ev in self.data.get("events", []):
            key = ev.get("key")
            if not key:
                raise ValueError(f"scenario {self.name}: every event needs a key")
            tpl = TEMPLATES.get(ev.get("template", "custom"))
            if tpl is None:
                raise ValueError(f"event {key}: unknown template {ev.get('template')!r}: {sorted(TEMPLATES)}")
            venues = ev.get("venues", self.venues)
            threshold = int(ev.get("threshold", 0))
            date = _date(ev.get("date", "2026-12-31"))
            source = ev.get("source", "CF Benchmarks Real Time Index")
            fair = price_to_units(_dec(ev.get("fair", "0.5"), f"event {key} fair"))
            self.fair_u[key] = fair
            cat.events.append(ScenarioEvent(key=key, subject=ev.get("subject", ev.get("asset", key))))
            base = tpl(ev, threshold=threshold, date=date, below=False, source=source)
            base_ids: dict[str, str] = {}
            for v in venues:
                m = (self._poly_market(key, base, ev) if v == "polymarket" else self._kalshi_market(base, ev))
                m.fair_key = key
                cat.markets.append(m)
                base_ids[v] = m.market_id
            if "polymarket" in base_ids and "kalshi" in base_ids:
                cat.pairs.append(MarketPair(base_ids["polymarket"], base_ids["kalshi"], "twin", [],
                                            "same contract: subject, threshold, date, polarity and resolution source match"))
            for i, nm in enumerate(ev.get("near_misses", [])):
                v = nm.get("venue", "kalshi")
                diffs = list(nm.get("differences", []))
                bad = [d for d in diffs if d not in DIFFERENCES]
                if bad or not diffs:
                    raise ValueError(f"event {key} near miss {i}: differences must be a non-empty subset of {DIFFERENCES}")
                n_thr = int(nm.get("threshold", threshold))
                n_date = _date(nm["date"]) if "date" in nm else date
                n_below = "polarity" in diffs
                n_source = nm.get("source", source)
                lst = tpl(ev, threshold=n_thr, date=n_date, below=n_below, source=n_source)
                nkey = f"{key}~{i}"
                if v == "polymarket":
                    m = self._poly_market(nkey, lst, ev)
                else:
                    if lst.market_suffix == base.market_suffix and lst.event_suffix == base.event_suffix:
                        lst.market_suffix += f"X{i}"  # a different contract needs its own ticker
                    m = self._kalshi_market(lst, ev)
                m.fair_key = key
                m.fair_inverted = n_below
                m.fair_offset_u = price_to_units(_dec(nm.get("fair_offset", "0"), f"event {key} near miss fair_offset"))
                cat.markets.append(m)
                other = "kalshi" if v == "polymarket" else "polymarket"
                if other in base_ids:
                    pm, km = (m.market_id, base_ids[other]) if v == "polymarket" else (base_ids[other], m.market_id)
                    note = nm.get("note") or "; ".join(
                        {
                            "threshold": f"threshold {n_thr} vs {threshold}",
                            "date_window": f"date {n_date} vs {date}",
                            "polarity": "opposite polarity (Yes here is No there)",
                            "resolution_source": f"resolution source {n_source!r} vs {source!r}",
                        }[d]
                        for d in diffs
                    )
                    cat.pairs.append(MarketPair(pm, km, "near_miss", diffs, note))
        for nr in self.data.get("negrisk", []):
            self._build_negrisk(nr)

    def _build_negrisk(self, nr: dict[str, Any]) -> None:
        key = nr["key"]
        outcomes: list[str] = list(nr["outcomes"])
        fairs = [price_to_units(_dec(f, f"negrisk {key} fairs")) for f in nr["fairs"]]
        if len(fairs) != len(outcomes) or len(outcomes) < 2:
            raise ValueError(f"negrisk {key}: outcomes and fairs must have the same length (>= 2)")
        if sum(fairs) != PRICE_ONE:
            raise ValueError(f"negrisk {key}: fairs must sum to 1 (they sum to {units_to_price(sum(fairs))})")
        title = nr.get("title", key)
        venues = nr.get("venues", self.venues)
        me = bool(nr.get("mutually_exclusive", True))
        # augmented neg-risk: placeholder outcomes ("Person A", named by the venue's convention)
        # listed among ``outcomes`` beside an explicit "Other"
        augmented = bool(nr.get("augmented", False))
        self.catalogue.events.append(ScenarioEvent(key=key, subject=title, neg_risk=True, mutually_exclusive=me, outcomes=outcomes))
        nr_id = _hex32(self.name, key, "negrisk")
        series = nr.get("series", "KX" + "".join(c for c in key.upper() if c.isalnum())[:10])
        date = _date(nr.get("date", "2026-12-31"))
        event_ticker = f"{series}-{_kalshi_date(date)}"
        source = nr.get("source", "official announcement")
        close = _dt.datetime.combine(date, _dt.time(23, 59), tzinfo=_dt.timezone.utc)
        walk_keys = []
        for outcome, fair in zip(outcomes, fairs):
            wk = f"{key}/{outcome}"
            walk_keys.append(wk)
            self.fair_u[wk] = fair
            q = nr.get("question_format", "Will {outcome} win: {title}?").format(outcome=outcome, title=title)
            abbr = "".join(c for c in outcome.upper() if c.isalnum())[:6] or "OTH"
            lst = _Listing(
                q, f'This market resolves to "Yes" if {outcome} is the winner of "{title}" per {source}; otherwise "No".',
                title, outcome, f"If {outcome} wins ({title}), then the market resolves to Yes.", "",
                series, _kalshi_date(date), abbr, source, close,
            )
            ids: dict[str, str] = {}
            for v in venues:
                if v == "polymarket":
                    m = self._poly_market(wk, lst, nr, neg_risk=True, nr_id=nr_id, outcome_label=outcome, augmented=augmented)
                else:
                    m = self._kalshi_market(lst, nr, event_ticker=event_ticker, ticker=f"{event_ticker}-{abbr}",
                                            outcome_label=outcome, mutually_exclusive=me)
                m.fair_key = wk
                self.catalogue.markets.append(m)
                ids[v] = m.market_id
            if len(ids) == 2:
                self.catalogue.pairs.append(MarketPair(ids["polymarket"], ids["kalshi"], "twin", [],
                                                       f"same outcome {outcome!r} of the same multi-outcome event"))
        self._negrisk_groups[key] = walk_keys
        self._nr_params[key] = {
            "p": float(nr.get("underprice_probability", 0.0)),
            "u": price_to_units(_dec(nr.get("underprice", "0.03"), f"negrisk {key} underprice")),
            "steps": int(nr.get("underprice_steps", 20)),
        }

    # --- engines ----------------------------------------------------------------------------------------

    @staticmethod
    def _spec(m: ScenarioMarket) -> MarketSpec:
        return MarketSpec(
            market_id=m.market_id, yes_symbol=m.yes_symbol, no_symbol=m.no_symbol, tick_size=m.tick_size,
            size_increment=m.size_increment, min_size=m.min_size, fee=m.fee, currency=CURRENCY[m.venue],
            event_id=m.event_key, neg_risk=m.neg_risk, title=m.title,
        )

    def build(self, engines: dict[str, MatchingEngine], clock: Clock) -> None:
        """Add this scenario's markets to the engines, fund the background traders, quote."""
        self.engines = engines
        self.clock = clock
        for m in self.catalogue.markets:
            eng = engines.get(m.venue)
            if eng is None:
                continue
            eng.add_market(self._spec(m))
        for v, eng in sorted(engines.items()):
            cur = CURRENCY.get(v, "USD")
            eng.accounts.create(MM_ACCOUNT, {cur: Decimal(100_000_000)})
            eng.accounts.create(TAKER_ACCOUNT, {cur: Decimal(100_000_000)})
            eng.fault_exempt_accounts.update((MM_ACCOUNT, TAKER_ACCOUNT))
        self._requote_all()

    def market_fair_u(self, m: ScenarioMarket) -> int:
        f = self.fair_u[m.fair_key]
        if m.fair_inverted:
            f = PRICE_ONE - f
        f += m.fair_offset_u
        return max(self.walk_min_u, min(self.walk_max_u, f))

    def fair(self, venue: str, market_id: str) -> Decimal:
        return units_to_price(self.market_fair_u(self.catalogue.market(venue, market_id)))

    def _offset_u(self, m: ScenarioMarket) -> int:
        d = self.offsets.get((m.venue, m.market_id))
        off = d["u"] if d else 0
        if m.neg_risk or m.fair_key in {wk for g in self._negrisk_groups.values() for wk in g}:
            ev = m.fair_key.split("/", 1)[0]
            up = self._nr_underprice.get(ev)
            if up:
                off -= up["u"]
        return off

    def _desired_quotes(self, m: ScenarioMarket, eng: MatchingEngine) -> dict[int, tuple[int, bool]]:
        """YES-terms price units -> (lots, is_bid) the market maker wants there."""
        tick_u = price_to_units(eng.market(m.market_id).tick_size)
        center = self.market_fair_u(m) + self._offset_u(m)
        hs = max(self.mm_half_spread_u, tick_u)
        out: dict[int, tuple[int, bool]] = {}
        inc_l = size_to_lots(m.size_increment)
        best_bid = ((center - hs) // tick_u) * tick_u
        best_ask = -((-(center + hs)) // tick_u) * tick_u
        if self._nr_underprice.get(m.fair_key.split("/", 1)[0]):
            # an underpricing episode moves the asks down only (YES asks sum below 1)
            best_ask = -((-(self.market_fair_u(m) + hs + self._offset_u(m))) // tick_u) * tick_u
            best_bid = min(best_bid, best_ask - tick_u)
        for i in range(self.mm_levels):
            size = size_to_lots(self.mm_size + self.mm_size_step * i)
            size -= size % inc_l
            b = best_bid - i * tick_u
            a = best_ask + i * tick_u
            if tick_u <= b < PRICE_ONE - tick_u:
                out[b] = (size, True)
            if tick_u <= a <= PRICE_ONE - tick_u and a > best_bid:
                out[a] = (size, False)
        return out

    def _requote(self, m: ScenarioMarket, eng: MatchingEngine) -> None:
        key = (m.venue, m.market_id)
        have = self._quotes.setdefault(key, {})
        want = self._desired_quotes(m, eng)
        # drop what is gone/filled/misplaced, then place what is missing
        for price_u, q in sorted(have.items()):
            o = eng.order(q.order_id)
            if o is None or o.status.value != "OPEN" or price_u not in want or want[price_u][1] != q.is_bid or o.remaining < lots_to_size(want[price_u][0]) / 2:
                if o is not None and o.status.value == "OPEN":
                    eng.cancel(MM_ACCOUNT, q.order_id, reason="REQUOTE")
                del have[price_u]
        bb, ba = eng.best(m.market_id, Outcome.YES)
        for price_u, (lots, bid_side) in sorted(want.items()):
            if price_u in have or lots <= 0:
                continue
            price = units_to_price(price_u)
            # the maker never takes: skip a level that would cross someone else's quote
            if bid_side and ba is not None and price >= ba:
                continue
            if not bid_side and bb is not None and price <= bb:
                continue
            if bid_side:
                params = OrderParams(account_id=MM_ACCOUNT, symbol=m.yes_symbol, side=Side.BUY, size=lots_to_size(lots),
                                     price=price, post_only=True)
            else:
                params = OrderParams(account_id=MM_ACCOUNT, symbol=m.no_symbol, side=Side.BUY, size=lots_to_size(lots),
                                     price=units_to_price(PRICE_ONE - price_u), post_only=True)
            res = eng.submit(params)
            if res.accepted and res.order is not None and res.order.status.value == "OPEN":
                have[price_u] = _Quote(res.order.order_id, price_u, lots, bid_side)

    def _requote_all(self) -> None:
        for m in self.catalogue.markets:
            eng = self.engines.get(m.venue)
            if eng is not None and eng.resolved(m.market_id) is None:
                self._requote(m, eng)

    # --- resolutions -------------------------------------------------------------------------------------

    def _maybe_resolve(self) -> None:
        if not self.resolutions or self.clock is None:
            return
        now = self.clock.now_ns()
        if self._start_ns is None:
            self._start_ns = now
        for r in self.resolutions:
            t0 = self._armed_ns if r.get("on_arm") else self._start_ns
            if not r.get("_done") and t0 is not None and now - t0 >= float(r.get("after_s", 0)) * 1e9:
                r["_done"] = True
                for m in self.catalogue.markets:
                    if m.venue == r.get("venue", m.venue) and (
                            m.market_id == r.get("market_id") or (r.get("event_key") and m.event_key == r["event_key"])):
                        eng = self.engines.get(m.venue)
                        if eng is not None and eng.resolved(m.market_id) is None:  # not resolved by hand already
                            self.resolve(m.venue, m.market_id, str(r["winner"]))

    # --- listings ----------------------------------------------------------------------------------------

    def list_event(self, ev: dict[str, Any]) -> list[ScenarioMarket]:
        """List a binary event now (an ``[[events]]`` entry without near misses) on its venues
        that run here: the engines get the markets, the venue servers serve and announce them
        (Polymarket ``new_market``, Kalshi ``created`` / ``activated``), the makers quote them.
        Returns the new markets; ValueError for a key or market that exists already."""
        if self.clock is None:
            raise RuntimeError("Scenario.build() must be called before list_event()")
        key = str(ev.get("key") or "")
        if not key or key in self.fair_u:
            raise ValueError(f"listing {key!r}: needs a new key")
        tpl = TEMPLATES.get(ev.get("template", "custom"))
        if tpl is None:
            raise ValueError(f"listing {key}: unknown template {ev.get('template')!r}: {sorted(TEMPLATES)}")
        lst = tpl(ev, threshold=int(ev.get("threshold", 0)), date=_date(ev.get("date", "2026-12-31")), below=False,
                  source=ev.get("source", "CF Benchmarks Real Time Index"))
        ev = dict(ev, key=key)
        new: list[ScenarioMarket] = []
        for v in ev.get("venues", self.venues):
            if v not in self.engines:
                continue
            m = self._poly_market(key, lst, ev) if v == "polymarket" else self._kalshi_market(lst, ev)
            if any(x.venue == v and x.market_id == m.market_id for x in self.catalogue.markets):
                raise ValueError(f"listing {key}: {v} market {m.market_id} exists already")
            m.fair_key = key
            new.append(m)
        if not new:
            raise ValueError(f"listing {key}: none of its venues runs here")
        self.fair_u[key] = price_to_units(_dec(ev.get("fair", "0.5"), f"listing {key} fair"))
        self.catalogue.events.append(ScenarioEvent(key=key, subject=ev.get("subject", key)))
        for m in new:
            self.catalogue.markets.append(m)
            eng = self.engines[m.venue]
            eng.add_market(self._spec(m))
            for fn in list(self.listing_listeners):
                fn(m)
            self._requote(m, eng)
        if len(new) == 2:
            pm, km = sorted(new, key=lambda m: m.venue != "polymarket")
            self.catalogue.pairs.append(MarketPair(pm.market_id, km.market_id, "twin", [], "listed mid-run on both venues"))
        now = self.clock.now_ns()
        self.listing_log.extend({"venue": m.venue, "market_id": m.market_id, "key": key, "ts_ns": now} for m in new)
        return new

    def _maybe_list(self) -> None:
        if self.clock is None:
            return
        now = self.clock.now_ns()
        for r in self.rolling:
            self._roll(r, now)
        for x in self.listings:
            t0 = self._armed_ns if x.get("on_arm") else self._start_ns
            if not x.get("_done") and t0 is not None and now - t0 >= float(x.get("after_s", 0)) * 1e9:
                x["_done"] = True
                self.list_event({k: v for k, v in x.items() if k not in ("after_s", "on_arm", "_done")})

    def _roll(self, r: dict[str, Any], now: int) -> None:
        t0 = self._armed_ns if r.get("on_arm") else self._start_ns
        if t0 is None:
            return
        period_ns, windows = int(float(r["period_s"]) * 1e9), int(r["windows"])
        due = min(windows, (now - t0) // period_ns + 1)
        while r.get("_listed", 0) < due:
            n = r.get("_listed", 0) + 1
            if n > 1:
                self._close_window(r, n - 1)
            fields = {k: v for k, v in r.items() if k not in ("period_s", "windows", "on_arm") and not k.startswith("_")}
            date = _date(str(fields.get("date", "2026-12-31")))
            fields.update(key=f"{r['key']}-{n}", threshold=n, event_suffix=f"{_kalshi_date(date)}W{n}",
                          question=str(fields.get("question", r["key"] + " window {n}")).replace("{n}", str(n)))
            self.list_event(fields)
            r["_listed"] = n
        if r.get("_listed", 0) == windows and not r.get("_done") and now - t0 >= windows * period_ns:
            r["_done"] = True
            self._close_window(r, windows)

    def _close_window(self, r: dict[str, Any], n: int) -> None:
        key = f"{r['key']}-{n}"
        winner = "yes" if self.fair_u.get(key, 0) * 2 >= PRICE_ONE else "no"
        for m in self.catalogue.markets:
            eng = self.engines.get(m.venue)
            if m.event_key == key and eng is not None and eng.resolved(m.market_id) is None:
                self.resolve(m.venue, m.market_id, winner)

    def arm_resolutions(self) -> list[dict[str, Any]]:
        """Start the clock of the ``on_arm`` resolutions (once; a second call changes nothing).
        Returns them with the clock time each is due (ns)."""
        if self.clock is None:
            raise RuntimeError("Scenario.build() must be called before arm_resolutions()")
        if self._armed_ns is None:
            self._armed_ns = self.clock.now_ns()
        return [{k: v for k, v in r.items() if not k.startswith("_")} | {
                    "due_ns": self._armed_ns + int(float(r.get("after_s", 0)) * 1e9), "done": bool(r.get("_done"))}
                for r in self.resolutions if r.get("on_arm")]

    def resolve(self, venue: str, market_id: str, winner: str) -> dict[str, Any]:
        """Resolve one market now, as the venue does: Kalshi pays the holders itself, Polymarket
        holders redeem on chain. The venue servers announce it on their streams."""
        eng = self.engines[venue]
        out = Outcome.YES if winner.lower() == "yes" else Outcome.NO
        for key, q in list(self._quotes.get((venue, market_id), {}).items()):
            self._quotes[(venue, market_id)].pop(key, None)
        eng.resolve_market(market_id, out, cash_settle=(venue == "kalshi"))
        rec = {"venue": venue, "market_id": market_id, "winner": out.value.lower(),
               "ts_ns": self.clock.now_ns() if self.clock is not None else 0}
        self.resolution_log.append(rec)
        return rec

    # --- stepping ----------------------------------------------------------------------------------------

    def _walk(self) -> None:
        rng = self.rng
        common = rng.choice((-1, 0, 0, 1))
        nr_keys = {wk for g in self._negrisk_groups.values() for wk in g}
        for key in sorted(self.fair_u):
            mv = common if rng.random() < self.walk_corr else rng.choice((-1, 0, 0, 1))
            if key in nr_keys:
                mv = rng.choice((-1, 0, 0, 1))
            f = self.fair_u[key] + mv * self.walk_step_u
            self.fair_u[key] = max(self.walk_min_u, min(self.walk_max_u, f))
        for ev, keys in sorted(self._negrisk_groups.items()):
            total = sum(self.fair_u[k] for k in keys)
            scaled = [self.fair_u[k] * PRICE_ONE // total for k in keys]
            scaled[max(range(len(keys)), key=lambda i: scaled[i])] += PRICE_ONE - sum(scaled)
            for k, v in zip(keys, scaled):
                self.fair_u[k] = v

    def _maybe_dislocate(self) -> None:
        if self.disl_p > 0 and self.rng.random() < self.disl_p:
            twins = [p for p in self.catalogue.pairs if p.relation == "twin"]
            if twins:
                pair = twins[self.rng.randrange(len(twins))]
                venue = self.rng.choice(("polymarket", "kalshi"))
                mid = pair.polymarket_market_id if venue == "polymarket" else pair.kalshi_market_id
                self._dislocate(venue, mid, self.rng.choice((-1, 1)) * self.disl_shift_u)
        # decay
        steps = max(1, int(self.disl_decay_s / self.tick_s))
        for k in sorted(self.offsets):
            d = self.offsets[k]
            d["age"] += 1
            remaining = d["u0"] * max(0, steps - d["age"]) // steps
            d["u"] = remaining
            if remaining == 0:
                del self.offsets[k]
        for ev in sorted(self._nr_params):
            p = self._nr_params[ev]
            up = self._nr_underprice.get(ev)
            if up is not None:
                up["left"] -= 1
                if up["left"] <= 0:
                    del self._nr_underprice[ev]
            elif p["p"] > 0 and self.rng.random() < p["p"]:
                self._nr_underprice[ev] = {"u": p["u"], "left": p["steps"]}

    def _dislocate(self, venue: str, market_id: str, shift_u: int) -> dict[str, Any]:
        now = self.clock.now_ns() if self.clock else 0
        rec = {"venue": venue, "market_id": market_id, "shift": str(units_to_price(abs(shift_u)) * (1 if shift_u > 0 else -1)),
               "step": self.step_no, "ts_ns": now}
        self.offsets[(venue, market_id)] = {"u": shift_u, "u0": shift_u, "age": 0}
        self.dislocation_log.append(rec)
        return rec

    def dislocate(self, venue: str | None = None, market_id: str | None = None, shift: Decimal | None = None) -> dict[str, Any]:
        """Open a cross-venue edge now on one twin (admin trigger); returns what was done."""
        twins = [p for p in self.catalogue.pairs if p.relation == "twin"
                 and all(v in self.engines for v in ("polymarket", "kalshi"))]
        if not twins:
            twins = [p for p in self.catalogue.pairs if p.relation == "twin"]
        if market_id is None:
            if not twins:
                raise ValueError("this scenario has no twin markets to dislocate")
            pair = twins[0]
            venue = venue or "polymarket"
            market_id = pair.polymarket_market_id if venue == "polymarket" else pair.kalshi_market_id
        if venue is None:
            venue = next((m.venue for m in self.catalogue.markets if m.market_id == market_id), None)
            if venue is None:
                raise ValueError(f"unknown market {market_id!r}")
        self.catalogue.market(venue, market_id)  # KeyError if unknown
        shift_u = price_to_units(shift) if shift is not None else -self.disl_shift_u
        rec = self._dislocate(venue, market_id, shift_u)
        m = self.catalogue.market(venue, market_id)
        if venue in self.engines and self.engines[venue].resolved(market_id) is None:
            self._requote(m, self.engines[venue])
        return rec

    def underprice(self, event_key: str | None = None, shift: Decimal | None = None, steps: int | None = None) -> dict[str, Any]:
        """Start an underpricing episode on a multi-outcome event now (admin trigger): its YES asks
        drop by ``shift`` (default: the event's ``underprice``) for ``steps`` ticks."""
        if not self._nr_params:
            raise ValueError("this scenario has no multi-outcome event to underprice")
        key = event_key or sorted(self._nr_params)[0]
        if key not in self._nr_params:
            raise ValueError(f"unknown multi-outcome event {key!r}; the scenario has {sorted(self._nr_params)}")
        p = self._nr_params[key]
        u = price_to_units(shift) if shift is not None else p["u"]
        if u <= 0:
            raise ValueError("shift must be positive (the asks drop by it)")
        n = int(steps) if steps is not None else p["steps"]
        if n <= 0:
            raise ValueError("steps must be positive")
        self._nr_underprice[key] = {"u": u, "left": n}
        for m in self.catalogue.markets:
            if m.fair_key.split("/", 1)[0] == key and m.venue in self.engines and self.engines[m.venue].resolved(m.market_id) is None:
                self._requote(m, self.engines[m.venue])
        return {"event_key": key, "shift": str(units_to_price(u)), "steps": n, "step": self.step_no}

    def _takers(self) -> None:
        rng = self.rng
        for m in self.catalogue.markets:
            eng = self.engines.get(m.venue)
            if eng is None or rng.random() >= self.taker_p or eng.resolved(m.market_id) is not None:
                continue
            fair = self.market_fair_u(m)
            bb, ba = eng.best(m.market_id, Outcome.YES)
            # follow value: lift YES when its ask is below fair, NO when YES bid is above fair
            if ba is not None and price_to_units(ba) < fair:
                buy_yes = rng.random() < 0.9
            elif bb is not None and price_to_units(bb) > fair:
                buy_yes = rng.random() < 0.1
            else:
                buy_yes = rng.random() < 0.5
            lo, hi = size_to_lots(max(self.taker_min, m.min_size)), size_to_lots(max(self.taker_max, m.min_size))
            inc = size_to_lots(m.size_increment)
            lots = rng.randrange(lo, hi + 1)
            lots -= lots % inc
            if lots < lo:
                lots = lo + (-lo) % inc
            if buy_yes:
                if ba is None:
                    continue
                params = OrderParams(account_id=TAKER_ACCOUNT, symbol=m.yes_symbol, side=Side.BUY, size=lots_to_size(lots),
                                     price=ba, kind=OrderKind.LIMIT, tif=Tif.IOC)
            else:
                if bb is None:
                    continue
                params = OrderParams(account_id=TAKER_ACCOUNT, symbol=m.no_symbol, side=Side.BUY, size=lots_to_size(lots),
                                     price=units_to_price(PRICE_ONE - price_to_units(bb)), kind=OrderKind.LIMIT, tif=Tif.IOC)
            res = eng.submit(params)
            d = self.offsets.get((m.venue, m.market_id))
            if d and res.trades:
                # trading into a dislocation closes it faster
                direction = 1 if d["u"] > 0 else -1
                d["u"] -= direction * price_to_units(m.tick_size)
                d["u0"] = d["u"] if abs(d["u"]) < abs(d["u0"]) else d["u0"]
                if d["u"] == 0 or (d["u"] > 0) != (direction > 0):
                    del self.offsets[(m.venue, m.market_id)]

    def _recycle(self) -> None:
        """Background traders merge complete sets back into cash (deterministic order)."""
        for v, eng in sorted(self.engines.items()):
            for acct in (MM_ACCOUNT, TAKER_ACCOUNT):
                for spec in eng.markets():
                    y = eng.accounts.pos_available(acct, spec.market_id, Outcome.YES)
                    n = eng.accounts.pos_available(acct, spec.market_id, Outcome.NO)
                    k = min(y, n)
                    if k > 0:
                        eng.merge_for(acct, spec.market_id, lots_to_size(k))

    def _tick_size_changes(self) -> None:
        """Polymarket refines a market's tick from 0.01 to 0.001 once its price nears 0 or 1
        (clients must resync on ``tick_size_change``); it does not go back."""
        eng = self.engines.get("polymarket")
        if eng is None:
            return
        for m in self.catalogue.markets:
            if m.venue != "polymarket" or eng.market(m.market_id).tick_size != Decimal("0.01"):
                continue
            f = self.market_fair_u(m)
            if f < 400 or f > PRICE_ONE - 400:
                eng.set_tick_size(m.market_id, Decimal("0.001"))

    def step(self) -> None:
        """One scenario tick: walk fair values, dislocations, requote, taker flow."""
        self.step_no += 1
        if self._start_ns is None and self.clock is not None:
            self._start_ns = self.clock.now_ns()  # schedules (resolutions, listings) count from here
        self._walk()
        self._tick_size_changes()
        self._maybe_dislocate()
        self._maybe_resolve()
        self._maybe_list()
        self._requote_all()
        self._takers()
        if self.step_no % 10 == 0:
            self._recycle()

    async def run(self, stop: asyncio.Event) -> None:
        """Step every ``tick_s`` of clock time until ``stop`` is set."""
        if self.clock is None:
            raise RuntimeError("Scenario.build() must be called before run()")
        while not stop.is_set():
            await self.clock.sleep(self.tick_s)
            if stop.is_set():
                break
            if self.engines:
                self.step()

    def state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seed": self.seed,
            "step": self.step_no,
            "fair": {k: str(units_to_price(v)) for k, v in sorted(self.fair_u.items())},
            "dislocations": {f"{v}:{m}": str(units_to_price(abs(d["u"]))) for (v, m), d in sorted(self.offsets.items())},
            "negrisk_underpriced": sorted(self._nr_underprice),
            "dislocation_log": list(self.dislocation_log),
            "resolution_log": list(self.resolution_log),
            # what the scenario will resolve (event keys and market ids), armed or not
            "resolutions_scheduled": sorted({str(r.get("event_key") or r.get("market_id")) for r in self.resolutions}),
            "listing_log": list(self.listing_log),
        }


def load_scenario(name_or_path: str, seed: int) -> Scenario:
    """A built-in scenario by name, a TOML file by path, or ``replay:PATH``."""
    if name_or_path.startswith("replay:"):
        path = name_or_path[len("replay:"):]
        feed = ReplayFeed(path)
        return Scenario({"name": "replay", "venues": [], "description": f"replay of {path}"}, seed, name="replay", replay=feed)
    if name_or_path in BUILTIN:
        path = SCENARIO_DIR / f"{name_or_path}.toml"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ValueError(f"unknown scenario {name_or_path!r}: use one of {', '.join(BUILTIN)}, a TOML path, or replay:PATH")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"scenario {path}: invalid TOML: {exc}") from None
    return Scenario(data, seed, name=data.get("name", path.stem))
